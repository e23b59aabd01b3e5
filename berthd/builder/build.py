"""One build: meta ARGs, stages, steps (moby ``builder/dockerfile/builder.go``).

Only the stages the target needs are built (the target is ``--target`` or the
last stage): a stage is needed when the target names it in ``FROM`` or
``COPY --from``, transitively. dockerd builds every stage before the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable

from berthd import errdefs
from berthd.builder import dispatch as d
from berthd.builder.backend import Backend, BaseImage
from berthd.builder.buildargs import BuildArgs
from berthd.builder.cache import ImageProber
from berthd.builder.context import BuildContext
from berthd.builder.dockerfile import commands as ins
from berthd.builder.dockerfile.shell import Lex
from berthd.builder.options import BuildOptions, host_arch, parse_platform
from berthd.builder.runconfig import RunConfig
from berthd.builder.state import BuildFailed, StageState, short_id
from berthd.builder.stream import BuildStream

__all__ = ["Builder", "plan_stages"]

log = logging.getLogger("berthd.builder")


def _stage_index(stages: list[ins.Stage], name: str) -> int:
    for i, s in enumerate(stages):
        if s.name and s.name.lower() == name.lower():
            return i
    return -1


def _check_stage_names(stages: list[ins.Stage]) -> None:
    """dockerd reaches every stage up to the target and refuses a name used twice there;
    the stages berthd skips (not needed by the target) are checked all the same."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name:
            key = stage.name.lower()
            if key in seen:
                raise BuildFailed(f"{stage.name} stage name already used")
            seen.add(key)


def plan_stages(
    stages: list[ins.Stage], target: str, expand: Callable[[str], str]
) -> tuple[int, list[int]]:
    """(target index, the indexes of the stages to build, in order)."""
    if target:
        last = _stage_index(stages, target)
        if last < 0:
            raise errdefs.InvalidParameter(f'target stage "{target}" could not be found')
    else:
        last = len(stages) - 1
    needed: set[int] = set()
    todo = [last]
    while todo:
        i = todo.pop()
        if i in needed:
            continue
        needed.add(i)
        stage = stages[i]
        try:
            base = expand(stage.base_name)
        except errdefs.BerthdError:
            base = stage.base_name
        j = _stage_index(stages[:i], base)
        if j >= 0:
            todo.append(j)
        for cmd in stage.commands:
            src = cmd.from_ if isinstance(cmd, ins.CopyCommand) else ""
            if not src:
                continue
            j = _stage_index(stages[:i], src)
            if j < 0 and src.isdigit() and int(src) < i:
                j = int(src)
            if j >= 0:
                todo.append(j)
    return last, sorted(needed)


class Builder:
    """Runs one parsed Dockerfile against the backend, writing to ``out``."""

    def __init__(
        self,
        backend: Backend,
        opts: BuildOptions,
        ctx: BuildContext,
        out: BuildStream,
        work_root: str,
        cache_from: list[BaseImage],
    ) -> None:
        self.backend = backend
        self.opts = opts
        self.ctx = ctx
        self.out = out
        self.work_root = work_root
        self.prober = ImageProber(backend, cache_from, opts.nocache, bool(opts.cache_from))
        self._cache_from = list(cache_from)
        self.tmp_containers: list[str] = []
        self.stage_results: dict[int, RunConfig] = {}
        self.stage_names: dict[str, int] = {}
        self.current_stage = 0  # the index (in the Dockerfile) of the stage being built
        self.work_dir = ""
        self.platform: tuple[str, str, str] | None = (
            parse_platform(opts.platform) if opts.platform else None
        )

    # -- the whole build -------------------------------------------------------------
    async def run(
        self, stages: list[ins.Stage], meta_args: list[ins.ArgCommand], escape: str
    ) -> str:
        def make_work_dir() -> str:
            os.makedirs(self.work_root, mode=0o700, exist_ok=True)
            return tempfile.mkdtemp(prefix="build-work-", dir=self.work_root)

        self.work_dir = await asyncio.to_thread(make_work_dir)
        try:
            return await self._run(stages, meta_args, escape)
        finally:
            await asyncio.to_thread(shutil.rmtree, self.work_dir, True)
            for cid in self.tmp_containers:
                with contextlib.suppress(errdefs.BerthdError):
                    await asyncio.shield(self.backend.keep_container(cid))

    async def _run(
        self,
        stages: list[ins.Stage],
        meta_args: list[ins.ArgCommand],
        escape: str,
    ) -> str:
        lex = Lex(escape)
        build_args = BuildArgs(self.opts.build_args)
        # meta ARGs are expanded once, before planning (FROM ${X} decides what is needed)
        meta_env_args = BuildArgs(self.opts.build_args)
        for meta in meta_args:
            for key, value in d.expand_arg_values(meta, lex, meta_env_args.all_allowed()):
                meta_env_args.add_arg(key, value)
                meta_env_args.add_meta_arg(key, value)
        meta_env = meta_env_args.all_meta()
        last, order = plan_stages(stages, self.opts.target, lambda w: lex.process_word(w, meta_env))
        label_cmds = d.label_commands(self.opts.labels)
        total = len(meta_args) + sum(1 + len(stages[i].commands) for i in order)
        total += len(label_cmds)
        index = 1
        for meta in meta_args:
            self.out.step(index, total, meta.original)
            index += 1
            for key, value in d.expand_arg_values(meta, lex, build_args.all_allowed()):
                build_args.add_arg(key, value)
                build_args.add_meta_arg(key, value)
        _check_stage_names(stages[: last + 1])
        state = StageState(build_args.clone())
        for i in order:
            stage = stages[i]
            self.current_stage = i
            state = StageState(build_args.clone())
            state.build_args.reset_allowed()
            self.out.step(index, total, stage.original)
            index += 1
            req = d.Dispatch(self, state, lex)
            await d.initialize_stage(req, stage)
            state.run_config.image = state.image_id
            self.out.stdout(f" ---> {short_id(state.image_id)}\n")
            commands: list[ins.Command] = list(stage.commands)
            if i == last:
                commands += label_cmds
            for cmd in commands:
                self.out.step(index, total, cmd.original)
                index += 1
                await d.dispatch(req, cmd)
                state.run_config.image = state.image_id
                self.out.stdout(f" ---> {short_id(state.image_id)}\n")
            if state.image_id and self.opts.aux:
                self.out.aux(state.image_id)
            build_args.merge_referenced(state.build_args)
            result = state.run_config.copy()
            self.stage_results[i] = result
            if stage.name:
                self.stage_names[stage.name.lower()] = i
        warning = build_args.unused_warning()
        if warning:
            self.out.stdout(warning)
        if not state.image_id:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        return state.image_id

    # -- helpers the dispatchers share ---------------------------------------------------
    def platform_of(self, state: StageState) -> tuple[str, str]:
        if self.platform is not None:
            return state.os or self.platform[0], self.platform[1]
        return state.os or "linux", host_arch()

    def reset_cache(self) -> None:
        self.prober.sources = list(self._cache_from)

    async def remove_containers(self) -> None:
        """``containerManager.RemoveAll``."""
        for cid in list(self.tmp_containers):
            try:
                await self.backend.remove_container(cid)
            except errdefs.NotFound:
                pass
            except errdefs.BerthdError as exc:
                self.out.stdout(f"Removing intermediate container {cid[:12]}: {exc}\n")
                continue
            with contextlib.suppress(ValueError):
                self.tmp_containers.remove(cid)
            self.out.stdout(f" ---> Removed intermediate container {cid[:12]}\n")
