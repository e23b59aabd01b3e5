"""The ``filters`` of ``GET /volumes`` and ``POST /volumes/prune`` (moby's convert.go).

list: ``dangling``, ``name`` (regular expression or exact), ``driver``, ``label``.
prune: ``label``, ``label!``, ``all``; without ``all=true`` only anonymous
volumes are candidates (API 1.42+; the router adds ``all`` for older clients).
"""

from __future__ import annotations

from collections.abc import Callable

from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs
from berthd.lib.strconv import parse_bool as parse_go_bool
from berthd.volume import ANONYMOUS_LABEL, DEFAULT_DRIVER, Volume

__all__ = ["LIST_FILTERS", "PRUNE_FILTERS", "list_matcher", "parse_go_bool", "prune_matcher"]

LIST_FILTERS = ("dangling", "name", "driver", "label")
PRUNE_FILTERS = ("label", "label!", "all")

# (volume, referenced) → keep?
ListMatcher = Callable[[Volume, bool], bool]


def _labels_match(filters: FilterArgs, vol: Volume) -> bool:
    labels = dict(vol.labels or {})
    if not filters.match_kv_list("label", labels):
        return False
    return not (filters.contains("label!") and filters.match_kv_list("label!", labels))


def list_matcher(filters: FilterArgs) -> ListMatcher:
    filters.validate(LIST_FILTERS)
    drivers = set(filters.get("driver"))
    dangling: bool | None = None
    if filters.contains("dangling"):
        dangling = filters.get_bool_or_default("dangling", False)

    def match(vol: Volume, referenced: bool) -> bool:
        if drivers and vol.driver not in drivers:
            return False
        if filters.contains("name") and not filters.match_regexp("name", vol.name):
            return False
        if not _labels_match(filters, vol):
            return False
        # dangling=true keeps the unreferenced ones (moby: ByReferenced(!dangling))
        return dangling is None or referenced != dangling

    return match


def prune_matcher(filters: FilterArgs) -> Callable[[Volume], bool]:
    """Which unreferenced volumes prune may remove.

    Only local volumes without options: a volume with mount options holds
    nothing on this disk, so removing it reclaims nothing (moby).
    """
    filters.validate(PRUNE_FILTERS)
    values = filters.get("all")
    if len(values) > 1:
        raise InvalidParameter(
            f"invalid filter 'all=[{' '.join(values)}]': only one value is expected"
        )
    all_volumes = False
    if values:
        try:
            all_volumes = parse_go_bool(values[0])
        except ValueError as e:
            raise InvalidParameter(f"invalid filter 'all': {e}") from None

    def match(vol: Volume) -> bool:
        if vol.driver != DEFAULT_DRIVER or vol.options:
            return False
        if not all_volumes and ANONYMOUS_LABEL not in (vol.labels or {}):
            return False
        return _labels_match(filters, vol)

    return match
