"""BuildService: ``POST /build``, ``/build/prune``, ``/build/cancel``.

A build reads the whole request body into a temp context dir first (nothing
is written before the upload ends, as dockerd's
``wrapOutputBufferedUntilRequestRead``); a bad context, a missing or unparsable
Dockerfile, a bad tag or an unknown ``--target`` fail before any output, so
they are HTTP errors. Then the builder runs as a task writing to a queue that
the response drains; a client that goes away cancels it (the running step's
container is removed). Temp dirs live under ``<data-root>/tmp`` and are
removed at start-up, with any build containers a killed daemon left.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.builder.context import CONTEXT_PREFIX
from berthd.daemon.build.names import JOURNAL_DIR, LAYER_PREFIX
from berthd.lib.filters import FilterArgs

if TYPE_CHECKING:
    from berthd.builder.backend import BaseImage
    from berthd.builder.build import Builder
    from berthd.builder.context import BuildContext
    from berthd.builder.dockerfile import commands as ins
    from berthd.builder.options import BuildOptions
    from berthd.daemon.build.backend import DaemonBuildBackend
    from berthd.daemon.containers.service import ContainerService
    from berthd.daemon.images import ImageService
    from berthd.daemon.images.bridge import ByteSource

__all__ = ["BuildService"]

log = logging.getLogger("berthd.build")

_WORK_PREFIX = "build-work-"


def sanitize_tags(names: list[str]) -> list[str]:
    """``sanitizeRepoAndTags``: parsed before anything else, digests refused, ``:latest``
    added, duplicates dropped."""
    from berthd.image.reference import parse_normalized_named

    out: list[str] = []
    for name in names:
        if not name:
            continue
        ref = parse_normalized_named(name)
        if ref.digest:
            raise errdefs.InvalidParameter("build tag cannot contain a digest")
        full = str(ref.tag_name_only())
        if full not in out:
            out.append(full)
    return out


class BuildService:
    """The builder and its daemon backend are imported by the first build (or by a
    start-up that finds what a killed build left), not with the daemon."""

    def __init__(self, containers: ContainerService, images: ImageService, data_root: str) -> None:
        self.tmp_root = os.path.join(data_root, "tmp")
        self._containers = containers
        self._images = images
        self._state_dir = os.path.join(data_root, "builder")
        self._builds: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    @functools.cached_property
    def backend(self) -> DaemonBuildBackend:
        from berthd.daemon.build.backend import DaemonBuildBackend

        return DaemonBuildBackend(self._containers, self._images, self._state_dir)

    async def startup(self) -> None:
        """Remove what a killed daemon left mid-build (after containers are restored)."""

        def sweep() -> bool:
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(self.tmp_root):
                    if name.startswith((CONTEXT_PREFIX, _WORK_PREFIX)):
                        shutil.rmtree(os.path.join(self.tmp_root, name), ignore_errors=True)
            try:
                journalled = os.listdir(os.path.join(self._state_dir, JOURNAL_DIR))
            except FileNotFoundError:
                journalled = []
            layers = self._containers.layers.rw_layers()
            return bool(journalled) or any(n.startswith(LAYER_PREFIX) for n in layers)

        if await asyncio.to_thread(sweep):
            await self.backend.remove_leftovers()

    # -- POST /build -----------------------------------------------------------------------
    async def build(
        self, opts: BuildOptions, body: ByteSource, build_id: str
    ) -> AsyncIterator[bytes]:
        from berthd.builder.build import Builder
        from berthd.builder.context import fetch_remote, unpack_context
        from berthd.builder.stream import BuildStream
        from berthd.daemon.images.bridge import BodyReader

        opts.tags = sanitize_tags(opts.tags)
        loop = asyncio.get_running_loop()
        if opts.remote:
            ctx = await asyncio.to_thread(fetch_remote, opts.remote, self.tmp_root)
        else:

            def unpack() -> BuildContext:
                with BodyReader(body, loop) as raw:
                    return unpack_context(raw, self.tmp_root)

            ctx = await asyncio.to_thread(unpack)
        task: asyncio.Task[None] | None = None
        try:
            stages, meta_args, escape, warnings = await asyncio.to_thread(self._prepare, ctx, opts)
            out = BuildStream(opts.quiet)
            builder = Builder(
                self.backend, opts, ctx, out, self.tmp_root, await self._cache_from(opts)
            )
            for warning in warnings:
                out.stderr(warning)
            task = asyncio.create_task(self._run(builder, stages, meta_args, escape))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            if build_id:
                self._builds[build_id] = task
            while (msg := await out.get()) is not None:
                yield msg
            await task
        finally:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if build_id:
                self._builds.pop(build_id, None)
            await asyncio.to_thread(ctx.close)

    def _prepare(
        self, ctx: BuildContext, opts: BuildOptions
    ) -> tuple[list[ins.Stage], list[ins.ArgCommand], str, list[str]]:
        """Blocking: find and parse the Dockerfile, drop ignored files, check the target."""
        from berthd.builder.build import plan_stages
        from berthd.builder.context import dockerignore_bytes, find_dockerfile, remove_from_context
        from berthd.builder.dockerfile.instructions import parse_dockerfile
        from berthd.builder.dockerignore import PatternMatcher, read_dockerignore

        find_dockerfile(ctx, "Dockerfile" if ctx.remote_dockerfile else opts.dockerfile)
        ignore = dockerignore_bytes(ctx)
        if ignore is not None:
            try:
                patterns = read_dockerignore(ignore)
            except errdefs.InvalidParameter as exc:
                raise errdefs.InvalidParameter(f"error reading .dockerignore: {exc}") from None
            matcher = PatternMatcher(patterns)
            for name in (".dockerignore", ctx.dockerfile_name):
                if matcher.matches_or_parent_matches(name):
                    remove_from_context(ctx, name)
        df_name = None if ctx.remote_dockerfile else ctx.dockerfile_name
        stages, meta_args, result = parse_dockerfile(ctx.dockerfile, df_name)
        if opts.target:
            plan_stages(stages, opts.target, lambda w: w)
        return stages, meta_args, result.escape_token, result.warning_lines()

    async def _cache_from(self, opts: BuildOptions) -> list[BaseImage]:
        out: list[BaseImage] = []
        for ref in opts.cache_from:
            try:
                out.append(await self.backend.get_image(ref))
            except errdefs.BerthdError as exc:
                log.warning("Could not look up %s for cache resolution, skipping: %s", ref, exc)
        return out

    async def _run(
        self,
        builder: Builder,
        stages: list[ins.Stage],
        meta_args: list[ins.ArgCommand],
        escape: str,
    ) -> None:
        from berthd.builder.state import BuildFailed, short_id

        out = builder.out
        try:
            image_id = await builder.run(stages, meta_args, escape)
            out.stdout(f"Successfully built {short_id(image_id)}\n")
            for tag in builder.opts.tags:
                name = await self.backend.tag(image_id, tag)
                out.stdout(f"Successfully tagged {name}\n")
            if builder.opts.quiet:
                out.finish_quiet(image_id)
        except BuildFailed as exc:
            out.fail(str(exc), exc.code)
        except errdefs.BerthdError as exc:
            out.fail(str(exc))
        except asyncio.CancelledError:
            out.stdout("Build cancelled\n")
            out.fail("Build cancelled")
        except Exception as exc:
            log.exception("build failed")
            out.fail(str(exc))
        finally:
            out.close()

    # -- prune / cancel ---------------------------------------------------------------------
    async def prune(self, all_: bool, filters: FilterArgs, keep_storage: int) -> dict[str, object]:
        """Classic builds keep no BuildKit cache: their intermediates are images
        (``docker image prune`` removes them), so there is nothing to delete."""
        return {"CachesDeleted": None, "SpaceReclaimed": 0}

    async def shutdown(self) -> None:
        """Daemon shutdown: cancel the builds (each removes its running step)."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def cancel(self, build_id: str) -> None:
        task = self._builds.get(build_id)
        if task is not None and not task.done():
            task.cancel()
