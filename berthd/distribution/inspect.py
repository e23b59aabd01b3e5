"""``GET /distribution/{name}/json``: a reference's manifest descriptor and platforms.

moby's ``distributionRouter.getDistributionInfo``: the tag is resolved on the first
endpoint that answers, the manifest fetched by digest; platforms come from an index's
entries, or from the config blob of a Docker schema2 manifest (an OCI manifest gets
none, as in dockerd 26).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TypedDict

from berthd import errdefs
from berthd.distribution.errors import deprecated_schema1_error
from berthd.distribution.manifest import (
    MEDIA_TYPE_DOCKER_MANIFEST,
    ImageIndex,
    ImageManifest,
    Schema1Manifest,
    parse_manifest,
)
from berthd.distribution.platforms import Platform
from berthd.distribution.remote import AuthConfig, RegistryClient, Repository, open_pinged
from berthd.image.reference import Reference

__all__ = ["DescriptorJSON", "DistributionInspect", "inspect_distribution"]


class DescriptorJSON(TypedDict):
    mediaType: str
    digest: str
    size: int


class DistributionInspect(TypedDict):
    Descriptor: DescriptorJSON
    Platforms: list[dict[str, object]] | None


async def _fetch(repo: Repository, ref: Reference) -> DistributionInspect:
    size = 0
    if ref.is_canonical:
        dgst = ref.digest
    else:
        tagged = ref.tag_name_only()
        desc = await repo.resolve(tagged.tag)
        dgst, size = desc.digest, desc.size
    raw, content_type, _ = await repo.get_manifest(dgst)
    manifest = parse_manifest(raw, content_type)
    platforms: list[dict[str, object]] | None = None
    if isinstance(manifest, Schema1Manifest):
        raise deprecated_schema1_error(ref)
    media_type = manifest.media_type
    if isinstance(manifest, ImageIndex):
        platforms = [(d.platform or Platform()).to_json() for d in manifest.manifests]
    elif isinstance(manifest, ImageManifest) and media_type == MEDIA_TYPE_DOCKER_MANIFEST:
        try:
            config = json.loads(await repo.get_blob(manifest.config.digest, 16 << 20))
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception:
            config = None
        if isinstance(config, dict):
            p = Platform.from_json(config)
            if p.os or p.architecture:
                platforms = [p.to_json()]
    return {
        "Descriptor": {"mediaType": media_type, "digest": dgst, "size": size or len(raw)},
        "Platforms": platforms,
    }


async def inspect_distribution(
    registry: RegistryClient, ref: Reference, auth: AuthConfig, headers: Mapping[str, str]
) -> DistributionInspect:
    last_err: BaseException | None = None
    for ep in registry.lookup_pull_endpoints(ref.domain):
        try:
            repo = await open_pinged(registry, ep, ref.path, auth, ("pull",), headers)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            last_err = err
            continue
        try:
            return await _fetch(repo, ref)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            last_err = err
        finally:
            await repo.close()
    if last_err is None:
        raise errdefs.NotFound(f"no endpoints found for {ref.familiar_string()}")
    raise last_err
