"""Registry manifests: Docker schema2 and OCI image manifests, manifest lists and indexes.

The kind comes from the ``Content-Type`` the registry answered (as distribution's
``UnmarshalManifest``), with the document's own ``mediaType`` checked against it; a
manifest's digest is always taken over the bytes as received. Schema1 is recognised
only to be refused (dockerd 26's deprecation error). Push builds schema2 manifests the
way distribution's ``schema2.ManifestBuilder`` writes them (3-space indented JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berthd import errdefs
from berthd.distribution.platforms import Platform
from berthd.image.digest import parse_digest

__all__ = [
    "ACCEPTED_MANIFEST_TYPES",
    "MEDIA_TYPE_DOCKER_CONFIG",
    "MEDIA_TYPE_DOCKER_LAYER",
    "MEDIA_TYPE_DOCKER_LIST",
    "MEDIA_TYPE_DOCKER_MANIFEST",
    "MEDIA_TYPE_OCI_INDEX",
    "MEDIA_TYPE_OCI_MANIFEST",
    "Descriptor",
    "ImageIndex",
    "ImageManifest",
    "Manifest",
    "Schema1Manifest",
    "UnsupportedMediaType",
    "build_schema2",
    "check_config_media_type",
    "check_supported_media_type",
    "parse_manifest",
]

MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_TYPE_DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

# What moby asks a registry for (its registered manifest types).
ACCEPTED_MANIFEST_TYPES = (
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
)

_SUPPORTED_PREFIXES = (
    "application/vnd.oci.image",
    "application/vnd.docker",
    "application/octet-stream",
    "application/json",
    "text/html",
    "",
)
_IMAGE_CONFIG_TYPES = (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_OCI_CONFIG,
    "application/octet-stream",
    "application/json",
    "text/html",
    "",
)


class UnsupportedMediaType(errdefs.InvalidParameter):
    def __init__(self, media_type: str) -> None:
        super().__init__("unsupported media type " + media_type)


def check_supported_media_type(media_type: str) -> None:
    """moby ``checkSupportedMediaType`` for a manifest's target and its layers."""
    lower = media_type.lower()
    for mt in _SUPPORTED_PREFIXES:
        if lower == mt or lower.startswith(mt + "."):
            return
    raise UnsupportedMediaType(media_type)


def check_config_media_type(media_type: str) -> None:
    """moby ``validateMediaType``: the config must be an image config."""
    if media_type in _IMAGE_CONFIG_TYPES:
        return
    cls = "plugin" if media_type == MEDIA_TYPE_DOCKER_PLUGIN_CONFIG else "unknown"
    raise errdefs.InvalidParameter(f'Encountered remote "{media_type}"({cls}) when fetching')


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class ImageManifest:
    """A schema2 or OCI image manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class ImageIndex:
    """A Docker manifest list or an OCI image index."""

    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class Schema1Manifest:
    """Recognised only to be refused."""


Manifest = ImageManifest | ImageIndex | Schema1Manifest


class _Invalid(errdefs.InvalidParameter):
    pass


def _descriptor(obj: object, with_platform: bool = False) -> Descriptor:
    if not isinstance(obj, dict):
        raise _Invalid("invalid manifest: descriptor is not an object")
    mt, dgst, size = obj.get("mediaType", ""), obj.get("digest", ""), obj.get("size", 0)
    if not isinstance(mt, str) or not isinstance(dgst, str) or not isinstance(size, int):
        raise _Invalid("invalid manifest: malformed descriptor")
    urls = obj.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise _Invalid("invalid manifest: malformed descriptor urls")
    plat = obj.get("platform")
    platform = Platform.from_json(plat) if with_platform and isinstance(plat, dict) else None
    return Descriptor(mt, dgst, size, tuple(urls), platform)


def _media_type(ct: str) -> str:
    """``mime.ParseMediaType``'s type: parameters stripped, lower-cased."""
    return ct.split(";", 1)[0].strip().lower()


def parse_manifest(raw: bytes, content_type: str) -> Manifest:
    """Decode a manifest by its Content-Type (sniffing ``mediaType`` when it is generic)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _Invalid(f"invalid manifest: {err}") from None
    if not isinstance(doc, dict):
        raise _Invalid("invalid manifest: not a JSON object")
    mt = _media_type(content_type)
    declared = doc.get("mediaType", "")
    if not isinstance(declared, str):
        declared = ""
    if mt in _SCHEMA1_TYPES or (
        mt in ("", "application/json", "text/plain") and doc.get("schemaVersion") == 1
    ):
        return Schema1Manifest()
    if mt in ("", "application/json", "text/plain", "application/octet-stream"):
        if declared in (MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_LIST):
            mt = declared
        elif "manifests" in doc:
            mt = MEDIA_TYPE_OCI_INDEX
        elif "config" in doc:
            mt = MEDIA_TYPE_OCI_MANIFEST
    if mt == MEDIA_TYPE_DOCKER_MANIFEST:
        if declared != MEDIA_TYPE_DOCKER_MANIFEST:
            raise _Invalid(
                f"mediaType in manifest should be '{MEDIA_TYPE_DOCKER_MANIFEST}' not '{declared}'"
            )
        return _image_manifest(doc, mt)
    if mt == MEDIA_TYPE_OCI_MANIFEST:
        if declared not in ("", MEDIA_TYPE_OCI_MANIFEST):
            raise _Invalid(
                "if present, mediaType in manifest should be "
                f"'{MEDIA_TYPE_OCI_MANIFEST}' not '{declared}'"
            )
        return _image_manifest(doc, mt)
    if mt == MEDIA_TYPE_DOCKER_LIST:
        if declared != MEDIA_TYPE_DOCKER_LIST:
            raise _Invalid(
                f"mediaType in manifest list should be '{MEDIA_TYPE_DOCKER_LIST}' not '{declared}'"
            )
        return _index(doc, mt)
    if mt == MEDIA_TYPE_OCI_INDEX:
        if declared not in ("", MEDIA_TYPE_OCI_INDEX):
            raise _Invalid(
                "if present, mediaType in image index should be "
                f"'{MEDIA_TYPE_OCI_INDEX}' not '{declared}'"
            )
        return _index(doc, mt)
    raise errdefs.InvalidParameter("unsupported manifest format")


def _image_manifest(doc: Mapping[str, object], mt: str) -> ImageManifest:
    layers = doc.get("layers") or []
    if not isinstance(layers, list):
        raise _Invalid("invalid manifest: layers is not a list")
    return ImageManifest(mt, _descriptor(doc.get("config")), tuple(_descriptor(x) for x in layers))


def _index(doc: Mapping[str, object], mt: str) -> ImageIndex:
    items = doc.get("manifests") or []
    if not isinstance(items, list):
        raise _Invalid("invalid manifest list: manifests is not a list")
    return ImageIndex(mt, tuple(_descriptor(x, with_platform=True) for x in items))


def validate_digest(dgst: str, what: str) -> None:
    """``Digest.Validate`` on a layer digest, with moby's wrapping."""
    try:
        parse_digest(dgst)
    except ValueError as err:
        raise errdefs.InvalidParameter(
            f'could not validate {what} digest "{dgst}": {err}'
        ) from None


def _go_indent(obj: object) -> bytes:
    """``json.MarshalIndent(v, "", "   ")`` as distribution writes manifests."""
    text = json.dumps(obj, indent=3, separators=(",", ": "), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _desc_json(d: Descriptor) -> dict[str, object]:
    doc: dict[str, object] = {"mediaType": d.media_type, "size": d.size, "digest": d.digest}
    if d.urls:
        doc["urls"] = list(d.urls)
    return doc


def build_schema2(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """The schema2 manifest push uploads (field order and indent as distribution)."""
    return _go_indent(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_DOCKER_MANIFEST,
            "config": _desc_json(config),
            "layers": [_desc_json(d) for d in layers],
        }
    )
