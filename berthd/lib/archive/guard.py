"""Reject tar entries that would write outside the extraction directory.

GNU tar already refuses most tricks (``..`` members, writes through absolute
symlinks via its placeholder files), but we check every header ourselves
before GNU tar sees it, with dockerd's rules (pkg/archive ``createTarFile``
breakout checks), so safety never rests on one tool's defaults:

* names are cleaned and made relative; any ``..`` component is refused;
* hardlink targets must stay inside (a leading ``/`` means the layer root);
* an entry must not be written *through* a symlink of the same archive that
  leads out of the root (absolute target or climbing ``..``), following
  chains of symlinks lexically.

A symlink's *target* is data, never refused: ``ln -s ../../.. /up`` is a legal
link in a container, and commit, save, load and cp carry it as it is. What
keeps it harmless is that every later resolution of a path happens inside the
root (the chroot of cp, ``O_NOFOLLOW`` walks of the layer code, the runtime's
own rootfs), never that the link is refused at extraction.
"""

from __future__ import annotations

from typing import Any

from berthd import errdefs

from .tarheader import LNK, SYM, Header

__all__ = ["BreakoutGuard", "clean_name"]

MAX_HOPS = 40
_LINK = b"/"  # never a component: marks a trie node that is a symlink


def _breakout(msg: str) -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter(msg)


def _show(name: bytes) -> str:
    return repr(name.decode(errors="replace"))


def clean_name(name: bytes) -> bytes:
    """The entry's path relative to the root, as GNU tar will use it.

    Leading slashes and ``.`` components go; ``..`` anywhere is refused.
    Returns ``b""`` for the root itself.
    """
    parts = [p for p in name.split(b"/") if p not in (b"", b".")]
    if b".." in parts:
        raise _breakout(f"{_show(name)} is outside of the layer root")
    return b"/".join(parts)


class BreakoutGuard:
    """Tracks the symlinks an archive made so far and vets each new entry."""

    def __init__(self) -> None:
        self._symlinks: dict[bytes, bytes] = {}
        # The same paths as a trie of components ("is a symlink" = the _LINK key),
        # so an entry with no symlink among its parents is cleared in one pass
        # over its components, at any depth.
        self._trie: dict[bytes, Any] = {}

    def check(self, hdr: Header) -> bytes:
        """Vet ``hdr``; return its cleaned relative path."""
        path = clean_name(hdr.name)
        self._check_parents(path, hdr.name)
        if hdr.typeflag == LNK:
            target = clean_name(hdr.linkname)
            self._check_parents(target + b"/x", hdr.linkname)
            if not target:
                raise _breakout(f"invalid hardlink {_show(hdr.name)} -> {_show(hdr.linkname)}")
        if hdr.typeflag == SYM:
            self._symlinks[path] = hdr.linkname
            self._mark(path, True)
        elif self._symlinks.pop(path, None) is not None:
            self._mark(path, False)
        return path

    def _mark(self, path: bytes, link: bool) -> None:
        node = self._trie
        for comp in path.split(b"/"):
            node = node.setdefault(comp, {})
        if link:
            node[_LINK] = True
        else:
            node.pop(_LINK, None)

    def _through_link(self, parts: list[bytes]) -> bool:
        """Whether a parent of the entry with components ``parts`` is a known symlink."""
        node = self._trie
        for comp in parts[:-1]:
            child = node.get(comp)
            if child is None:
                return False
            if _LINK in child:
                return True
            node = child
        return False

    def _check_parents(self, path: bytes, shown: bytes) -> None:
        """Resolve the parent directories of ``path`` through known symlinks."""
        parts = path.split(b"/")
        if not self._through_link(parts):
            return  # no symlink on the way: nothing can lead out
        parts = parts[:-1]
        resolved: list[bytes] = []
        hops = 0
        queue = list(parts)
        while queue:
            comp = queue.pop(0)
            if comp in (b"", b"."):
                continue
            if comp == b"..":
                if not resolved:
                    raise _breakout(f"{_show(shown)} is outside of the layer root")
                resolved.pop()
                continue
            candidate = b"/".join([*resolved, comp])
            target = self._symlinks.get(candidate)
            if target is None:
                resolved.append(comp)
                continue
            hops += 1
            if hops > MAX_HOPS or target.startswith(b"/"):
                raise _breakout(f"{_show(shown)} is outside of the layer root (through a symlink)")
            queue = target.split(b"/") + queue
