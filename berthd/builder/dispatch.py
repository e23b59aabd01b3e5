"""One handler per Dockerfile instruction (moby ``builder/dockerfile/dispatchers.go``).

Every instruction commits an image whose history line is the probe config's
``Cmd`` joined (``/bin/sh -c #(nop)  ENV A=1``); RUN runs a real container;
COPY/ADD write a layer without one. Before each commit the cache is probed.
"""

from __future__ import annotations

import asyncio
import codecs
import posixpath
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from berthd import errdefs
from berthd.builder.backend import BaseImage, CommitStep, CopyToLayer
from berthd.builder.copy import (
    CopySource,
    download,
    prepare_parts,
    resolve_sources,
    source_hash,
)
from berthd.builder.dockerfile import commands as ins
from berthd.builder.dockerfile.instructions import BUILDKIT_ONLY_CHMOD, parse_trigger
from berthd.builder.dockerfile.shell import Lex
from berthd.builder.runconfig import Health, RunConfig, go_list, health_quote
from berthd.builder.session import BuildSession
from berthd.builder.state import DEFAULT_PATH, BuildFailed, StageState
from berthd.builder.stream import BuildStream
from berthd.image.jsonstream import progress_line
from berthd.lib.strconv import quote_list
from berthd.oci import parse_signal

__all__ = [
    "Dispatch",
    "dispatch",
    "expand_arg_values",
    "initialize_stage",
    "label_commands",
]


@dataclass
class Dispatch:
    """``dispatchRequest``."""

    builder: BuildSession
    state: StageState
    lex: Lex

    @property
    def out(self) -> BuildStream:
        return self.builder.out


def _env_map(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in env:
        k, _, v = e.partition("=")
        out.setdefault(k, v)
    return out


def expand_arg_values(
    cmd: ins.ArgCommand, lex: Lex, env: dict[str, str]
) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for key, value in cmd.args:
        out.append((key, lex.process_word(value, env) if value is not None else None))
    return out


def label_commands(labels: dict[str, str]) -> list[ins.Command]:
    """``buildLabelOptions``: ``--label`` as LABEL steps of the last stage (sorted)."""
    return [ins.new_label_command(key, labels[key]) for key in sorted(labels)]


# -- FROM ------------------------------------------------------------------------------
async def initialize_stage(d: Dispatch, stage: ins.Stage) -> None:
    b = d.builder
    b.reset_cache()
    meta = d.state.build_args.all_meta()
    platform = b.platform
    if stage.platform:
        spec = d.lex.process_word(stage.platform, meta)
        from berthd.builder.options import parse_platform

        try:
            platform = parse_platform(spec)
        except errdefs.InvalidParameter as exc:
            raise errdefs.InvalidParameter(f"failed to parse platform {spec}: {exc}") from None
    name = d.lex.process_word(stage.base_name, meta)
    if not name:
        raise errdefs.InvalidParameter(f"base name ({stage.base_name}) should not be blank")
    state = d.state
    state.stage_name = stage.name
    if name.lower() in b.stage_names:
        prev = b.stage_results[b.stage_names[name.lower()]]
        image = await b.backend.get_image(prev.image) if prev.image else None
    elif name == "scratch":
        image = None
        state.os = platform[0] if platform else "linux"
    else:
        image = await _get_image(b, name, platform)
    if image is not None:
        state.image_id = image.id
        state.os = image.os or "linux"
        state.arch = image.architecture
        state.run_config = RunConfig.from_api(image.config)
        state.base = image
    else:
        state.image_id = ""
        state.run_config = RunConfig()
    env = state.run_config.env or []
    if not any(e.partition("=")[0] == "PATH" for e in env):
        state.run_config.env = [*env, "PATH=" + DEFAULT_PATH]
    state.run_config.open_stdin = False
    state.run_config.stdin_once = False
    triggers = state.run_config.on_build or []
    if triggers:
        state.run_config.on_build = None
        n = len(triggers)
        d.out.stdout(f"# Executing {n} build trigger{'s' if n > 1 else ''}\n")
        for trigger in triggers:
            state.run_config.image = state.image_id
            await dispatch(d, parse_trigger(trigger))


async def _get_image(
    b: BuildSession, name: str, platform: tuple[str, str, str] | None
) -> BaseImage:
    """``GetImageAndReleasableLayer``: local first, pull when missing (or ``--pull``)."""
    spec = "/".join(p for p in platform if p) if platform else ""
    local: BaseImage | None = None
    try:
        local = await b.backend.get_image(name)
    except errdefs.NotFound:
        local = None
    if local is not None and not b.opts.pull:
        _check_platform(name, local.os, local.architecture, platform)
        return local
    try:
        await b.backend.pull_image(name, spec, b.opts.registry_auth, b.out.raw)
    except errdefs.NotImplemented_:
        if local is None:
            raise
        return local
    image = await b.backend.get_image(name)
    _check_platform(name, image.os, image.architecture, platform)
    return image


def _check_platform(name: str, os_: str, arch: str, want: tuple[str, str, str] | None) -> None:
    if want is None:
        return
    if (want[0] and os_ and want[0] != os_) or (want[1] and arch and want[1] != arch):
        wanted = "/".join(p for p in want if p)
        raise errdefs.NotFound(
            f"image with reference {name} was found but does not match the specified "
            f"platform: wanted {wanted}, actual: {os_}/{arch}"
        )


# -- the dispatch loop -----------------------------------------------------------------
async def dispatch(d: Dispatch, cmd: ins.Command) -> None:
    b = d.builder
    state = d.state
    env = list(state.run_config.env or [])
    envs = _env_map(env + state.build_args.filter_allowed(env))
    expand = getattr(cmd, "expand", None)
    if expand is not None and not getattr(cmd, "no_expand", False):
        lex = d.lex

        def word(w: str) -> str:
            return lex.process_word(w, envs)

        expand(word)
    ok = False
    try:
        await _dispatch(d, cmd, envs)
        ok = True
    finally:
        if b.opts.force_remove or (b.opts.remove and ok):
            await b.remove_containers()


async def _dispatch(d: Dispatch, cmd: ins.Command, envs: dict[str, str]) -> None:
    if isinstance(cmd, ins.EnvCommand):
        await _env(d, cmd)
    elif isinstance(cmd, ins.MaintainerCommand):
        d.state.maintainer = cmd.maintainer
        await commit(d, "MAINTAINER " + cmd.maintainer)
    elif isinstance(cmd, ins.LabelCommand):
        labels = dict(d.state.run_config.labels or {})
        text = "LABEL"
        for k, v in cmd.labels:
            labels[k] = v
            text += f" {k}={v}"
        d.state.run_config.labels = labels
        await commit(d, text)
    elif isinstance(cmd, ins.AddCommand):
        await _copy(d, "ADD", cmd.sources, cmd.dest, cmd.chown, cmd.chmod, "", True)
    elif isinstance(cmd, ins.CopyCommand):
        await _copy(d, "COPY", cmd.sources, cmd.dest, cmd.chown, cmd.chmod, cmd.from_, False)
    elif isinstance(cmd, ins.OnbuildCommand):
        rc = d.state.run_config
        rc.on_build = [*(rc.on_build or []), cmd.expression]
        await commit(d, "ONBUILD " + cmd.expression)
    elif isinstance(cmd, ins.WorkdirCommand):
        await _workdir(d, cmd.path)
    elif isinstance(cmd, ins.RunCommand):
        await _run(d, cmd)
    elif isinstance(cmd, ins.CmdCommand):
        rc = d.state.run_config
        rc.cmd = _cmdline(cmd.cmd, cmd.prepend_shell, rc)
        rc.args_escaped = False
        await commit(d, f"CMD {quote_list(rc.cmd or [])}")
        if cmd.cmd:
            d.state.cmd_set = True
    elif isinstance(cmd, ins.HealthCheckCommand):
        await _healthcheck(d, cmd)
    elif isinstance(cmd, ins.EntrypointCommand):
        rc = d.state.run_config
        rc.entrypoint = _cmdline(cmd.cmd, cmd.prepend_shell, rc)
        rc.args_escaped = False
        if not d.state.cmd_set:
            rc.cmd = None
        await commit(d, f"ENTRYPOINT {quote_list(rc.entrypoint or [])}")
    elif isinstance(cmd, ins.ExposeCommand):
        await _expose(d, cmd, envs)
    elif isinstance(cmd, ins.UserCommand):
        d.state.run_config.user = cmd.user
        await commit(d, f"USER {cmd.user}")
    elif isinstance(cmd, ins.VolumeCommand):
        vols = dict(d.state.run_config.volumes or {})
        for v in cmd.volumes:
            if not v:
                raise errdefs.InvalidParameter("VOLUME specified can not be an empty string")
            vols[v] = {}
        d.state.run_config.volumes = vols
        await commit(d, f"VOLUME {go_list(cmd.volumes)}")
    elif isinstance(cmd, ins.StopSignalCommand):
        try:
            parse_signal(cmd.signal)
        except errdefs.BerthdError as exc:
            raise errdefs.InvalidParameter(str(exc)) from None
        d.state.run_config.stop_signal = cmd.signal
        await commit(d, f"STOPSIGNAL {cmd.signal}")
    elif isinstance(cmd, ins.ArgCommand):
        parts = []
        for key, value in cmd.args:
            parts.append(key if value is None else f"{key}={value}")
            d.state.build_args.add_arg(key, value)
        await commit(d, "ARG " + " ".join(parts))
    elif isinstance(cmd, ins.ShellCommand):
        d.state.run_config.shell = list(cmd.shell)
        await commit(d, f"SHELL {go_list(cmd.shell)}")
    else:
        raise errdefs.InvalidParameter(f"unsupported command type: {type(cmd).__name__}")


def _cmdline(cmd: list[str] | None, prepend_shell: bool, rc: RunConfig) -> list[str] | None:
    if cmd is None:
        return None
    if prepend_shell and cmd:
        return [*rc.get_shell(), *cmd]
    return list(cmd)


# -- commit ----------------------------------------------------------------------------
async def probe_cache(d: Dispatch, probe: RunConfig) -> bool:
    b = d.builder
    os_, arch = b.platform_of(d.state)
    cached = await b.prober.probe(d.state.image_id, probe, os_, arch)
    if not cached:
        return False
    d.out.stdout(" ---> Using cache\n")
    d.state.image_id = cached
    return True


async def create_container(d: Dispatch, config: RunConfig, *, shared: bool = False) -> str:
    """Create a step's container. With ``shared`` the config is the probe config
    itself, which dockerd's create fills in (the hostname, empty labels) before it
    becomes the image's ``container_config``: so is ours."""
    b = d.builder
    created = await b.backend.create_container(config.to_api(), b.opts.host)
    cid = created.id
    b.tmp_containers.append(cid)
    for warning in created.warnings:
        d.out.stdout(f" ---> [Warning] {warning}\n")
    if shared:
        config.hostname = config.hostname or cid[:12]
        if config.labels is None:
            config.labels = {}
    d.out.stdout(f" ---> Running in {cid[:12]}\n")
    return cid


async def commit_container(d: Dispatch, cid: str, probe: RunConfig) -> None:
    state = d.state
    req = CommitStep(cid, state.run_config.copy().to_api(), probe.to_api(), state.maintainer)
    state.image_id = await d.builder.backend.commit(req)


async def _commit_without_container(d: Dispatch, probe: RunConfig) -> None:
    """FROM scratch has no image to run a container from: write the image directly."""
    state = d.state
    req = CopyToLayer(
        parent="",
        parts=[],
        config=state.run_config.copy().to_api(),
        container_config=probe.to_api(),
        author=state.maintainer,
        uid=0,
        gid=0,
    )
    state.image_id = await d.builder.backend.copy_to_layer(req)


async def commit(d: Dispatch, comment: str) -> None:
    """``Builder.commit``: probe, else create a container and commit it."""
    probe = d.state.run_config.with_nop(comment)
    await _probe_and_commit(d, probe)


async def _probe_and_commit(d: Dispatch, probe: RunConfig) -> str:
    if await probe_cache(d, probe):
        return ""
    if not d.state.image_id:
        await _commit_without_container(d, probe)
        return ""
    cid = await create_container(d, probe, shared=True)
    await commit_container(d, cid, probe)
    return cid


# -- ENV, EXPOSE, HEALTHCHECK, WORKDIR --------------------------------------------------
async def _env(d: Dispatch, cmd: ins.EnvCommand) -> None:
    rc = d.state.run_config
    env = list(rc.env or [])
    text = "ENV"
    for key, value in cmd.env:
        new = f"{key}={value}"
        text += " " + new
        for i, e in enumerate(env):
            if e.partition("=")[0] == key:
                env[i] = new
                break
        else:
            env.append(new)
    rc.env = env
    await commit(d, text)


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(\w+))?$")


def _port_specs(ports: list[str]) -> list[str]:
    out: list[str] = []
    for raw in ports:
        spec = raw.rsplit(":", 1)[-1] if raw.count(":") else raw
        m = _PORT.match(spec)
        if not m:
            raise errdefs.InvalidParameter(f"invalid containerPort: {raw}")
        start = int(m.group(1))
        end = int(m.group(2) or start)
        proto = (m.group(3) or "tcp").lower()
        if end < start:
            raise errdefs.InvalidParameter(f"invalid containerPort: {raw}")
        out += [f"{p}/{proto}" for p in range(start, end + 1)]
    return out


async def _expose(d: Dispatch, cmd: ins.ExposeCommand, envs: dict[str, str]) -> None:
    ports: list[str] = []
    for p in cmd.ports:
        ports += d.lex.process_words(p, envs)
    exposed = dict(d.state.run_config.exposed_ports or {})
    for p in _port_specs(ports):
        exposed[p] = {}
    d.state.run_config.exposed_ports = exposed
    await commit(d, "EXPOSE " + " ".join(ports))


async def _healthcheck(d: Dispatch, cmd: ins.HealthCheckCommand) -> None:
    rc = d.state.run_config
    if rc.healthcheck is not None:
        old = rc.healthcheck.test
        if old and old[0] != "NONE":
            d.out.stdout(f"Note: overriding previous HEALTHCHECK: {go_list(old)}\n")
    rc.healthcheck = Health(
        test=list(cmd.test),
        interval=cmd.interval_ns,
        timeout=cmd.timeout_ns,
        start_period=cmd.start_period_ns,
        start_interval=cmd.start_interval_ns,
        retries=cmd.retries,
    )
    await commit(d, f"HEALTHCHECK {health_quote(rc.healthcheck)}")


def normalize_workdir(current: str, requested: str) -> str:
    if not requested:
        raise errdefs.InvalidParameter("cannot normalize nothing")
    joined = requested if requested.startswith("/") else posixpath.join(current or "/", requested)
    return posixpath.normpath(joined) if joined != "/" else "/"


async def _workdir(d: Dispatch, path: str) -> None:
    rc = d.state.run_config
    rc.working_dir = normalize_workdir(rc.working_dir, path)
    probe = rc.with_nop_string("WORKDIR " + rc.working_dir)
    if await probe_cache(d, probe):
        return
    if not d.state.image_id:
        await _commit_without_container(d, probe)
        return
    cid = await create_container(d, probe, shared=True)
    await d.builder.backend.make_workdir(cid, rc.working_dir)
    await commit_container(d, cid, probe)


# -- RUN --------------------------------------------------------------------------------
def _prepend_env(state: StageState, build_args: list[str], cmd: list[str]) -> list[str]:
    used = sorted(
        e for e in build_args if state.build_args.is_referenced_or_not_builtin(e.split("=", 1)[0])
    )
    return [f"|{len(used)}", *used, *cmd]


async def _run(d: Dispatch, cmd: ins.RunCommand) -> None:
    state = d.state
    rc = state.run_config
    refusal = cmd.buildkit_only_error()
    if refusal:
        raise BuildFailed(refusal)
    if not state.image_id:
        raise BuildFailed("Please provide a source image with `from` prior to run")
    argv = _cmdline(cmd.cmd, cmd.prepend_shell, rc) or []
    build_args = state.build_args.filter_allowed(rc.env)
    save_cmd = _prepend_env(state, build_args, argv) if build_args else argv
    probe = rc.replace(cmd=save_cmd, args_escaped=False)
    if save_cmd:
        probe.entrypoint = None
    if await probe_cache(d, probe):
        return
    run_cfg = rc.replace(cmd=argv, args_escaped=False, env=[*(rc.env or []), *build_args])
    if save_cmd:
        run_cfg.entrypoint = [""]
    run_cfg.healthcheck = Health(test=["NONE"])
    cid = await create_container(d, run_cfg)
    decoders = {1: codecs.getincrementaldecoder("utf-8")("replace")}
    decoders[2] = codecs.getincrementaldecoder("utf-8")("replace")

    async def output(stream: int, data: bytes) -> None:
        await d.out.wait_room()
        text = decoders[stream].decode(data)
        if not text:
            return
        if stream == 2:
            d.out.stderr(text)
        else:
            d.out.stdout(text)

    code = await d.builder.backend.run_container(cid, output)
    if code != 0:
        raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
    await commit_container(d, cid, probe)


# -- COPY / ADD -------------------------------------------------------------------------
def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _normalize_dest(workdir: str, dest: str) -> str:
    if dest.startswith("/"):
        return dest
    joined = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    if dest.endswith("/") or dest in (".", "./"):
        joined = joined.rstrip("/") + "/"
    return joined


async def _copy(
    d: Dispatch,
    name: str,
    sources: list[str],
    dest: str,
    chown: str,
    chmod: str,
    from_: str,
    add: bool,
) -> None:
    b = d.builder
    state = d.state
    if chmod:
        raise BuildFailed(BUILDKIT_ONLY_CHMOD)
    mount = ""
    try:
        if from_:
            image_id = await _from_image(d, from_)
            mount = await b.backend.mount_image(image_id)
        root = mount or b.ctx.root
        loop = asyncio.get_running_loop()

        def progress(current: int, total: int) -> None:
            line = progress_line("", "Downloading", current, total)
            loop.call_soon_threadsafe(d.out.raw, line)

        work, infos = await asyncio.to_thread(
            _gather, name, root, sources, add, b.work_dir, bool(mount), progress
        )
        if any(_is_url(s) for s in sources):
            d.out.stdout("\n")
        if len(infos) > 1 and not dest.endswith("/"):
            raise BuildFailed(
                f"When using {name} with more than one source file, the destination must "
                "be a directory and end with a /"
            )
        chown_comment = f"--chown={chown} " if chown else ""
        comment = f"{name} {chown_comment}{source_hash(infos)} in {dest} "
        probe = state.run_config.with_nop_string(comment)
        if await probe_cache(d, probe):
            return
        dest_path = _normalize_dest(state.run_config.working_dir, dest)
        identity: tuple[int, int] | None = (0, 0)
        if chown:
            identity = await _chown_identity(d, chown)
        elif from_:
            identity = None
        parts = await asyncio.to_thread(prepare_parts, infos, dest_path, identity, work)
        uid, gid = identity or (0, 0)
        req = CopyToLayer(
            parent=state.image_id,
            parts=parts,
            config=state.run_config.copy().to_api(),
            container_config=probe.to_api(),
            author=state.maintainer,
            uid=uid,
            gid=gid,
        )
        state.image_id = await b.backend.copy_to_layer(req)
    finally:
        if mount:
            await b.backend.unmount_image(mount)


def _gather(
    name: str,
    root: str,
    sources: list[str],
    add: bool,
    work_root: str,
    image: bool,
    progress: Callable[[int, int], None],
) -> tuple[str, list[CopySource]]:
    """Blocking: a work dir for this step, and its sources resolved (URLs fetched)."""
    work = tempfile.mkdtemp(prefix="copy-", dir=work_root)
    infos: list[CopySource] = []
    local: list[str] = []
    for src in sources:
        if _is_url(src):
            if not add:
                raise BuildFailed(f"source can't be a URL for {name}")
            infos.append(download(src, work, progress))
            continue
        local.append(src)
    try:
        if local:
            infos = resolve_sources(root, local, add, image) + infos
    except errdefs.InvalidParameter as exc:
        raise BuildFailed(f"{name} failed: {exc}") from None
    return work, infos


async def _from_image(d: Dispatch, ref: str) -> str:
    b = d.builder
    key = ref.lower()
    if key in b.stage_names:
        return b.stage_results[b.stage_names[key]].image
    if ref.isdigit():
        i = int(ref)
        current = b.current_stage
        if i in b.stage_results and i < current:
            return b.stage_results[i].image
        what = "refers to current build stage" if i == current else "index out of bounds"
        raise BuildFailed(f"invalid from flag value {ref}: {what}")
    try:
        image = await _get_image(b, ref, b.platform)
    except errdefs.BerthdError as exc:
        # moby wraps whatever getImageMount says
        exc.message = f"invalid from flag value {ref}: {exc.message}"
        raise
    return str(image.id)


async def _chown_identity(d: Dispatch, chown: str) -> tuple[int, int]:
    """``parseChownFlag``: ``user[:group]`` by number or by name in the image's files."""
    parts = chown.split(":")
    if len(parts) > 2:
        raise BuildFailed(
            "unable to convert uid/gid chown string to host mapping: "
            f"invalid chown string format: {chown}"
        )
    user, group = parts[0], parts[-1]
    if user.isdigit() and group.isdigit():
        return int(user), int(group)
    b = d.builder
    mount = await b.backend.mount_image(d.state.image_id) if d.state.image_id else ""
    try:
        return await asyncio.to_thread(_lookup_ids, mount, user, group)
    finally:
        if mount:
            await b.backend.unmount_image(mount)


def _lookup_ids(root: str, user: str, group: str) -> tuple[int, int]:
    from berthd.builder.scoped import resolve_in_scope

    def lookup(file: str, name: str, what: str) -> int:
        if name.isdigit():
            return int(name)
        path = resolve_in_scope(root, file) if root else ""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                        return int(fields[2])
        except OSError:
            pass
        raise BuildFailed(
            "unable to convert uid/gid chown string to host mapping: "
            f"can't find {what} for {'user' if what == 'uid' else 'group'} {name}: "
            f"no such {'user' if what == 'uid' else 'group'}: {name}"
        )

    return lookup("/etc/passwd", user, "uid"), lookup("/etc/group", group, "gid")
