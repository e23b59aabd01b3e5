"""``docker load``: import a ``docker save`` archive or an OCI image layout.

moby ``image/tarexport/load.go``. Accepted inputs (plain or gzip/bzip2/xz/zstd):

* ``manifest.json`` (``[{"Config": …, "RepoTags": […], "Layers": […], "Parent": …}]``)
  with layers as ``<v1id>/layer.tar`` (docker < 25) or ``blobs/sha256/<hex>`` (25+);
  this wins when present, as in dockerd, and the legacy ``repositories`` file is then
  ignored (only pre-1.10 loaders read it).
* otherwise an OCI layout: ``oci-layout`` + ``index.json`` whose manifests (or nested
  indexes) name the image via ``io.containerd.image.name`` or a full reference in
  ``org.opencontainers.image.ref.name``.

Every layer is decompressed while streaming into the layer store and its diff ID is
checked against the config's ``rootfs.diff_ids``; every layer reference taken here is
released at the end, so after a failure nothing this load registered remains (only
layers kept by an image that was fully created). Messages are dockerd's, as JSON lines.
"""

from __future__ import annotations

import io
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from berthd import errdefs
from berthd.image.archive_reader import ArchiveReader, decompress_stream
from berthd.image.config import StoredConfig, parse_time_ns
from berthd.image.digest import chain_id, parse_digest, sha256_digest, truncate_id
from berthd.image.jsonstream import progress_line, stream_line
from berthd.image.layer_protocol import LayerStore
from berthd.image.reference import InvalidReference, Reference, parse_normalized_named
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import Image, ImageStore

__all__ = ["ImageLoader", "LoadResult", "ManifestItem"]

MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.json"
OCI_LAYOUT_FILE = "oci-layout"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
MEDIA_INDEX = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_INDEX_DEPTH = 8
_PROGRESS_EVERY = 512 * 1024

Output = Callable[[bytes], None]


@dataclass(slots=True)
class ManifestItem:
    """One image of an archive, in ``manifest.json`` terms."""

    config: str
    repo_tags: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    parent: str = ""


@dataclass(slots=True)
class LoadResult:
    image_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # familiar strings, in load order


class _ProgressReader(io.RawIOBase):
    """Counts bytes read and emits dockerd's "Loading layer" progress lines."""

    def __init__(self, raw: BinaryIO, total: int, id_: str, out: Output) -> None:
        self._raw, self._total, self._id, self._out = raw, total, id_, out
        self._current = 0
        self._last = 0
        self._done = False
        self._every = min(_PROGRESS_EVERY, int(0.01 * total)) if total > 0 else _PROGRESS_EVERY

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        self._current += n
        at_eof = n == 0 and not self._done
        if self._current - self._last > self._every or at_eof:
            self._out(progress_line(self._id, "Loading layer", self._current, self._total))
            self._last = self._current
        if n == 0:
            self._done = True
        return n


class ImageLoader:
    """Loads archives into the image, reference and layer stores (blocking)."""

    def __init__(
        self,
        images: ImageStore,
        references: ReferenceStore,
        layers: LayerStore,
        tmp_dir: str | None = None,
        on_event: Callable[[str, str], None] | None = None,
        max_archive_size: int | None = None,
    ) -> None:
        self._images = images
        self._refs = references
        self._layers = layers
        self._tmp_dir = tmp_dir
        self._on_event = on_event
        self._max_archive_size = max_archive_size

    def load(self, stream: BinaryIO, out: Output, quiet: bool = False) -> LoadResult:
        """Load every image of the archive; write dockerd's JSON lines to ``out``."""
        with ArchiveReader(stream, self._tmp_dir, self._max_archive_size) as archive:
            items = read_manifest(archive)
            return self._load_items(archive, items, out, quiet)

    def _load_items(
        self, archive: ArchiveReader, items: list[ManifestItem], out: Output, quiet: bool
    ) -> LoadResult:
        result = LoadResult()
        held: list[str] = []  # chain IDs we hold one reference on
        parent_links: list[tuple[str, str]] = []
        ids_text = ""
        ref_count = 0
        try:
            for item in items:
                raw = archive.read_small(item.config)
                config = StoredConfig.from_json(raw)
                if config.operating_system() != "linux":
                    raise errdefs.InvalidParameter(
                        f"cannot load {config.operating_system()} image on linux"
                    )
                diff_ids = config.rootfs.diff_ids
                if len(item.layers) != len(diff_ids):
                    raise errdefs.InvalidParameter(
                        "invalid manifest, layers length mismatch: "
                        f"expected {len(item.layers)}, got {len(diff_ids)}"
                    )
                for i in range(len(diff_ids)):
                    self._load_layer(archive, item.layers[i], i, diff_ids, held, out, quiet)
                image_id = self._images.create(raw)
                result.image_ids.append(image_id)
                ids_text += f"Loaded image ID: {image_id}\n"
                ref_count = 0
                for repo_tag in item.repo_tags:
                    ref = _tagged(repo_tag)
                    self._set_loaded_tag(ref, image_id, out)
                    out(stream_line(f"Loaded image: {ref.familiar_string()}\n"))
                    result.tags.append(ref.familiar_string())
                    ref_count += 1
                parent_links.append((image_id, item.parent))
                if self._on_event is not None:
                    self._on_event(image_id, "load")
            loaded = {image_id for image_id, _ in parent_links}
            for image_id, parent in parent_links:
                if parent and parent != image_id and parent in loaded:
                    self._set_parent(image_id, parent)
            if ref_count == 0 and ids_text:
                out(stream_line(ids_text))
        finally:
            for cid in held:
                self._layers.release(cid)
        return result

    def _load_layer(
        self,
        archive: ArchiveReader,
        path: str,
        index: int,
        diff_ids: tuple[str, ...],
        held: list[str],
        out: Output,
        quiet: bool,
    ) -> None:
        parent = chain_id(diff_ids[:index]) or None
        wanted = chain_id(diff_ids[: index + 1])
        if self._has_layer(wanted):
            info = self._layers.get(wanted)
            held.append(info.chain_id)
        else:
            raw = archive.open(path)
            if not quiet:
                size = archive.size(path)
                raw = io.BufferedReader(
                    _ProgressReader(raw, size, truncate_id(diff_ids[index]), out)
                )
            info = self._layers.register(decompress_stream(raw), parent)
            held.append(info.chain_id)
        if info.diff_id != diff_ids[index]:
            raise errdefs.InvalidParameter(
                f'invalid diffID for layer {index}: expected "{diff_ids[index]}", '
                f'got "{info.diff_id}"'
            )

    def _has_layer(self, chain: str) -> bool:
        try:
            self._layers.lookup(chain)
        except errdefs.NotFound:
            return False
        return True

    def _set_loaded_tag(self, ref: Reference, image_id: str, out: Output) -> None:
        try:
            previous = self._refs.get(ref)
        except errdefs.NotFound:
            previous = ""
        if previous and previous != image_id:
            out(
                stream_line(
                    f"The image {ref.familiar_string()} already exists, renaming the old one "
                    f"with ID {previous} to empty string\n"
                )
            )
        self._refs.add_tag(ref, image_id, force=True)

    def _set_parent(self, image_id: str, parent_id: str) -> None:
        image, parent = self._images.get(image_id), self._images.get(parent_id)
        if not valid_parent(image, parent):
            raise errdefs.InvalidParameter(
                f"image {parent_id} is not a valid parent for {image_id}"
            )
        self._images.set_parent(image_id, parent_id)


def _tagged(repo_tag: str) -> Reference:
    ref = parse_normalized_named(repo_tag)
    if not ref.is_tagged or ref.is_canonical:
        raise errdefs.InvalidParameter(f'invalid tag "{repo_tag}"')
    return ref


def valid_parent(image: Image, parent: Image) -> bool:
    """``checkValidParent``: the parent's history must be the child's minus one entry."""
    child_h, parent_h = image.config.history, parent.config.history
    if not child_h and not parent_h:
        return True
    if len(child_h) - len(parent_h) != 1:
        return False
    for hp, hc in zip(parent_h, child_h, strict=False):
        if bool(hp.created) != bool(hc.created):
            return False
        if hp.created and _time_or_none(hp.created) != _time_or_none(hc.created):
            return False
        if (hp.author, hp.created_by, hp.comment, hp.empty_layer) != (
            hc.author,
            hc.created_by,
            hc.comment,
            hc.empty_layer,
        ):
            return False
    return True


def _time_or_none(value: str) -> int | None:
    try:
        return parse_time_ns(value)
    except ValueError:
        return None


# --- reading the archive's table of contents -----------------------------------------
def read_manifest(archive: ArchiveReader) -> list[ManifestItem]:
    """``manifest.json`` when present, else the OCI layout's ``index.json``."""
    if archive.exists(MANIFEST_FILE):
        return parse_manifest_json(archive.read_small(MANIFEST_FILE))
    if archive.exists(INDEX_FILE):
        return _items_from_oci(archive)
    raise errdefs.InvalidParameter(f"open {MANIFEST_FILE}: no such file or directory")


def parse_manifest_json(data: bytes) -> list[ManifestItem]:
    """Validate ``manifest.json`` strictly: it is untrusted input."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # deep nesting: a 400
        raise errdefs.InvalidParameter(f"invalid manifest.json: {err}") from None
    if doc is None:
        raise errdefs.InvalidParameter("invalid manifest, manifest cannot be null (but can be [])")
    if not isinstance(doc, list):
        raise errdefs.InvalidParameter("invalid manifest.json: not a list")
    items: list[ManifestItem] = []
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise errdefs.InvalidParameter("invalid manifest.json: entry without Config")
        tags = entry.get("RepoTags") or []
        layers = entry.get("Layers") or []
        parent = entry.get("Parent") or ""
        if not _str_list(tags) or not _str_list(layers) or not isinstance(parent, str):
            raise errdefs.InvalidParameter("invalid manifest.json: bad RepoTags/Layers/Parent")
        items.append(ManifestItem(entry["Config"], list(tags), list(layers), parent))
    return items


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _blob_path(descriptor: Any) -> str:
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
        raise errdefs.InvalidParameter("invalid OCI descriptor")
    try:
        dgst = parse_digest(descriptor["digest"])
    except ValueError as err:
        raise errdefs.InvalidParameter(f"invalid OCI descriptor digest: {err}") from None
    algorithm, encoded = dgst.split(":", 1)
    return f"blobs/{algorithm}/{encoded}"


def _read_json_blob(archive: ArchiveReader, descriptor: Any) -> tuple[bytes, Any]:
    path = _blob_path(descriptor)
    data = archive.read_small(path)
    if sha256_digest(data) != descriptor["digest"] and descriptor["digest"].startswith("sha256:"):
        raise errdefs.InvalidParameter(f"digest mismatch for {path}")
    try:
        return data, json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # deep nesting: a 400
        raise errdefs.InvalidParameter(f"invalid JSON in {path}: {err}") from None


def _host_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _image_name(annotations: Any) -> str:
    """The name an OCI index entry carries, "" if none we can use."""
    if not isinstance(annotations, dict):
        return ""
    name = annotations.get(ANNOTATION_IMAGE_NAME)
    if isinstance(name, str) and name:
        return name
    ref_name = annotations.get(ANNOTATION_REF_NAME)
    if isinstance(ref_name, str) and ("/" in ref_name or ":" in ref_name):
        return ref_name  # a full reference; a bare tag names no repository
    return ""


def _items_from_oci(archive: ArchiveReader) -> list[ManifestItem]:
    _, index = _read_json_from(archive, INDEX_FILE)
    by_config: dict[str, ManifestItem] = {}
    order: list[str] = []

    def visit(doc: Any, name: str, depth: int) -> None:
        if depth > MAX_INDEX_DEPTH:
            raise errdefs.InvalidParameter("OCI index nested too deeply")
        manifests = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(manifests, list):
            raise errdefs.InvalidParameter("invalid OCI index: no manifests")
        candidates = [m for m in manifests if isinstance(m, dict)]
        if depth > 0:  # a multi-platform index: keep the host's platform
            candidates = _pick_platform(candidates)
        for desc in candidates:
            entry_name = name or (_image_name(desc.get("annotations")) if depth == 0 else "")
            if desc.get("mediaType") in MEDIA_INDEX:
                _, nested = _read_json_blob(archive, desc)
                visit(nested, entry_name, depth + 1)
                continue
            _, manifest = _read_json_blob(archive, desc)
            if not isinstance(manifest, dict):
                raise errdefs.InvalidParameter("invalid OCI manifest")
            if manifest.get("mediaType") in MEDIA_INDEX or "manifests" in manifest:
                visit(manifest, entry_name, depth + 1)
                continue
            config_path = _blob_path(manifest.get("config"))
            layers = manifest.get("layers") or []
            if not isinstance(layers, list):
                raise errdefs.InvalidParameter("invalid OCI manifest: layers")
            item = by_config.get(config_path)
            if item is None:
                item = ManifestItem(config_path, [], [_blob_path(layer) for layer in layers])
                by_config[config_path] = item
                order.append(config_path)
            if entry_name:
                tag = _oci_tag(entry_name)
                if tag and tag not in item.repo_tags:
                    item.repo_tags.append(tag)

    visit(index, "", 0)
    return [by_config[c] for c in order]


def _pick_platform(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    arch = _host_arch()
    for desc in candidates:
        plat = desc.get("platform")
        if (
            isinstance(plat, dict)
            and plat.get("os") == "linux"
            and plat.get("architecture") == arch
        ):
            return [desc]
    usable = [
        d
        for d in candidates
        if not (isinstance(d.get("platform"), dict) and d["platform"].get("os") == "unknown")
    ]
    return usable[:1]


def _oci_tag(name: str) -> str:
    """An annotation name as a RepoTag ("" for digest-only names: they tag nothing)."""
    try:
        ref = parse_normalized_named(name)
    except InvalidReference:
        return ""
    if ref.is_canonical:
        if not ref.is_tagged:
            return ""
        ref = Reference(ref.domain, ref.path, ref.tag)
    return ref.tag_name_only().familiar_string()


def _read_json_from(archive: ArchiveReader, path: str) -> tuple[bytes, Any]:
    data = archive.read_small(path)
    try:
        return data, json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # deep nesting: a 400
        raise errdefs.InvalidParameter(f"invalid JSON in {path}: {err}") from None
