"""``docker push``: moby's ``distribution.Push`` and its v2 pusher.

Per tag: every layer (top first) is checked against what the registry already has
(v2metadata candidates, HEAD), mounted from another repository of the same registry
when the metadata knows one, or gzipped on the fly in a thread and streamed up
(``Pushing`` counts uncompressed bytes, as dockerd). Then the config blob and a schema2
manifest go up, and ``<tag>: digest: … size: …`` plus the aux ``{Tag, Digest, Size}``
come back. What the registry was seen to hold is remembered in v2metadata (with an
HMAC of the credentials used) so the next push can skip or mount it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.distribution.blocking import Cancelled, run_long
from berthd.distribution.errors import DoNotRetry, error_code, retry_on_error
from berthd.distribution.fallback import connecting, transferring, walk_endpoints
from berthd.distribution.manifest import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    Descriptor,
    build_schema2,
)
from berthd.distribution.meter import Meter
from berthd.distribution.progress import Output, Progress
from berthd.distribution.remote import (
    AuthConfig,
    Endpoint,
    RegistryClient,
    Repository,
    Upload,
    open_pinged,
)
from berthd.distribution.stores import Stores
from berthd.distribution.upload import LayerUploadManager
from berthd.image.config import StoredConfig
from berthd.image.digest import truncate_id
from berthd.image.distribution_metadata import V2Metadata, compute_hmac
from berthd.image.reference import Reference, parse_normalized_named
from berthd.layer import Layer

__all__ = ["PushRequest", "Pusher", "mount_sources"]

log = logging.getLogger(__name__)

_SMALL = 100 * 1024
_MIDDLE = 10 * 1024 * 1024
_CHUNK = 1 << 20
_IN_FLIGHT = 8


@dataclass(frozen=True)
class PushRequest:
    ref: Reference  # normalised; name only = every tag
    auth: AuthConfig = field(default_factory=AuthConfig)
    hmac_key: bytes = b""
    has_auth_info: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


def _path_of(name: str) -> str | None:
    try:
        return parse_normalized_named(name).path
    except errdefs.InvalidParameter:
        return None


def _domain_of(name: str) -> str | None:
    try:
        return parse_normalized_named(name).domain
    except errdefs.InvalidParameter:
        return None


def _matching_components(path: str, components: Sequence[str]) -> int:
    n = 0
    for a, b in zip(path.split("/"), components, strict=False):
        if a != b:
            break
        n += 1
    return n


def _sort_by_likeness(repo_name: str, key: bytes, metas: list[V2Metadata]) -> list[V2Metadata]:
    """``sortV2MetadataByLikenessAndAge``: HMAC match, shared leading path, newest first."""
    components = repo_name.split("/")
    newest_first = list(reversed(metas))
    return sorted(
        newest_first,
        key=lambda m: (
            not (bool(m.hmac) and compute_hmac(key, m) == m.hmac),
            -_matching_components(m.source_repository, components),
        ),
    )


def _hmac_ok(m: V2Metadata, key: bytes) -> bool:
    return bool(m.hmac) and compute_hmac(key, m) == m.hmac


def mount_sources(metas: Sequence[V2Metadata], repo_name: str) -> list[str]:
    """Repository paths (same registry, other repository) blobs could be mounted from."""
    domain = _domain_of(repo_name)
    out: list[str] = []
    for m in metas:
        if m.source_repository == repo_name or _domain_of(m.source_repository) != domain:
            continue
        path = _path_of(m.source_repository)
        if path and path not in out:
            out.append(path)
    return out


class _GzipPipe:
    """A layer's tar, gzipped in a thread, handed to the loop chunk by chunk."""

    def __init__(self, stores: Stores, chain: str, meter: Meter) -> None:
        self._stores, self._chain, self._meter = stores, chain, meter
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._slots = threading.Semaphore(_IN_FLIGHT)
        self.stop = threading.Event()
        self.digest = ""
        self.size = 0

    def _put(self, item: bytes | None) -> None:
        while not self._slots.acquire(timeout=0.5):
            if self.stop.is_set():
                raise Cancelled("upload cancelled")
        if self.stop.is_set():
            raise Cancelled("upload cancelled")
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def produce(self) -> None:
        h = hashlib.sha256()
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        buf = bytearray()
        for chunk in self._stores.layers.tar_stream(self._chain):
            if self.stop.is_set():
                raise Cancelled("upload cancelled")
            self._meter.add(len(chunk))
            buf += comp.compress(chunk)
            if len(buf) >= _CHUNK:
                data = bytes(buf)
                buf.clear()
                h.update(data)
                self.size += len(data)
                self._put(data)
        buf += comp.flush()
        data = bytes(buf)
        h.update(data)
        self.size += len(data)
        self._meter.finish()
        self._put(data)
        self._put(None)
        self.digest = "sha256:" + h.hexdigest()

    async def get(self) -> bytes | None:
        item = await self._queue.get()
        self._slots.release()
        return item


@dataclass
class _PushState:
    remote: dict[str, Descriptor] = field(default_factory=dict)  # diff ID → blob


class _PushLayer:
    """One layer of one push (moby ``pushDescriptor``)."""

    def __init__(self, pusher: Pusher, repo: Repository, layer: Layer, repo_name: str) -> None:
        self.pusher = pusher
        self.repo = repo
        self.layer = layer
        self.repo_name = repo_name
        self.checked: set[str] = set()

    @property
    def key(self) -> str:
        return f"v2push:{self.repo_name} {self.layer.diff_id}"

    @property
    def id(self) -> str:
        return truncate_id(self.layer.diff_id)

    @property
    def _meta(self) -> Stores:
        return self.pusher.stores

    async def _tag_and_add(self, dgst: str) -> None:
        meta = V2Metadata(dgst, self.repo_name)
        try:
            await asyncio.to_thread(
                self._meta.metadata.tag_and_add, self.layer.diff_id, self.pusher.req.hmac_key, meta
            )
        except (OSError, errdefs.BerthdError) as err:
            raise DoNotRetry(err) from None

    async def _forget(self, meta: V2Metadata) -> None:
        try:
            await asyncio.to_thread(self._meta.metadata.remove, meta)
        except (OSError, errdefs.BerthdError):
            pass

    async def upload(self, out: Output) -> Descriptor:
        diff_id = self.layer.diff_id
        state = self.pusher.state
        known = state.remote.get(diff_id)
        if known is not None:
            out(Progress(self.id, "Layer already exists"))
            return known
        size = self.layer.size
        if size > _MIDDLE:
            max_mounts, max_checks, other_repos = 4, 3, True
        elif size > _SMALL:
            max_mounts, max_checks, other_repos = 3, 1, False
        else:
            max_mounts, max_checks, other_repos = 1, 1, False
        metas = await asyncio.to_thread(self._meta.metadata.get_metadata, diff_id)
        if metas:
            found = await self._already_exists(out, True, 1, metas)
            if found is not None:
                return found

        key = self.pusher.req.hmac_key
        session: Upload | None = None
        candidates = [
            m
            for m in metas
            if m.source_repository != self.repo_name
            and _domain_of(m.source_repository) == _domain_of(self.repo_name)
        ]
        candidates = _sort_by_likeness(self.repo_name, key, candidates)[:max_mounts]
        for cand in candidates:
            source = _path_of(cand.source_repository)
            if source is None:
                await self._forget(cand)
                continue
            unauthorized = False
            try:
                lu = await self.repo.mount_blob(cand.digest, source)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                lu = None
                unauthorized = error_code(err) == "UNAUTHORIZED"
                log.info(
                    "failed to mount layer %s (%s) from %s: %s", diff_id, cand.digest, source, err
                )
            else:
                if lu is None:
                    out(Progress(self.id, f"Mounted from {source}"))
                    stat = await self._stat(cand.digest)
                    desc = Descriptor(MEDIA_TYPE_DOCKER_LAYER, cand.digest, stat)
                    state.remote[diff_id] = desc
                    await self._tag_and_add(cand.digest)
                    if session is not None:
                        await _cancel(session)
                    return desc
            if not (unauthorized and not self.pusher.req.has_auth_info) and (
                _hmac_ok(cand, key) or not cand.hmac
            ):
                log.debug("removing association between layer %s and %s", cand.digest, source)
                await self._forget(cand)
            if lu is not None:
                if session is not None:
                    await _cancel(session)
                session = lu

        if max_checks - len(self.checked) > 0:
            found = await self._already_exists(
                out, other_repos, max_checks - len(self.checked), metas
            )
            if found is not None:
                if session is not None:
                    await _cancel(session)
                return found
        if session is None:
            try:
                session = await self.repo.start_upload()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                raise retry_on_error(err) from None
        return await self._upload(out, session)

    async def _stat(self, dgst: str) -> int:
        try:
            desc = await self.repo.stat_blob(dgst)
        except asyncio.CancelledError:
            raise
        except Exception:
            return 0
        return desc.size if desc is not None else 0

    async def _already_exists(
        self, out: Output, other_repos: bool, max_checks: int, metas: Sequence[V2Metadata]
    ) -> Descriptor | None:
        key = self.pusher.req.hmac_key
        candidates = [
            m
            for m in metas
            if other_repos or not m.source_repository or m.source_repository == self.repo_name
        ]
        digests: list[V2Metadata] = []
        seen: set[str] = set()
        for m in _sort_by_likeness(self.repo_name, key, candidates):
            if len(digests) >= max_checks:
                break
            if m.digest in seen or m.digest in self.checked:
                continue
            seen.add(m.digest)
            digests.append(m)
        for m in digests:
            self.checked.add(m.digest)
            try:
                desc = await self.repo.stat_blob(m.digest)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.debug(
                    "failed to check for layer %s (%s): %s", self.layer.diff_id, m.digest, err
                )
                continue
            if desc is None:
                if m.source_repository == self.repo_name:
                    await self._forget(m)
                continue
            if m.source_repository != self.repo_name or not _hmac_ok(m, key):
                await self._tag_and_add(desc.digest)
            found = Descriptor(MEDIA_TYPE_DOCKER_LAYER, desc.digest, desc.size)
            out(Progress(self.id, "Layer already exists"))
            self.pusher.state.remote[self.layer.diff_id] = found
            return found
        return None

    async def _upload(self, out: Output, session: Upload) -> Descriptor:
        meter = Meter(_threadsafe(out), self.id, "Pushing", self.layer.size)
        pipe = _GzipPipe(self.pusher.stores, self.layer.chain_id, meter)
        producer = asyncio.ensure_future(run_long(pipe.produce))
        try:
            while True:
                data = await pipe.get()
                if data is None:
                    break
                await session.write(data)
            await producer
            await session.commit(pipe.digest)
        except BaseException as err:
            pipe.stop.set()
            await asyncio.gather(producer, return_exceptions=True)
            await _cancel(session)
            if isinstance(err, Exception):
                raise retry_on_error(err) from None
            raise
        log.debug("uploaded layer %s (%s), %d bytes", self.layer.diff_id, pipe.digest, pipe.size)
        out(Progress(self.id, "Pushed"))
        await self._tag_and_add(pipe.digest)
        desc = Descriptor(MEDIA_TYPE_DOCKER_LAYER, pipe.digest, pipe.size)
        self.pusher.state.remote[self.layer.diff_id] = desc
        return desc


def _threadsafe(out: Output) -> Output:
    loop = asyncio.get_running_loop()

    def emit(p: Progress) -> None:
        loop.call_soon_threadsafe(out, p)

    return emit


async def _cancel(session: Upload) -> None:
    try:
        await session.cancel()
    except asyncio.CancelledError:
        raise
    except Exception as err:
        log.warning("failed to cancel upload: %s", err)


class Pusher:
    def __init__(
        self,
        registry: RegistryClient,
        uploads: LayerUploadManager,
        stores: Stores,
        req: PushRequest,
        out: Output,
    ) -> None:
        self.registry = registry
        self.uploads = uploads
        self.stores = stores
        self.req = req
        self.out = out
        self.state = _PushState()

    async def push(self) -> None:
        ref = self.req.ref
        endpoints = self.registry.lookup_push_endpoints(ref.domain)
        self.out(Progress(message=f"The push refers to repository [{ref.name}]"))
        associations = await asyncio.to_thread(self.stores.references.references_by_name, ref)
        if not associations:
            raise errdefs.NotFound(
                f"An image does not exist locally with the tag: {ref.familiar_name()}"
            )

        async def attempt(ep: Endpoint) -> None:
            await self._push_endpoint(ep, associations)

        done, last_err = await walk_endpoints(endpoints, attempt, "push")
        if done:
            return
        if last_err is None:
            last_err = errdefs.NotFound(f"no endpoints found for {ref.name}")
        raise last_err

    async def _sources(self, associations: Sequence[tuple[Reference, str]]) -> list[str]:
        def collect() -> list[str]:
            metas: list[V2Metadata] = []
            for _, image_id in associations:
                try:
                    cfg = self.stores.images.get(image_id).config
                except errdefs.BerthdError:
                    continue
                for diff_id in cfg.rootfs.diff_ids:
                    metas.extend(self.stores.metadata.get_metadata(diff_id))
            return mount_sources(metas, self.req.ref.name)

        return await asyncio.to_thread(collect)

    async def _push_endpoint(
        self, ep: Endpoint, associations: Sequence[tuple[Reference, str]]
    ) -> None:
        ref = self.req.ref
        sources = await self._sources(associations)
        with connecting():
            repo = await open_pinged(
                self.registry,
                ep,
                ref.path,
                self.req.auth,
                ("push", "pull"),
                self.req.headers,
                sources,
            )
        try:
            with transferring(ep):
                await self._push_repository(repo, associations)
        finally:
            try:
                await repo.close()
            except Exception as err:
                log.debug("closing a registry repository failed: %s", err)

    async def _push_repository(
        self, repo: Repository, associations: Sequence[tuple[Reference, str]]
    ) -> None:
        ref = self.req.ref
        if ref.is_tagged:
            try:
                image_id = await asyncio.to_thread(self.stores.references.get, ref)
            except errdefs.NotFound:
                raise errdefs.NotFound(f"tag does not exist: {ref.familiar_string()}") from None
            await self._push_tag(repo, ref, image_id)
            return
        if not ref.is_name_only:
            raise errdefs.InvalidParameter("cannot push a digest reference")
        pushed = 0
        for assoc, image_id in associations:
            if assoc.is_tagged:
                pushed += 1
                await self._push_tag(repo, assoc, image_id)
        if pushed == 0:
            raise errdefs.NotFound(f"no tags to push for {ref.familiar_name()}")

    async def _push_tag(self, repo: Repository, ref: Reference, image_id: str) -> None:
        stores = self.stores
        try:
            image = await asyncio.to_thread(stores.images.get, image_id)
        except errdefs.BerthdError as err:
            raise errdefs.NotFound(
                f"could not find image from tag {ref.familiar_string()}: {err}"
            ) from None
        config: StoredConfig = image.config
        chain = config.chain_id()
        top: Layer | None = None
        if chain:
            try:
                top = await asyncio.to_thread(stores.layers.get, chain)
            except errdefs.BerthdError as err:
                raise errdefs.System(f"failed to get top layer from image: {err}") from None
        try:
            descriptors: list[_PushLayer] = []
            cur: str | None = chain or None
            while cur is not None:
                layer = stores.layers.lookup(cur)
                descriptors.append(_PushLayer(self, repo, layer, ref.name))
                cur = layer.parent
            remote = await self.uploads.upload(descriptors, self.out)
        finally:
            if top is not None:
                await asyncio.to_thread(stores.layers.release, top.chain_id)
        config_desc = await self._push_config(repo, config.raw)
        body = build_schema2(config_desc, list(reversed(remote)))
        try:
            await repo.put_manifest(ref.tag, MEDIA_TYPE_DOCKER_MANIFEST, body)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if str(err) == "tag invalid":
                raise errdefs.InvalidParameter(
                    "[DEPRECATED] support for pushing manifest v2 schema1 images has been removed."
                    " More information at https://docs.docker.com/registry/spec/deprecated-schema-v1/:"
                    f" {err}"
                ) from None
            raise
        dgst = "sha256:" + hashlib.sha256(body).hexdigest()
        self.out(Progress(message=f"{ref.tag}: digest: {dgst} size: {len(body)}"))
        await asyncio.to_thread(self._add_digest_reference, ref, dgst, image_id)
        self.out(Progress(aux={"Tag": ref.tag, "Digest": dgst, "Size": len(body)}))

    def _add_digest_reference(self, ref: Reference, dgst: str, image_id: str) -> None:
        digest_ref = ref.trim().with_digest(dgst)
        try:
            self.stores.references.get(digest_ref)
        except errdefs.NotFound:
            with contextlib.suppress(errdefs.Conflict):  # added by a concurrent push
                self.stores.references.add_digest(digest_ref, image_id, force=True)

    async def _push_config(self, repo: Repository, raw: bytes) -> Descriptor:
        dgst = "sha256:" + hashlib.sha256(raw).hexdigest()
        desc = Descriptor(MEDIA_TYPE_DOCKER_CONFIG, dgst, len(raw))
        if await repo.stat_blob(dgst) is not None:
            return desc
        session = await repo.start_upload()
        try:
            await session.write(raw)
            await session.commit(dgst)
        except BaseException:
            await _cancel(session)
            raise
        return desc
