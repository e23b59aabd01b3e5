"""``docker commit``: a container's changes become a new image on top of its own.

moby ``daemon/commit.go`` + ``image.NewChildImage``: the container is paused by
default while its rw layer is diffed (so the layer is one consistent moment);
the new config is the request's (or the container's) with ``--change`` lines
applied and the container's config merged under it; the layer stack is the
parent image's plus the diff (an empty diff adds no layer, only an
``empty_layer`` history entry, as dockerd does); the imagedb parent link
points at the container's image; then the optional tag and a ``commit`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from dataclasses import dataclass

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.seams import ContainerOps, ImageRegistrar
from berthd.image.gojson import marshal
from berthd.image.reference import Reference
from berthd.image.spec import Config, HealthConfig, History, ImageConfig, parse_container_config
from berthd.image.v1compat import go_container_config
from berthd.lib.timefmt import format_ns, now_ns
from berthd.version import VERSION

__all__ = ["EMPTY_DIFF_ID", "CommitRequest", "child_image_config", "merge_config"]

# sha256 of a tar holding nothing but its two zero blocks (moby layer.DigestSHA256EmptyTar)
EMPTY_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@dataclass(frozen=True)
class CommitRequest:
    """A ``docker commit``: the container, the tag to give (None: none), and the
    config to start from (None: the container's), with ``--change`` lines on top."""

    container: str
    ref: Reference | None
    comment: str
    author: str
    pause: bool
    changes: list[str]
    config: Config | None


def merge_config(user: Config, image: Config) -> Config:
    """moby's ``merge``: fill what ``user`` leaves empty from ``image``."""
    out = copy.deepcopy(user)
    if not out.get("User"):
        out["User"] = image.get("User", "")
    ports = dict(out.get("ExposedPorts") or {})
    for p in image.get("ExposedPorts") or {}:
        ports.setdefault(p, {})
    if ports or "ExposedPorts" in out:
        out["ExposedPorts"] = ports or out.get("ExposedPorts")
    env = list(out.get("Env") or [])
    if not env:
        out["Env"] = image.get("Env")
    else:
        keys = {e.split("=", 1)[0] for e in env}
        out["Env"] = env + [e for e in image.get("Env") or [] if e.split("=", 1)[0] not in keys]
    labels = dict(out.get("Labels") or {})
    for k, v in (image.get("Labels") or {}).items():
        labels.setdefault(k, v)
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
            out["ArgsEscaped"] = image.get("ArgsEscaped", False)
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = image.get("Entrypoint")
    ihc = image.get("Healthcheck")
    if ihc is not None:
        uhc = out.get("Healthcheck")
        if uhc is None:
            out["Healthcheck"] = ihc
        else:
            out["Healthcheck"] = _merge_health(uhc, ihc)
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir", "")
    vols = dict(out.get("Volumes") or {})
    if not vols:
        out["Volumes"] = image.get("Volumes")
    else:
        vols.update(image.get("Volumes") or {})
        out["Volumes"] = vols
    if not out.get("StopSignal"):
        out["StopSignal"] = image.get("StopSignal", "")
    return out


def _merge_health(user: HealthConfig, image: HealthConfig) -> HealthConfig:
    """Each healthcheck field the user left unset comes from the image."""
    out = user.copy()
    if not out.get("Test"):
        out["Test"] = image.get("Test")
    if not out.get("Interval") and "Interval" in image:
        out["Interval"] = image["Interval"]
    if not out.get("Timeout") and "Timeout" in image:
        out["Timeout"] = image["Timeout"]
    if not out.get("StartPeriod") and "StartPeriod" in image:
        out["StartPeriod"] = image["StartPeriod"]
    if not out.get("Retries") and "Retries" in image:
        out["Retries"] = image["Retries"]
    return out


def new_config(c: Container, req: CommitRequest) -> Config:
    """The committed image's ``config``: the request's (or the container's) with the
    ``--change`` lines applied, the container's config merged under it."""
    own = parse_container_config(c.config, "")
    base = own if req.config is None else req.config
    # the Dockerfile parser: imported by the first request, not at start-up
    from berthd.daemon.images.changes import apply_changes

    return merge_config(apply_changes(base, req.changes), own)


def child_image_config(
    parent: ImageConfig | None,
    c: Container | None,
    config: Config,
    diff_id: str,
    author: str,
    comment: str,
    container_config: Config | None = None,
) -> tuple[bytes, bool]:
    """``image.NewChildImage`` as Go marshals it; and whether the layer is kept.

    ``parent`` None: no parent image (no layers, no history, linux).
    ``container_config`` (a build step's probe config) replaces the container's own
    config as ``container_config`` and as the history line; a COPY step has no
    container at all (``c`` None: no ``container`` field).
    """
    if container_config is None:
        container_config = parse_container_config(c.config, "") if c is not None else {}
    parent = parent if parent is not None else {"rootfs": {"type": "layers"}}
    empty = diff_id == EMPTY_DIFF_ID
    diff_ids = list(parent["rootfs"].get("diff_ids") or [])
    if not empty:
        diff_ids.append(diff_id)
    created = format_ns(now_ns())
    entry: History = {"created": created}
    if author:
        entry["author"] = author
    created_by = " ".join(container_config.get("Cmd") or [])
    if created_by:
        entry["created_by"] = created_by
    if comment:
        entry["comment"] = comment
    if empty:
        entry["empty_layer"] = True
    # JSON to marshal, in image.Image's field order (Go writes struct fields in order)
    doc: dict[str, object] = {"created": created}
    if c is not None:
        doc["container"] = c.id
    doc["container_config"] = go_container_config(container_config)
    doc["docker_version"] = VERSION
    if author:
        doc["author"] = author
    doc["config"] = go_container_config(config)
    doc["architecture"] = parent.get("architecture") or ""
    if parent.get("variant"):
        doc["variant"] = parent.get("variant")
    doc["os"] = parent.get("os") or "linux"
    doc["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    doc["history"] = [*(parent.get("history") or []), entry]
    if parent.get("os.version"):
        doc["os.version"] = parent.get("os.version")
    if parent.get("os.features"):
        doc["os.features"] = parent.get("os.features")
    return marshal(doc), not empty


async def commit_container(
    containers: ContainerOps, images: ImageRegistrar, req: CommitRequest
) -> str:
    """Pause, diff, register, create, tag, log; return the new image ID."""
    c = containers.get(req.container)
    if c.state.dead:
        raise errdefs.Conflict(f"You cannot commit container {c.id} which is Dead")
    if c.state.removal_in_progress:
        raise errdefs.Conflict(f"You cannot commit container {c.id} which is being removed")
    config = new_config(c, req)
    paused_here = False
    if req.pause and c.state.running and not c.state.paused and not c.state.restarting:
        with contextlib.suppress(errdefs.Conflict):
            await containers.pause(c.id)
            paused_here = True
    try:
        image_id = await asyncio.to_thread(_commit_blocking, images, c, config, req)
    finally:
        if paused_here:
            with contextlib.suppress(errdefs.BerthdError):
                await containers.unpause(c.id)
    image_ref = ""
    if req.ref is not None:
        await asyncio.to_thread(images.tag, image_id, req.ref)
        image_ref = req.ref.familiar_string()
    containers.log_event(
        c, "commit", {"comment": req.comment, "imageID": image_id, "imageRef": image_ref}
    )
    return image_id


def _commit_blocking(
    images: ImageRegistrar, c: Container, config: Config, req: CommitRequest
) -> str:
    parent = images.config_of(c.image_id) if c.image_id else None
    layers = images.layers
    layer = layers.commit(c.id)
    try:
        raw, _ = child_image_config(parent, c, config, layer.diff_id, req.author, req.comment)
        image_id = images.register(raw, parent=c.image_id, built_locally=True)
    finally:
        layers.release(layer.chain_id)
    return image_id
