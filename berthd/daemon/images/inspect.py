"""``GET /images/{name}/json``: ``docker image inspect``.

The document is dockerd 28's ``image.InspectResponse`` in its field order, including
the deprecated ``Container``/``ContainerConfig`` (kept at every API version, unlike
dockerd ≥ 26: docker-compose 1.x needs them). ``GraphDriver.Data`` names the overlay2 directories a container on
this image would stack on; vfs reports none (``null``), as dockerd's vfs driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berthd.image.lookup import get_image
from berthd.image.v1compat import go_container_config
from berthd.lib.timefmt import ZERO_TIME

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["inspect_image"]


def _graph_data(svc: ImageContext, chain: str) -> dict[str, str] | None:
    if not chain or svc.driver_name != "overlay2":
        return None
    driver = svc.layers.driver
    top = svc.layers.lookup(chain)
    lowers: list[str] = []
    parent = top.parent
    while parent is not None:
        layer = svc.layers.lookup(parent)
        lowers.append(driver.diff_dir(layer.cache_id))
        parent = layer.parent
    base = driver.diff_dir(top.cache_id)[: -len("/diff")]
    data = {}
    if lowers:
        data["LowerDir"] = ":".join(lowers)
    data["MergedDir"] = base + "/merged"
    data["UpperDir"] = base + "/diff"
    data["WorkDir"] = base + "/work"
    return data


def inspect_image(svc: ImageContext, name: str) -> dict[str, Any]:
    img = get_image(svc.images, svc.references, name)
    cfg = img.config
    tags: list[str] = []
    digests: list[str] = []
    for ref in svc.references.references(img.id):
        if ref.is_canonical:
            digests.append(ref.familiar_string())
        elif ref.is_tagged:
            tags.append(ref.familiar_string())
    comment = cfg.comment
    if not comment and cfg.history:
        comment = cfg.history[-1].comment
    chain = cfg.chain_id()
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": img.parent,
        "Comment": comment,
        "Created": cfg.created,
        "Container": cfg.container,
        "ContainerConfig": go_container_config(cfg.container_config),
        "DockerVersion": cfg.docker_version,
        "Author": cfg.author,
        "Config": go_container_config(cfg.config) if cfg.config else None,
        "Architecture": cfg.architecture,
    }
    if cfg.variant:
        out["Variant"] = cfg.variant
    out["Os"] = cfg.operating_system()
    if cfg.os_version:
        out["OsVersion"] = cfg.os_version
    out["Size"] = svc.layers.total_size(chain) if chain else 0
    out["GraphDriver"] = {"Data": _graph_data(svc, chain), "Name": svc.driver_name}
    out["RootFS"] = {"Type": cfg.rootfs.type, "Layers": list(cfg.rootfs.diff_ids)}
    out["Metadata"] = {"LastTagTime": svc.images.get_last_updated(img.id) or ZERO_TIME}
    return out
