"""``POST /images/create?fromSrc=``: ``docker import``, a tar becomes a one-layer image.

moby ``daemon/images/image_import.go``: the (possibly compressed) tar is registered as a
base layer, ``--change`` lines build the config, ``--message`` is the comment of the
image and of its single history entry, then the optional tag. The config is written in
Go's field order so it reads like one dockerd made. ``fromSrc`` may also be a URL,
fetched as dockerd does (``Downloading from …`` then ``Importing`` progress).
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, BinaryIO

from berthd import errdefs
from berthd.daemon.images.tag import add_tag
from berthd.image.archive_reader import decompress_stream
from berthd.image.gojson import marshal
from berthd.image.jsonstream import progress_line, status_line
from berthd.image.reference import Reference, repo_tag_reference
from berthd.image.tarexport_load import Output
from berthd.image.v1compat import go_container_config
from berthd.lib.timefmt import format_ns, now_ns
from berthd.version import VERSION

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["ImportRequest", "import_image", "prepare_import"]

_PROGRESS_EVERY = 512 * 1024


class ImportRequest:
    """What the request asked for, validated before any byte is read or written."""

    def __init__(
        self, src: str, repo: str, tag: str, message: str, changes: list[str], arch: str
    ) -> None:
        self.src = src
        self.ref: Reference | None = repo_tag_reference(repo, tag)
        self.message = message
        # the Dockerfile parser: imported by the first request, not at start-up
        from berthd.daemon.images.changes import apply_changes

        self.config = go_container_config(apply_changes({}, changes))
        self.arch = arch


def prepare_import(
    src: str, repo: str, tag: str, message: str, changes: list[str], arch: str
) -> ImportRequest:
    return ImportRequest(src, repo, tag, message, changes, arch)


class _Progress(io.RawIOBase):
    def __init__(self, raw: BinaryIO, total: int, out: Output) -> None:
        self._raw, self._total, self._out = raw, total, out
        self._current = self._last = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        self._current += n
        if self._current - self._last >= _PROGRESS_EVERY or n == 0:
            self._out(progress_line("", "Importing", self._current, self._total))
            self._last = self._current
        return n


def _open_url(src: str, out: Output) -> BinaryIO:
    url = src if "://" in src else "http://" + src
    try:
        resp = urllib.request.urlopen(url)
    except urllib.error.HTTPError as err:
        raise errdefs.InvalidParameter(
            f"error downloading {url}: {err.code} {err.reason}"
        ) from None
    except (urllib.error.URLError, ValueError, OSError) as err:
        raise errdefs.InvalidParameter(f"error downloading {url}: {err}") from None
    out(status_line(f"Downloading from {url}"))
    total = int(resp.headers.get("Content-Length") or -1)
    return io.BufferedReader(_Progress(resp, total, out))


def import_image(svc: ImageContext, req: ImportRequest, body: BinaryIO, out: Output) -> str:
    """Register the layer, create the image, tag it; return the image ID."""
    source = body if req.src == "-" else _open_url(req.src, out)
    try:
        layer = svc.layers.register(decompress_stream(source))
    finally:
        if source is not body:
            source.close()
    try:
        created = format_ns(now_ns())
        doc: dict[str, object] = {}
        if req.message:
            doc["comment"] = req.message
        doc.update(
            created=created,
            docker_version=VERSION,
            config=req.config,
            architecture=req.arch,
            os="linux",
            rootfs={"type": "layers", "diff_ids": [layer.diff_id]},
            history=[{"created": created, **({"comment": req.message} if req.message else {})}],
        )
        image_id = svc.images.create(marshal(doc))
    finally:
        svc.layers.release(layer.chain_id)
    if req.ref is not None:
        add_tag(svc, image_id, req.ref)
    svc.image_event(image_id, "import")
    out(status_line(image_id))
    return image_id
