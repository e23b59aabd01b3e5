"""``docker save``: write images as dockerd 25+ does (manifest.json + OCI image layout).

moby ``image/tarexport/save.go``. The archive holds::

    blobs/sha256/<config hex>      the image config, byte for byte (so the ID survives)
    blobs/sha256/<diff id hex>     each layer's uncompressed tar (deduplicated)
    blobs/sha256/<v1 id hex>       legacy v1 layer JSON (see v1compat)
    blobs/sha256/<manifest hex>    an OCI manifest per image
    index.json                     OCI index: one entry per tag, annotated with
                                   io.containerd.image.name / org.opencontainers.image.ref.name
    manifest.json                  [{"Config","RepoTags","Layers"[,"Parent"]}]
    oci-layout                     {"imageLayoutVersion": "1.0.0"}
    repositories                   {"name":{"tag":"<top diff id hex>"}} (when tagged)

Layers are spooled to anonymous temp files (their tar size must precede their bytes)
and their sha256 is checked against the diff ID on the way, so a corrupt layer store
cannot produce an archive that loads as something else.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from berthd import errdefs
from berthd.image.digest import chain_id, digest_hex
from berthd.image.gojson import marshal
from berthd.image.layer_protocol import LayerStore
from berthd.image.reference import DigestReference, Reference, parse_any_reference
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import Image, ImageStore
from berthd.image.v1compat import legacy_layer_configs

__all__ = ["OCI_LAYOUT_CONTENT", "ImageSaver"]

OCI_LAYOUT_CONTENT = b'{"imageLayoutVersion": "1.0.0"}'
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(slots=True)
class _Descriptor:
    image: Image
    refs: list[Reference] = field(default_factory=list)  # tagged, normalised


@dataclass(slots=True)
class _Blob:
    data: bytes | None  # small blobs in memory
    file: IO[bytes] | None  # layers on disk
    size: int
    mtime: int


class ImageSaver:
    """Writes save archives from the image, reference and layer stores (blocking)."""

    def __init__(
        self,
        images: ImageStore,
        references: ReferenceStore,
        layers: LayerStore,
        tmp_dir: str | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self._images = images
        self._refs = references
        self._layers = layers
        self._tmp_dir = tmp_dir
        self._on_event = on_event

    # --- which images -----------------------------------------------------------------
    def parse_names(self, names: list[str]) -> dict[str, _Descriptor]:
        """``parseNames``: IDs, ID prefixes, repositories (every tag) and name:tag/@digest."""
        out: dict[str, _Descriptor] = {}

        def add(image_id: str, ref: Reference | None) -> None:
            if image_id not in out:
                out[image_id] = _Descriptor(self._images.get(image_id))
            if ref is None or ref.is_canonical:
                return
            tagged = ref.tag_name_only()
            if all(str(t) != str(tagged) for t in out[image_id].refs):
                out[image_id].refs.append(tagged)

        for name in names:
            ref = parse_any_reference(name)
            if isinstance(ref, DigestReference):
                add(self._images.search(ref.digest), None)
                continue
            if ref.familiar_name() == "sha256":
                add(self._images.search(name), None)
                continue
            if ref.is_name_only:
                assocs = self._refs.references_by_name(ref)
                for assoc_ref, image_id in assocs:
                    add(image_id, assoc_ref)
                if not assocs:
                    add(self._images.search(name), None)
                continue
            add(self._refs.get(ref), ref)
        return out

    # --- writing ----------------------------------------------------------------------
    def save(self, names: list[str], out: BinaryIO) -> None:
        """Write the archive of ``names`` to ``out`` (an uncompressed tar stream)."""
        descriptors = self.parse_names(names)
        held: list[str] = []
        blobs: dict[str, _Blob] = {}
        try:
            for desc in descriptors.values():
                top = desc.image.config.chain_id()
                if top:
                    self._layers.get(top)
                    held.append(top)
            files = self._build(descriptors, blobs)
            self._write_tar(out, blobs, files)
        finally:
            for blob in blobs.values():
                if blob.file is not None:
                    blob.file.close()
            for cid in held:
                self._layers.release(cid)

    def _build(
        self, descriptors: dict[str, _Descriptor], blobs: dict[str, _Blob]
    ) -> dict[str, tuple[bytes, int]]:
        manifest: list[dict[str, object]] = []
        index_entries: list[dict[str, object]] = []
        repos_legacy: dict[str, dict[str, str]] = {}
        for image_id, desc in descriptors.items():
            config = desc.image.config
            diff_ids = config.rootfs.diff_ids
            if not diff_ids:
                raise errdefs.System("empty export - not implemented")
            created = _mtime(config.created_ns())
            for v1_id, v1_json in legacy_layer_configs(config):
                blobs.setdefault(digest_hex(v1_id), _Blob(v1_json, None, len(v1_json), created))
            for i, diff_id in enumerate(diff_ids):
                if digest_hex(diff_id) not in blobs:
                    blobs[digest_hex(diff_id)] = self._spool_layer(
                        chain_id(diff_ids[: i + 1]), diff_id, created
                    )
            blobs[digest_hex(image_id)] = _Blob(config.raw, None, len(config.raw), created)
            platform = config.platform()
            oci_manifest = marshal(
                {
                    "schemaVersion": 2,
                    "mediaType": MEDIA_MANIFEST,
                    "config": {
                        "mediaType": MEDIA_CONFIG,
                        "digest": image_id,
                        "size": len(config.raw),
                        "platform": platform,
                    },
                    "layers": [
                        {"mediaType": MEDIA_LAYER, "digest": d, "size": blobs[digest_hex(d)].size}
                        for d in diff_ids
                    ],
                }
            )
            manifest_digest = hashlib.sha256(oci_manifest).hexdigest()
            blobs[manifest_digest] = _Blob(oci_manifest, None, len(oci_manifest), 0)
            repo_tags: list[str] = []
            for ref in desc.refs:
                repos_legacy.setdefault(ref.familiar_name(), {})[ref.tag] = digest_hex(diff_ids[-1])
                repo_tags.append(ref.familiar_string())
                index_entries.append(
                    _index_entry(manifest_digest, len(oci_manifest), platform, ref)
                )
            if not desc.refs:
                index_entries.append(
                    _index_entry(manifest_digest, len(oci_manifest), platform, None)
                )
            item: dict[str, object] = {
                "Config": f"blobs/sha256/{digest_hex(image_id)}",
                "RepoTags": repo_tags or None,
                "Layers": [f"blobs/sha256/{digest_hex(d)}" for d in diff_ids],
            }
            parent = self._images.get_parent(image_id)
            if parent and parent != image_id and parent in descriptors:
                item["Parent"] = parent
            manifest.append(item)
            if self._on_event is not None:
                self._on_event(image_id, "save")
        files: dict[str, tuple[bytes, int]] = {
            "index.json": (
                marshal({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": index_entries}),
                int(time.time()),
            ),
            "manifest.json": (marshal(manifest) + b"\n", 0),
            "oci-layout": (OCI_LAYOUT_CONTENT, 0),
        }
        if repos_legacy:
            files["repositories"] = (marshal(repos_legacy, sort_keys=True) + b"\n", 0)
        return files

    def _spool_layer(self, layer_chain: str, diff_id: str, mtime: int) -> _Blob:
        """Copy a layer's tar to a temp file, checking its digest against the diff ID."""
        self._layers.get(layer_chain)
        try:
            spool = tempfile.TemporaryFile(dir=self._tmp_dir)  # noqa: SIM115 - returned
            try:
                digest = hashlib.sha256()
                size = 0
                for chunk in self._layers.tar_stream(layer_chain):
                    digest.update(chunk)
                    spool.write(chunk)
                    size += len(chunk)
                if "sha256:" + digest.hexdigest() != diff_id:
                    raise errdefs.DataLoss(
                        f"layer {layer_chain} regenerated with diff ID "
                        f"sha256:{digest.hexdigest()}, expected {diff_id}"
                    )
                spool.seek(0)
            except BaseException:
                spool.close()
                raise
        finally:
            self._layers.release(layer_chain)
        return _Blob(None, spool, size, mtime)

    def _write_tar(
        self, out: BinaryIO, blobs: dict[str, _Blob], files: dict[str, tuple[bytes, int]]
    ) -> None:
        """Entries in lexical order, as Go's ``archive.Tar`` walks the export directory."""
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for dirname in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(dirname)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            for hex_name in sorted(blobs):
                blob = blobs[hex_name]
                info = _file_info(f"blobs/sha256/{hex_name}", blob.size, blob.mtime)
                if blob.file is not None:
                    tar.addfile(info, blob.file)
                else:
                    tar.addfile(info, io.BytesIO(blob.data or b""))
            for name in sorted(files):
                data, mtime = files[name]
                tar.addfile(_file_info(name, len(data), mtime), io.BytesIO(data))


def _index_entry(
    manifest_hex: str, size: int, platform: dict[str, str], ref: Reference | None
) -> dict[str, object]:
    entry: dict[str, object] = {
        "mediaType": MEDIA_MANIFEST,
        "digest": f"sha256:{manifest_hex}",
        "size": size,
    }
    if ref is not None:
        entry["annotations"] = {
            "io.containerd.image.name": str(ref),
            "org.opencontainers.image.ref.name": ref.tag,
        }
    entry["platform"] = platform
    return entry


def _file_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime
    return info


def _mtime(created_ns: int) -> int:
    return max(created_ns // 1_000_000_000, 0)
