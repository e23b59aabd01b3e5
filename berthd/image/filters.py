"""``docker image ls`` filters and the ``docker images`` selection, as pure functions.

moby ``daemon/images/images.go`` (``Images``): ``dangling``, ``label``, ``before``,
``since``, ``reference`` (Go ``path.Match`` globs on the familiar reference or name) and
``until``. Filters arrive already parsed as name → values; validation errors use
dockerd's wording ("invalid filter 'dangling=[maybe]'").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.image.config import parse_time_ns
from berthd.image.reference import Reference
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import Image, ImageStore
from berthd.lib.filters import invalid_filter, match_kv_list

__all__ = [
    "IMAGE_LIST_FILTERS",
    "ImageListEntry",
    "familiar_match",
    "invalid_filter",
    "list_images",
    "match_kv_list",
    "parse_timestamp_ns",
    "path_match",
    "validate_filters",
]

Filters = Mapping[str, Sequence[str]]
IMAGE_LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})


def validate_filters(filters: Filters, accepted: Iterable[str]) -> None:
    """``filters.Validate``: every filter name must be known."""
    allowed = set(accepted)
    for name in filters:
        if name not in allowed:
            raise errdefs.InvalidParameter(f"invalid filter '{name}'")


# --- Go's path.Match ---------------------------------------------------------------
def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                raise errdefs.InvalidParameter("syntax error in pattern")
            out.append(re.escape(pattern[i]))
        elif c == "[":
            i += 1
            negate = i < n and pattern[i] == "^"
            if negate:
                i += 1
            items: list[str] = []
            while True:
                if i >= n:
                    raise errdefs.InvalidParameter("syntax error in pattern")
                if pattern[i] == "]" and items:
                    break
                lo, i = _class_char(pattern, i)
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1)
                    if hi < lo:
                        raise errdefs.InvalidParameter("syntax error in pattern")
                    items.append(re.escape(lo) + "-" + re.escape(hi))
                else:
                    items.append(re.escape(lo))
            out.append("[" + ("^" if negate else "") + "".join(items) + "]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise errdefs.InvalidParameter("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise errdefs.InvalidParameter("syntax error in pattern")
    return pattern[i], i + 1


def path_match(pattern: str, name: str) -> bool:
    """Go ``path.Match``: ``*``/``?`` stop at ``/``, ``[^…]`` negates, ``\\`` escapes."""
    return _glob_to_regex(pattern).fullmatch(name) is not None


def familiar_match(pattern: str, ref: Reference) -> bool:
    """``reference.FamiliarMatch``: the familiar string, else the familiar name."""
    return path_match(pattern, ref.familiar_string()) or path_match(pattern, ref.familiar_name())


# --- times -------------------------------------------------------------------------
_DURATION = re.compile(r"^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def _parse_duration_ns(value: str) -> int | None:
    """Go ``time.ParseDuration`` (``1h30m``, ``-5m``, ``1.5h``); None if not one."""
    rest = value
    sign = 1
    if rest[:1] in "+-":
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if not rest:
        return None
    total = 0.0
    while rest:
        m = _DURATION.match(rest)
        if m is None or m.group(1) in ("", "."):
            return None
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        rest = rest[m.end() :]
    return sign * int(total)


def parse_timestamp_ns(value: str, now_ns: int | None = None) -> int:
    """``timetypes.GetTimestamp``: a duration before now, a unix time or an RFC 3339 date.

    Times without a zone are taken as UTC (the daemon's zone in practice).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    if value != "0":
        duration = _parse_duration_ns(value)
        if duration is not None:
            return now_ns - duration
    candidates = [value]
    if "T" not in value and "-" in value:
        candidates.append(value + "T00:00:00Z")
    elif "T" in value:
        has_zone = bool(re.search(r"([zZ]|[+-]\d{2}:\d{2})$", value))
        base = value if not has_zone else re.sub(r"([zZ]|[+-]\d{2}:\d{2})$", "", value)
        zone = value[len(base) :] or "Z"
        colons = base.count(":")
        padded = base + (":00:00" if colons == 0 else ":00" if colons == 1 else "")
        candidates.append(padded + zone)
    for candidate in candidates:
        try:
            return parse_time_ns(candidate)
        except ValueError:
            continue
    if "-" not in value and re.fullmatch(r"[0-9]+(\.[0-9]{1,9})?", value):
        secs, _, frac = value.partition(".")
        return int(secs) * 1_000_000_000 + int(frac.ljust(9, "0") or 0)
    raise errdefs.InvalidParameter(f'failed to parse value as time or duration: "{value}"')


# --- the listing ---------------------------------------------------------------------
@dataclass(slots=True)
class ImageListEntry:
    """One ``docker images`` row before sizes are attached."""

    image: Image
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)


def list_images(
    images: ImageStore,
    references: ReferenceStore,
    filters: Filters,
    all_images: bool,
    resolve: Callable[[str], Image],
    now_ns: int | None = None,
) -> list[ImageListEntry]:
    """The images ``GET /images/json`` returns, newest first.

    ``resolve`` is ``GetImage`` (for ``before``/``since`` values).
    """
    validate_filters(filters, IMAGE_LIST_FILTERS)
    dangling_only = False
    if "dangling" in filters:
        values = list(filters["dangling"])
        if "true" in values:
            dangling_only = True
        elif "false" not in values:
            raise invalid_filter("dangling", values)
    before_ns = 0
    for value in filters.get("before", ()):
        created = resolve(value).config.created_ns()
        if created and (before_ns == 0 or before_ns > created):
            before_ns = created
    until_ns = 0
    for value in filters.get("until", ()):
        ts = parse_timestamp_ns(value, now_ns)
        if until_ns == 0 or until_ns > ts:
            until_ns = ts
    since_ns = 0
    for value in filters.get("since", ()):
        created = resolve(value).config.created_ns()
        if created and since_ns < created:
            since_ns = created

    selected = images.heads() if dangling_only else images.map()
    out: list[ImageListEntry] = []
    for image_id, img in selected.items():
        created = img.config.created_ns()
        if before_ns and (not created or created >= before_ns):
            continue
        if until_ns and (not created or created > until_ns):
            continue
        if since_ns and (not created or created <= since_ns):
            continue
        if "label" in filters and not match_kv_list(filters["label"], img.config.labels()):
            continue
        entry = ImageListEntry(img)
        for ref in references.references(image_id):
            if "reference" in filters and not any(
                familiar_match(pattern, ref) for pattern in filters["reference"]
            ):
                continue
            if ref.is_canonical:
                entry.repo_digests.append(ref.familiar_string())
            if ref.is_tagged:
                entry.repo_tags.append(ref.familiar_string())
        if not entry.repo_tags and not entry.repo_digests:
            if not (all_images or not images.children(image_id)):
                continue
            if "dangling" in filters and not dangling_only:
                continue
            if "reference" in filters:
                continue
            entry.repo_digests = ["<none>@<none>"]
            entry.repo_tags = ["<none>:<none>"]
        elif dangling_only and entry.repo_tags:
            continue
        out.append(entry)
    out.sort(key=lambda e: e.image.config.created_ns(), reverse=True)
    return out
