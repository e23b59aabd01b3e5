"""``docker pull``: moby's ``distribution.Pull`` and its v2 puller.

Endpoints are tried in the registry service's order (mirrors, https, http); a failure
to reach one falls through to the next, a registry's verdict does not (except from a
mirror). Per tag: resolve the tag to a digest, fetch the manifest by digest (verified
over the bytes received), pick a platform from an index, fetch the config while the
layers download, check the layers' diff IDs against the config, store the image, then
point ``name@digest`` and the tag at it. Schema1 is refused as dockerd 26 does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.distribution import platforms as plat
from berthd.distribution.download import LayerDownloadManager, RemoteLayer
from berthd.distribution.errors import (
    DoNotRetry,
    ImageConfigPullError,
    NoMatchingManifest,
    deprecated_schema1_error,
    retry_on_error,
    translate_pull_error,
    unwrap,
)
from berthd.distribution.fallback import connecting, transferring, walk_endpoints
from berthd.distribution.manifest import (
    MEDIA_TYPE_DOCKER_MANIFEST,
    Descriptor,
    ImageIndex,
    ImageManifest,
    Manifest,
    Schema1Manifest,
    check_config_media_type,
    check_supported_media_type,
    parse_manifest,
    validate_digest,
)
from berthd.distribution.progress import Output, Progress
from berthd.distribution.remote import (
    AuthConfig,
    Endpoint,
    RegistryClient,
    Repository,
    open_pinged,
)
from berthd.distribution.stores import SharedRepository, Stores
from berthd.image.config import StoredConfig
from berthd.image.reference import Reference
from berthd.image.spec import ERR_NO_ROOTFS

__all__ = ["PullRequest", "Puller", "fetch_manifest", "sha256_of"]

log = logging.getLogger(__name__)

_CONFIG_LIMIT = 16 << 20
_CONFIG_ATTEMPTS = 5
_CONFIG_BACKOFF = 0.25

ERR_ROOTFS_MISMATCH = "layers from manifest don't match image configuration"
ERR_ROOTFS_INVALID = "invalid rootfs in image configuration"


@dataclass(frozen=True)
class PullRequest:
    ref: Reference  # normalised; name only = every tag
    platform: plat.Platform | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    headers: Mapping[str, str] = field(default_factory=dict)


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def fetch_manifest(repo: Repository, dgst: str) -> tuple[bytes, Manifest]:
    """GET a manifest by digest and verify it against that digest."""
    raw, content_type, _ = await repo.get_manifest(dgst)
    if sha256_of(raw) != dgst:
        raise errdefs.InvalidParameter(f"manifest verification failed for digest {dgst}")
    return raw, parse_manifest(raw, content_type)


class Puller:
    def __init__(
        self,
        registry: RegistryClient,
        downloads: LayerDownloadManager,
        stores: Stores,
        req: PullRequest,
        out: Output,
    ) -> None:
        self.registry = registry
        self.downloads = downloads
        self.stores = stores
        self.req = req
        self.out = out
        self.pulled_ids: list[str] = []

    # --- endpoints ----------------------------------------------------------------------
    async def pull(self) -> None:
        ref = self.req.ref
        endpoints = self.registry.lookup_pull_endpoints(ref.domain)
        try:
            done, last_err = await walk_endpoints(endpoints, self._pull_endpoint, "pull")
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.error("not continuing with pull after error: %s", err)
            raise translate_pull_error(err, ref) from None
        if done:
            return
        if last_err is None:
            last_err = errdefs.NotFound(f"no endpoints found for {ref.familiar_string()}")
        raise translate_pull_error(last_err, ref)

    async def _pull_endpoint(self, ep: Endpoint) -> None:
        with connecting(warn=True):
            repo = await open_pinged(
                self.registry, ep, self.req.ref.path, self.req.auth, ("pull",), self.req.headers
            )
        shared = SharedRepository(repo)
        try:
            with transferring(ep):
                await self._pull_repository(shared, ep)
        finally:
            await shared.release()

    async def _pull_repository(self, shared: SharedRepository, ep: Endpoint) -> None:
        ref = self.req.ref
        if not ref.is_name_only:
            updated = await self._pull_tag(shared, ref)
        else:
            updated = False
            for tag in await shared.repo.tags():
                updated = await self._pull_tag(shared, ref.with_tag(tag)) or updated
        status = "Downloaded newer image for" if updated else "Image is up to date for"
        self.out(Progress(message=f"Status: {status} {ref.familiar_string()}"))

    # --- one tag or digest ----------------------------------------------------------------
    async def _pull_tag(self, shared: SharedRepository, ref: Reference) -> bool:
        repo = shared.repo
        if ref.is_canonical:
            dgst, tag_or_digest = ref.digest, ref.digest
        else:
            desc = await repo.resolve(ref.tag)
            dgst, tag_or_digest = desc.digest, ref.tag
        _, manifest = await fetch_manifest(repo, dgst)
        if (
            isinstance(manifest, ImageManifest)
            and manifest.media_type == MEDIA_TYPE_DOCKER_MANIFEST
        ):
            check_config_media_type(manifest.config.media_type)
        self.out(Progress(tag_or_digest, message="Pulling from " + ref.path))
        if isinstance(manifest, Schema1Manifest):
            err = deprecated_schema1_error(ref)
            log.warning("%s", err)
            raise err
        if isinstance(manifest, ImageManifest):
            image_id = await self._pull_manifest(shared, manifest, self.req.platform)
        else:
            image_id = await self._pull_index(shared, ref, manifest)
        self.out(Progress(message="Digest: " + dgst))
        self.pulled_ids.append(image_id)
        return await asyncio.to_thread(self._update_references, ref, dgst, image_id)

    def _update_references(self, ref: Reference, manifest_digest: str, image_id: str) -> bool:
        refs = self.stores.references
        try:
            old: str | None = refs.get(ref)
        except errdefs.NotFound:
            old = None
        if old == image_id:
            self._add_digest_reference(ref, manifest_digest, image_id)
            return False
        if ref.is_canonical:
            self._add_digest_reference(ref, ref.digest, image_id)
        else:
            self._add_digest_reference(ref, manifest_digest, image_id)
            refs.add_tag(ref, image_id, force=True)
        return True

    def _add_digest_reference(self, ref: Reference, dgst: str, image_id: str) -> None:
        digest_ref = ref.trim().with_digest(dgst)
        try:
            old = self.stores.references.get(digest_ref)
        except errdefs.NotFound:
            try:
                self.stores.references.add_digest(digest_ref, image_id, force=True)
                return
            except errdefs.Conflict:  # a concurrent pull of the same digest added it
                old = self.stores.references.get(digest_ref)
        if old != image_id:
            log.error(
                "image ID for digest %s changed from %s to %s, cannot update", dgst, old, image_id
            )

    # --- manifests ------------------------------------------------------------------------
    async def _pull_index(self, shared: SharedRepository, ref: Reference, index: ImageIndex) -> str:
        want = self.req.platform or plat.Platform()
        target = plat.normalize(plat.with_default(want))
        ranked: list[tuple[int, int, Descriptor]] = []
        for i, desc in enumerate(index.manifests):
            p = desc.platform
            if p is None or p == plat.Platform():
                ranked.append((1 << 30, i, desc))
                continue
            r = plat.rank(target, p)
            if r is not None:
                ranked.append((r, i, desc))
        ranked.sort(key=lambda t: (t[0], t[1]))
        for _, _, match in ranked:
            _, manifest = await fetch_manifest(shared.repo, match.digest)
            if isinstance(manifest, Schema1Manifest):
                raise deprecated_schema1_error(ref)
            if isinstance(manifest, ImageManifest):
                return await self._pull_manifest(shared, manifest, match.platform)
            if isinstance(manifest, ImageIndex):
                try:
                    return await self._pull_index(
                        shared, ref.trim().with_digest(match.digest), manifest
                    )
                except NoMatchingManifest:
                    raise
                except errdefs.BerthdError:
                    continue
        shown = want if want.os else plat.default_spec()
        raise NoMatchingManifest(shown.format())

    async def _pull_manifest(
        self, shared: SharedRepository, manifest: ImageManifest, platform: plat.Platform | None
    ) -> str:
        """moby ``pullSchema2Layers``: the image ID (the config digest)."""
        stores = self.stores
        target = manifest.config
        if await asyncio.to_thread(stores.images.exists, target.digest):
            return target.digest
        check_supported_media_type(target.media_type)
        descriptors: list[RemoteLayer] = []
        source = self.req.ref.name
        for d in manifest.layers:
            validate_digest(d.digest, "layer")
            check_supported_media_type(d.media_type)
            descriptors.append(
                RemoteLayer(shared, d.digest, d.size, source, stores.metadata, stores.tmp_dir)
            )
        if platform is not None and platform.os and platform.os != "linux":
            raise errdefs.InvalidParameter("operating system is not supported")

        config_task = asyncio.ensure_future(self._fetch_config(shared.repo, target.digest))
        download_task = asyncio.ensure_future(self.downloads.download(descriptors, self.out))
        try:
            raw_config = await config_task
            config = _parse_config(raw_config)
            result = await download_task
        except BaseException:
            for t in (config_task, download_task):
                t.cancel()
            await asyncio.gather(config_task, download_task, return_exceptions=True)
            if not download_task.cancelled() and download_task.exception() is None:
                await download_task.result().release()
            raise
        try:
            if list(config.rootfs.diff_ids) != result.diff_ids:
                raise errdefs.InvalidParameter(ERR_ROOTFS_MISMATCH)
            image_id: str = await asyncio.to_thread(stores.images.create, raw_config)
        finally:
            await result.release()
        return image_id

    async def _fetch_config(self, repo: Repository, dgst: str) -> bytes:
        delay = _CONFIG_BACKOFF
        attempt = 0
        err: BaseException | None = None
        while attempt < _CONFIG_ATTEMPTS:
            try:
                raw = await repo.get_blob(dgst, _CONFIG_LIMIT)
                break
            except asyncio.CancelledError:
                raise
            except Exception as raw_err:
                err = retry_on_error(raw_err)
                if isinstance(err, DoNotRetry):
                    attempt += 1
                    raise ImageConfigPullError(
                        _Wrapped(f"download failed after attempts={attempt}: {unwrap(err)}")
                    ) from None
            attempt += 1
            if attempt < _CONFIG_ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 2
        else:
            raise ImageConfigPullError(
                _Wrapped(f"download failed after attempts={attempt}: {err}")
            ) from None
        if sha256_of(raw) != dgst:
            log.error("image config verification failed for digest %s", dgst)
            raise ImageConfigPullError(
                _Wrapped(f"image config verification failed for digest {dgst}")
            )
        return raw


class _Wrapped(Exception):
    pass


def _parse_config(raw: bytes) -> StoredConfig:
    """The pulled config, checked at the edge (Go's wording for a malformed field); no
    ``rootfs`` is moby's ``errRootFSInvalid``."""
    try:
        config = StoredConfig.from_json(raw)
    except errdefs.InvalidParameter as err:
        if str(err) == ERR_NO_ROOTFS:
            raise errdefs.InvalidParameter(ERR_ROOTFS_INVALID) from None
        raise
    return config
