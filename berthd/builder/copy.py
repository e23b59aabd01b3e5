"""COPY and ADD sources: globs, the cache hash, and the tars copied into the layer.

moby ``builder/dockerfile/copy.go``: each source (a path in the context or in
an image for ``--from``, globs expanded as Go's ``filepath.Match``; for ADD
also an http(s) URL) becomes one *part*: a directory's contents go under the
destination; a file goes to ``dest/<name>`` when dest ends in ``/`` or is an
existing directory, else to dest itself; ADD unpacks a local archive into
dest. Files get the ``--chown`` owner (root by default; ``--from`` keeps the
source's owners unless ``--chown``). The cache key is a tarsum-style hash of
each file's header fields and content, **without mtime**, so touching a file
does not bust the cache. Blocking: run in a thread.
"""

from __future__ import annotations

import email.utils
import grp
import hashlib
import os
import pwd
import re
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from berthd import errdefs
from berthd.builder.backend import CopyPart
from berthd.builder.scoped import clean_rel, resolve_in_scope
from berthd.lib.archive import decompressed
from berthd.lib.archive.compression import Compression, detect

__all__ = [
    "CopySource",
    "download",
    "hash_strings",
    "prepare_parts",
    "resolve_sources",
    "source_hash",
]

_CHUNK = 1 << 20
_CAPABILITY = "security.capability"
_GO_ZERO_TIME = -62135596800.0  # time.Time{}: 0001-01-01T00:00:00Z
_WILDCARDS = re.compile(r"[*?\[\\]")


@dataclass(frozen=True)
class CopySource:
    """One resolved source: ``rel`` inside ``root``."""

    root: str
    rel: str  # as named (its base name names the copy)
    name: str  # the base name the copy gets
    hash: str  # "file:<hex>" / "dir:<hex>"
    is_dir: bool
    is_archive: bool = False  # ADD: unpacked rather than copied


def hash_strings(prefix: str, items: list[str]) -> str:
    return prefix + ":" + hashlib.sha256(",".join(items).encode()).hexdigest()


def _go_match_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise errdefs.InvalidParameter("syntax error in pattern")
            body = pattern[i + 1 : j]
            if body.startswith("^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _names(st: os.stat_result) -> tuple[str, str]:
    """The host's names for the owner (Go's tar.FileInfoHeader looks them up)."""
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = ""
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = ""
    return user, group


def _file_hash(path: str, rel: str, st: os.stat_result, image: bool = False) -> str:
    """tarsum v1 of one entry, mtime left out. A context file is hashed as moby's
    tarsum reads the context tar (perm bits; uname/gname blanked "to be compatible
    with versions before go 1.10", whatever the client put there); a file of an
    image (COPY --from) as dockerd's lazy source does (file type bits in the mode,
    the host's user names, which its WriteV1Header does not blank)."""
    h = hashlib.sha256()
    major = minor = 0
    if stat.S_ISLNK(st.st_mode):
        kind, link, size = "2", os.readlink(path), 0
    elif stat.S_ISDIR(st.st_mode):
        kind, link, size = "5", "", 0
        rel = rel.rstrip("/") + "/"
    elif stat.S_ISREG(st.st_mode):
        kind, link, size = "0", "", st.st_size
    else:
        kind = "3" if stat.S_ISCHR(st.st_mode) else "4" if stat.S_ISBLK(st.st_mode) else "6"
        link, size = "", 0
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    uname, gname = _names(st) if image else ("", "")
    mode = st.st_mode if image else stat.S_IMODE(st.st_mode)
    fields = (
        ("name", rel),
        ("mode", str(mode)),
        ("uid", str(st.st_uid)),
        ("gid", str(st.st_gid)),
        ("size", str(size)),
        ("typeflag", kind),
        ("linkname", link),
        ("uname", uname),
        ("gname", gname),
        ("devmajor", str(major)),
        ("devminor", str(minor)),
    )
    for key, value in fields:
        h.update(key.encode() + value.encode(errors="surrogateescape"))
    capability = _capability(path, st)
    if capability is not None:
        h.update(_CAPABILITY.encode() + capability)
    if kind == "0":
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def _dir_hash(root: str, top: str, image: bool) -> str:
    """``walkSource``: the dir and everything below it, each entry's sum (no
    ``file:`` prefix), sorted, joined."""
    hashes = [_file_hash(top, os.path.relpath(top, root), os.lstat(top), image)]
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            hashes.append(_file_hash(full, rel, os.lstat(full), image))
    hashes.sort()
    return hash_strings("dir", hashes)


def _is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(6)
        if detect(head) is not Compression.NONE:
            return True
        f.seek(0)
        block = f.read(512)
    return len(block) == 512 and block[257:262] == b"ustar"


def _resolve_one(root: str, rel: str, add: bool, shown: str, image: bool) -> CopySource:
    full = resolve_in_scope(root, rel)
    try:
        st = os.stat(full)
    except OSError:
        raise errdefs.InvalidParameter(
            "file not found in build context or excluded by .dockerignore: "
            f"stat {shown}: file does not exist"
        ) from None
    name = os.path.basename(rel) or "."
    if stat.S_ISDIR(st.st_mode):
        return CopySource(root, rel, name, _dir_hash(root, full, image), True)
    real_rel = os.path.relpath(full, root)
    digest = "file:" + _file_hash(full, real_rel, st, image)
    return CopySource(root, rel, name, digest, False, add and _is_archive(full))


def resolve_sources(
    root: str, sources: list[str], add: bool, image: bool = False
) -> list[CopySource]:
    """Expand globs and resolve every source inside ``root`` (an image's with ``image``)."""
    out: list[CopySource] = []
    for src in sources:
        norm = os.path.normpath(src)
        if norm == ".." or norm.startswith("../"):
            raise errdefs.InvalidParameter(f"forbidden path outside the build context: {src} ()")
        rel = clean_rel(src)
        if not _WILDCARDS.search(rel):
            out.append(_resolve_one(root, rel, add, src, image))
            continue
        pattern = _go_match_regex(rel)
        matched = []
        for dirpath, dirnames, filenames in os.walk(root):
            keep = []
            for name in sorted([*dirnames, *filenames]):
                full = os.path.join(dirpath, name)
                path_rel = os.path.relpath(full, root)
                if pattern.match(path_rel):
                    matched.append(path_rel)
                elif name in dirnames:
                    keep.append(name)
            dirnames[:] = [d for d in sorted(dirnames) if d in keep]
        for m in sorted(matched):
            out.append(_resolve_one(root, m, add, m, image))
    if not out:
        raise errdefs.InvalidParameter("no source files were specified")
    return out


def source_hash(sources: list[CopySource]) -> str:
    """``getSourceHashFromInfos``: one source's hash, or ``multi:`` of all."""
    if len(sources) == 1:
        return sources[0].hash
    return hash_strings("multi", [s.hash for s in sources])


def _capability(path: str, st: os.stat_result) -> bytes | None:
    """``security.capability``: the one xattr dockerd's archiver and tarsum carry."""
    if stat.S_ISLNK(st.st_mode):
        return None
    try:
        return os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        return None


def _owner(
    identity: tuple[int, int] | None, base: str
) -> Callable[[tarfile.TarInfo], tarfile.TarInfo]:
    """The tar filter: the ``--chown`` owner, and file capabilities kept."""

    def fix(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if identity is not None:
            info.uid, info.gid = identity
            info.uname = info.gname = ""
        path = os.path.join(base, info.name) if base else ""
        if path and (info.isfile() or info.isdir()):
            capability = _capability(path, os.lstat(path))
            if capability is not None:
                info.pax_headers = {
                    **info.pax_headers,
                    "SCHILY.xattr." + _CAPABILITY: capability.decode("utf-8", "surrogateescape"),
                }
        return info

    return fix


def prepare_parts(
    sources: list[CopySource],
    dest: str,
    identity: tuple[int, int] | None,
    work_dir: str,
) -> list[CopyPart]:
    """Write one tar per source under ``work_dir``; ``identity`` None keeps owners."""
    parts: list[CopyPart] = []
    dir_dest = dest.endswith("/")
    for i, src in enumerate(sources):
        tar_path = os.path.join(work_dir, f"part-{i}.tar")
        full = resolve_in_scope(src.root, src.rel)
        if src.is_archive:
            with open(full, "rb") as raw, open(tar_path, "wb") as out:
                _, plain = decompressed(raw)
                while chunk := plain.read(_CHUNK):
                    out.write(chunk)
            parts.append(CopyPart(tar_path, dest, "archive", ""))
            continue
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
            if src.is_dir:
                fix = _owner(identity, full)
                for name in sorted(os.listdir(full)):
                    tf.add(os.path.join(full, name), arcname=name, filter=fix)
            else:
                info = tf.gettarinfo(full, arcname=src.name)
                info = _owner(identity, "")(info)
                capability = _capability(full, os.lstat(full))
                if capability is not None:
                    info.pax_headers = {
                        "SCHILY.xattr." + _CAPABILITY: capability.decode("utf-8", "surrogateescape")
                    }
                with open(full, "rb") as f:
                    tf.addfile(info, f)
        mode = "dir" if src.is_dir or dir_dest else "auto"
        parts.append(CopyPart(tar_path, dest, mode, src.name))
    return parts


# -- ADD <url> -------------------------------------------------------------------------
def download(url: str, work_dir: str, progress: Callable[[int, int], None]) -> CopySource:
    """``downloadSource``: fetch ``url`` into ``work_dir`` as a file named by the URL's
    path, mode 0600, mtime from Last-Modified (else Go's zero time); hashed as
    dockerd's lazy source hashes it. ``progress(current, total)`` is called as it goes."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise errdefs.InvalidParameter(f"cannot determine filename from url: {url}")
    try:
        resp = urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as exc:
        raise errdefs.InvalidParameter(
            f"failed to GET {url} with status {exc.code} {exc.reason}"
        ) from None
    except OSError as exc:
        raise errdefs.InvalidParameter(f"failed to GET {url}: {exc}") from None
    with resp:
        root = tempfile.mkdtemp(prefix="add-", dir=work_dir)
        path = os.path.join(root, name)
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                done += len(chunk)
                progress(done, total)
        when = _GO_ZERO_TIME
        modified = resp.headers.get("Last-Modified", "")
        if modified:
            try:
                when = email.utils.parsedate_to_datetime(modified).timestamp()
            except (TypeError, ValueError):
                pass
        os.utime(path, (when, when))
    st = os.lstat(path)
    return CopySource(root, name, name, "file:" + _file_hash(path, name, st, True), False)
