"""Build test tars in memory with exact control over every entry."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field


@dataclass
class E:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_700_000_000
    major: int = 0
    minor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def build(entries: list[E], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.kind
            info.mode = e.mode
            info.uid, info.gid, info.mtime = e.uid, e.gid, e.mtime
            info.linkname = e.link
            info.devmajor, info.devminor = e.major, e.minor
            info.pax_headers = dict(e.pax)
            if e.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(e.data)
                tf.addfile(info, io.BytesIO(e.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def d(name: str, mode: int = 0o755) -> E:
    return E(name, tarfile.DIRTYPE, mode=mode)


def f(name: str, data: bytes = b"x", mode: int = 0o644, **kw: object) -> E:
    return E(name, tarfile.REGTYPE, data=data, mode=mode, **kw)  # type: ignore[arg-type]


def sym(name: str, target: str) -> E:
    return E(name, tarfile.SYMTYPE, link=target, mode=0o777)


def hard(name: str, target: str) -> E:
    return E(name, tarfile.LNKTYPE, link=target)
