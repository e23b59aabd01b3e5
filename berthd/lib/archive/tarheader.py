"""Parse tar headers (ustar, GNU, PAX) from raw 512-byte blocks.

We parse headers ourselves instead of using :mod:`tarfile` because the layer
code must see every byte of the stream (to record it for tar-split and hash it)
while GNU tar does the extraction. Parsing is defensive: every numeric field is
range-checked, the checksum is verified, and extension headers are size-capped,
so a hostile archive can only make us reject it.
"""

from __future__ import annotations

import dataclasses

from berthd import errdefs

__all__ = [
    "BLOCK",
    "MAX_EXT_HEADER",
    "Header",
    "apply_pax",
    "parse_header",
    "parse_pax",
    "padding",
]

BLOCK = 512
MAX_EXT_HEADER = 1 << 20  # a longname / PAX header larger than 1 MiB is an attack

# Type flags.
REG = b"0"
AREG = b"\0"
CONTTYPE = b"7"
LNK = b"1"
SYM = b"2"
CHR = b"3"
BLK = b"4"
DIR = b"5"
FIFO = b"6"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
PAX_LOCAL = b"x"
PAX_GLOBAL = b"g"
EXTENSIONS = {GNU_LONGNAME, GNU_LONGLINK, PAX_LOCAL, PAX_GLOBAL}
REGULAR = {REG, AREG, CONTTYPE}
GNU_SPARSE = b"S"
# What a layer may hold. GNU's volume, multi-volume, dumpdir and old long-name
# types are refused: GNU tar gives them meanings we would have to mirror.
ENTRY_TYPES = {REG, AREG, CONTTYPE, LNK, SYM, CHR, BLK, DIR, FIFO, GNU_SPARSE}


def padding(size: int) -> int:
    """Bytes of zero padding after a payload of ``size`` bytes."""
    return (-size) % BLOCK


def _bad(msg: str) -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter(f"archive/tar: invalid tar header: {msg}")


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    """Decode an octal field, or GNU base-256 when the top bit is set."""
    if field and field[0] & 0x80:
        value = field[0] & 0x3F
        if field[0] & 0x40:
            raise _bad(f"negative {what}")
        for byte in field[1:]:
            value = (value << 8) | byte
        return value
    text = _cstr(field).strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _bad(f"bad {what} field {text!r}") from None


@dataclasses.dataclass
class Header:
    """One logical tar entry, after extension headers were folded in."""

    name: bytes
    typeflag: bytes
    size: int
    linkname: bytes
    mode: int
    uid: int
    gid: int
    mtime: int
    pax: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0

    @property
    def is_regular(self) -> bool:
        return self.typeflag in REGULAR

    @property
    def is_sparse(self) -> bool:
        return self.typeflag == b"S" or any(k.startswith(b"GNU.sparse.") for k in self.pax)


def is_zero_block(block: bytes) -> bool:
    return block.count(0) == BLOCK


def parse_header(block: bytes) -> Header:
    """Decode one non-zero 512-byte header block (checksum verified)."""
    if len(block) != BLOCK:
        raise _bad("short header")
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if stored != unsigned:
        # Some old tars summed signed chars; accept that form too.
        high = sum(1 for b in block[:148] + block[156:] if b > 127)
        if stored != unsigned - 256 * high:
            raise _bad("checksum mismatch")
    typeflag = block[156:157]
    name = _cstr(block[0:100])
    magic = block[257:265]
    if magic[:6] == b"ustar\0":  # POSIX: prefix field holds the leading path
        prefix = _cstr(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    return Header(
        name=name,
        typeflag=typeflag,
        size=_number(block[124:136], "size"),
        linkname=_cstr(block[157:257]),
        mode=_number(block[100:108], "mode"),
        uid=_number(block[108:116], "uid"),
        gid=_number(block[116:124], "gid"),
        mtime=_number(block[136:148], "mtime"),
        devmajor=_number(block[329:337], "devmajor") if magic[:5] == b"ustar" else 0,
        devminor=_number(block[337:345], "devminor") if magic[:5] == b"ustar" else 0,
    )


def parse_pax(data: bytes) -> dict[bytes, bytes]:
    """Parse PAX records (``"<len> <key>=<value>\\n"``), rejecting malformed ones."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            break
        space = data.find(b" ", pos)
        if space < 0 or space - pos > 20:
            raise _bad("malformed PAX record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _bad("malformed PAX record length") from None
        end = pos + length
        if length <= 0 or end > len(data) or end <= space or data[end - 1 : end] != b"\n":
            raise _bad("malformed PAX record")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise _bad("malformed PAX record")
        records[key] = value
        pos = end
    return records


def apply_pax(hdr: Header, pax: dict[bytes, bytes]) -> None:
    """Let PAX records override the ustar fields they name."""
    hdr.pax = pax
    if b"path" in pax:
        hdr.name = pax[b"path"]
    if b"GNU.sparse.name" in pax:  # GNU tar extracts sparse files under this name
        hdr.name = pax[b"GNU.sparse.name"]
    if b"linkpath" in pax:
        hdr.linkname = pax[b"linkpath"]
    for key, attr in ((b"size", "size"), (b"uid", "uid"), (b"gid", "gid")):
        if key in pax:
            try:
                setattr(hdr, attr, int(pax[key]))
            except ValueError:
                raise _bad(f"bad PAX {key.decode()}") from None
    if b"mtime" in pax:
        try:
            hdr.mtime = int(float(pax[b"mtime"]))
        except ValueError:
            raise _bad("bad PAX mtime") from None
    if hdr.size < 0:
        raise _bad("negative size")
