"""Legacy v1 layer configs that ``docker save`` still writes next to the OCI blobs.

dockerd 25+ writes, for every layer, a v1 image JSON (``id``, ``parent``, ``created``,
``container_config``, ``os`` …) into ``blobs/sha256/``; its v1 ID is moby's
``v1.CreateID``: sha256 over the v1 JSON re-marshalled as a map (keys sorted) plus
``layer_id`` and ``parent``. Nothing reads them back (load uses manifest.json) but they
make the archive the same shape as dockerd's. Go struct field order is reproduced for
``V1Image`` and ``container.Config``; intermediate layers match dockerd byte for byte,
the top layer's JSON is a faithful best effort (it depends on every config field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from berthd.image.config import StoredConfig
from berthd.image.digest import chain_id, sha256_digest
from berthd.image.gojson import marshal

__all__ = ["go_container_config", "legacy_layer_configs"]

EPOCH = "1970-01-01T00:00:00Z"

# (field, default when absent, omitempty) in container.Config declaration order.
_CONFIG_FIELDS: tuple[tuple[str, object, bool], ...] = (
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", False, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", False, True),
    ("MacAddress", "", True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", "", True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
)
# V1Image declaration order after id and parent.
_V1_ORDER = (
    "comment",
    "created",
    "container",
    "container_config",
    "docker_version",
    "author",
    "config",
    "architecture",
    "variant",
    "os",
    "Size",
)
_HEALTH_FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


def _empty(value: object) -> bool:
    return value in (None, "", False, 0) or value == [] or value == {}


def _sorted_map(value: object) -> object:
    return dict(sorted(value.items())) if isinstance(value, dict) else value


def go_container_config(cfg: Mapping[str, object] | None) -> dict[str, object]:
    """A ``container.Config`` object as Go marshals it (all fields, declaration order):
    JSON to write, not a document to read (that is :class:`~berthd.image.spec.Config`)."""
    cfg = cfg or {}
    out: dict[str, object] = {}
    for name, default, omitempty in _CONFIG_FIELDS:
        value = cfg.get(name, default)
        if omitempty and _empty(value):
            continue
        if name == "Healthcheck" and isinstance(value, dict):
            value = {k: value[k] for k in _HEALTH_FIELDS if not _empty(value.get(k))}
        out[name] = _sorted_map(value)
    return out


def _v1_image(config: StoredConfig) -> dict[str, object]:
    """``img.V1Image`` as Go marshals it (ID left empty)."""
    doc = config.doc
    out: dict[str, object] = {}
    for key, value in (
        ("comment", doc.get("comment")),
        ("created", doc.get("created")),
        ("container", doc.get("container")),
    ):
        if value:
            out[key] = value
    out["container_config"] = go_container_config(doc.get("container_config"))
    for key, value in (
        ("docker_version", doc.get("docker_version")),
        ("author", doc.get("author")),
    ):
        if value:
            out[key] = value
    if doc.get("config") is not None:
        out["config"] = go_container_config(doc.get("config"))
    tail: tuple[tuple[str, object], ...] = (
        ("architecture", doc.get("architecture")),
        ("variant", doc.get("variant")),
        ("os", doc.get("os")),
        ("Size", doc.get("Size")),
    )
    for key, tail_value in tail:
        if tail_value:
            out[key] = tail_value
    return out


def _create_id(v1: dict[str, object], layer_chain: str, parent: str) -> str:
    """``v1.CreateID``: the struct round-tripped through a map, so keys end up sorted."""
    doc = {k: v for k, v in v1.items() if k != "id"}
    doc["layer_id"] = layer_chain
    if parent:
        doc["parent"] = parent
    # Only the top level is a map in Go; nested objects keep their struct order.
    return sha256_digest(marshal(dict(sorted(doc.items()))))


def legacy_layer_configs(config: StoredConfig) -> list[tuple[str, bytes]]:
    """For each layer: (v1 ID, v1 JSON bytes) as ``saveImage``/``saveLayer`` write them."""
    diff_ids: Sequence[str] = config.rootfs.diff_ids
    parent = ""
    out: list[tuple[str, bytes]] = []
    for i in range(len(diff_ids)):
        top = i == len(diff_ids) - 1
        base: dict[str, object] = (
            _v1_image(config)
            if top
            else {"created": EPOCH, "container_config": go_container_config(None)}
        )
        v1_id = _create_id(base, chain_id(diff_ids[: i + 1]), parent)
        fields = dict(base)
        if config.os:
            fields["os"] = config.os  # Go sets OS after CreateID, on every layer
        legacy: dict[str, object] = {"id": v1_id.split(":", 1)[1]}
        if parent:
            legacy["parent"] = parent.split(":", 1)[1]
        for key in _V1_ORDER:
            if key in fields and (key == "container_config" or not _empty(fields[key])):
                legacy[key] = fields[key]
        out.append((v1_id, marshal(legacy)))
        parent = v1_id
    return out
