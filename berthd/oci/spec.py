"""``build_spec``: a container's Config/HostConfig → the OCI ``config.json`` dict.

The composition root of this package, in dockerd's ``createSpec`` order: common
options (root, argv, env, hostname), cgroups, resources, sysctls, devices,
rlimits, namespaces, user, capabilities, seccomp, mounts, OOM score. Daemon-level
facts (cgroup parent, tini's path, default ulimits, the default seccomp
profile, namespace paths of other containers, the volume-store hook) come in
through :class:`SpecOptions`; nothing here looks anything up by itself beyond
the rootfs' passwd/group, /proc and host device nodes.

Errors are raised as ``InvalidParameter`` (dockerd's wording). dockerd reports
an error found while building the spec at *start* as a System error (500);
the daemon wraps accordingly. ``validate_host_config`` is the create-time part.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berthd.errdefs import InvalidParameter, System

from . import caps as capsmod
from . import devices as devmod
from . import mounts as mountsmod
from . import process, resources, seccomp, sysctls, ulimits, user
from .defaults import DEFAULT_SHM_SIZE, default_spec
from .propagation import check_propagation
from .security_opts import SecurityOptions, parse_security_opts
from .signals import parse_signal

__all__ = ["SpecOptions", "build_spec", "validate_host_config"]


@dataclass
class SpecOptions:
    """Daemon configuration and per-start facts the spec depends on."""

    cgroup_parent: str = "/berthd"
    init_path: str | None = None  # default: docker-init, tini-static or tini from $PATH
    default_init: bool = False  # daemon --init
    default_ulimits: list[dict[str, Any]] = field(default_factory=list)
    # Text of the daemon's default seccomp profile; None = read the containers-common one;
    # "unconfined" = the daemon runs without a default profile.
    seccomp_default: str | None = None
    no_new_privileges: bool = False
    # Namespace paths to join, keyed by OCI type ("network", "ipc", "pid"): the
    # daemon resolves container:<id> modes and its own netns here.
    namespace_paths: dict[str, str] = field(default_factory=dict)
    # Already-resolved mounts the daemon adds (/etc/hosts, /etc/resolv.conf, a shared /dev/shm).
    extra_mounts: list[mountsmod.MountPoint] = field(default_factory=list)
    resolve_volume: mountsmod.VolumeResolver | None = None
    linked_env: list[str] = field(default_factory=list)
    # Overrides for tests; default: this host.
    last_cap: int | None = None
    arch: str | None = None
    kernel: tuple[int, int, int] | None = None
    num_cpus: int | None = None
    cgroup_v2: bool | None = None  # None = detect (unified hierarchy mounted at /sys/fs/cgroup)


def _container_mode(mode: str) -> bool:
    return mode.startswith("container:")


def _check_modes(hc: Mapping[str, Any]) -> None:
    ipc = str(hc.get("IpcMode") or "")
    if ipc not in ("", "private", "shareable", "none", "host") and not (
        _container_mode(ipc) and ipc != "container:"
    ):
        raise InvalidParameter(f"invalid IPC mode: {ipc}")
    pid = str(hc.get("PidMode") or "")
    if pid not in ("", "host") and not (_container_mode(pid) and pid != "container:"):
        raise InvalidParameter(f"invalid PID mode: {pid}")
    uts = str(hc.get("UTSMode") or "")
    if uts not in ("", "host"):
        raise InvalidParameter(f"invalid UTS mode: {uts}")
    cgns = str(hc.get("CgroupnsMode") or "")
    if cgns not in ("", "private", "host"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {cgns}")


def validate_host_config(
    config: Mapping[str, Any], host_config: Mapping[str, Any], num_cpus: int | None = None
) -> list[str]:
    """Create-time checks (dockerd's verifyContainerSettings part that concerns the spec).

    Returns warnings; raises InvalidParameter with dockerd's wording.
    """
    wd = str(config.get("WorkingDir") or "")
    if wd and not posixpath.isabs(wd):
        raise InvalidParameter(
            f"the working directory '{wd}' is invalid, it needs to be an absolute path"
        )
    hc = resources.adapt_resources(host_config)
    warnings = resources.validate_resources(hc, num_cpus=num_cpus)
    _check_modes(hc)
    parse_security_opts(hc.get("SecurityOpt"))
    capsmod.tweak_capabilities(adds=hc.get("CapAdd"), drops=hc.get("CapDrop"))
    mountsmod.container_mount_points(hc, resolve_volume=lambda mp: "/")
    for data in (hc.get("Tmpfs") or {}).values():
        mountsmod.merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate", *_split(data)])
    ulimits.rlimits(hc.get("Ulimits"))
    devmod.append_cgroup_rules([], hc.get("DeviceCgroupRules"))
    if config.get("StopSignal"):
        parse_signal(str(config["StopSignal"]))
    return warnings


def _split(data: str) -> list[str]:
    return data.split(",") if data else []


def _set_namespace(spec: dict[str, Any], ns_type: str, path: str | None) -> None:
    nss: list[dict[str, Any]] = spec["linux"]["namespaces"]
    entry: dict[str, Any] = {"type": ns_type}
    if path:
        entry["path"] = path
    for i, ns in enumerate(nss):
        if ns["type"] == ns_type:
            nss[i] = entry
            return
    nss.append(entry)


def _remove_namespace(spec: dict[str, Any], ns_type: str) -> None:
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != ns_type]


def _join_path(opts: SpecOptions, ns_type: str, mode: str) -> str:
    path = opts.namespace_paths.get(ns_type)
    if not path:
        raise InvalidParameter(f"cannot join {ns_type} namespace of {mode}: no path given")
    return path


def _namespaces(spec: dict[str, Any], hc: Mapping[str, Any], opts: SpecOptions) -> None:
    net = str(hc.get("NetworkMode") or "")
    if net == "host":
        _remove_namespace(spec, "network")
    elif _container_mode(net):
        _set_namespace(spec, "network", _join_path(opts, "network", net))
    else:
        _set_namespace(spec, "network", opts.namespace_paths.get("network"))

    ipc = str(hc.get("IpcMode") or "")
    if ipc == "host":
        _remove_namespace(spec, "ipc")
    elif _container_mode(ipc):
        _set_namespace(spec, "ipc", _join_path(opts, "ipc", ipc))
    else:
        _set_namespace(spec, "ipc", None)

    pid = str(hc.get("PidMode") or "")
    if pid == "host":
        _remove_namespace(spec, "pid")
    elif _container_mode(pid):
        _set_namespace(spec, "pid", _join_path(opts, "pid", pid))

    if hc.get("UTSMode") == "host":
        _remove_namespace(spec, "uts")
        spec.pop("hostname", None)

    # dockerd's default: "host" on cgroup v1/hybrid hosts like this one (and for
    # privileged containers there), "private" on unified v2 hosts.
    cgns = str(hc.get("CgroupnsMode") or "")
    if not cgns:
        v2 = _cgroup_v2() if opts.cgroup_v2 is None else opts.cgroup_v2
        cgns = "private" if v2 else "host"
    if cgns == "private":
        _set_namespace(spec, "cgroup", None)


def _cgroup_v2() -> bool:
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _has_ns(spec: dict[str, Any], ns_type: str) -> bool:
    return any(n["type"] == ns_type and "path" not in n for n in spec["linux"]["namespaces"])


def _init_binary(opts: SpecOptions) -> str:
    # The binary runs inside any image, so it must be static: Debian's tini is
    # dynamic, tini-static is what Debian's docker.io ships as docker-init.
    path = (
        opts.init_path
        or shutil.which("docker-init")
        or shutil.which("tini-static")
        or shutil.which("tini")
    )
    if not path:
        raise System('exec: "docker-init": executable file not found in $PATH')
    return path


def _seccomp(
    sec: SecurityOptions, privileged: bool, cap_list: Sequence[str], opts: SpecOptions
) -> dict[str, Any] | None:
    profile = sec.seccomp_profile
    if profile == seccomp.UNCONFINED or privileged:
        return None
    if profile and profile != "builtin":
        body = profile
    elif opts.seccomp_default == seccomp.UNCONFINED and not profile:
        return None
    elif opts.seccomp_default is not None and not profile:
        body = opts.seccomp_default
    else:
        try:
            body = seccomp.read_default_profile()
        except OSError as e:
            raise System(f"cannot read the default seccomp profile: {e}") from None
    loaded = seccomp.load_profile(body)
    return seccomp.setup_seccomp(loaded, cap_list, arch=opts.arch, kernel=opts.kernel)


def build_spec(
    container_id: str,
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    rootfs: str,
    options: SpecOptions | None = None,
) -> dict[str, Any]:
    """The OCI runtime spec of one container, as dockerd would write it.

    ``config``/``host_config`` are the Docker API ``Config``/``HostConfig`` (image
    defaults already merged, Hostname already defaulted); ``rootfs`` is the
    mounted root filesystem (absolute path).
    """
    opts = options or SpecOptions()
    hc = resources.adapt_resources(host_config)
    _check_modes(hc)
    privileged = bool(hc.get("Privileged"))
    sec = parse_security_opts(hc.get("SecurityOpt"), opts.no_new_privileges)
    spec = default_spec()

    # common options: root, argv, cwd, env, terminal, hostname
    spec["root"] = {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))}
    path, args = process.entrypoint_and_args(config.get("Entrypoint"), config.get("Cmd"))
    pid_mode = str(hc.get("PidMode") or "")
    want_init = hc.get("Init") if hc.get("Init") is not None else opts.default_init
    use_init = bool(want_init) and pid_mode == ""
    proc: dict[str, Any] = spec["process"]
    proc["args"] = process.process_args(path, args, use_init)
    if use_init:
        spec["mounts"].append(process.init_mount(_init_binary(opts)))
    proc["cwd"] = posixpath.normpath(str(config.get("WorkingDir") or "/"))
    proc["terminal"] = bool(config.get("Tty"))
    hostname = str(config.get("Hostname") or "")
    if hostname:
        spec["hostname"] = hostname

    # cgroups and resources
    linux: dict[str, Any] = spec["linux"]
    linux["cgroupsPath"] = resources.cgroups_path(
        container_id, str(hc.get("CgroupParent") or ""), opts.cgroup_parent
    )
    resources.validate_resources(hc, num_cpus=opts.num_cpus)
    res = resources.linux_resources(hc)

    # devices
    if privileged:
        linux["devices"] = devmod.host_devices()
        for d in hc.get("Devices") or []:
            if d.get("PathOnHost") == d.get("PathInContainer"):
                continue
            devs, _ = devmod.devices_from_path(
                str(d.get("PathOnHost") or ""), str(d.get("PathInContainer") or ""), "rwm"
            )
            linux["devices"].extend(devs)
        res["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        rules = linux["resources"]["devices"]
        for d in hc.get("Devices") or []:
            host_path = str(d.get("PathOnHost") or "")
            devs, more = devmod.devices_from_path(
                host_path,
                str(d.get("PathInContainer") or host_path),
                d.get("CgroupPermissions") or "rwm",
            )
            linux["devices"].extend(devs)
            rules.extend(more)
        res["devices"] = devmod.append_cgroup_rules(rules, hc.get("DeviceCgroupRules"))
    linux["resources"] = res

    # rlimits
    rl = ulimits.rlimits(hc.get("Ulimits"), opts.default_ulimits)
    if rl:
        proc["rlimits"] = rl

    # namespaces and sysctls (the network defaults only with a netns of our own)
    _namespaces(spec, hc, opts)
    net = str(hc.get("NetworkMode") or "")
    own_net = net != "host" and not _container_mode(net) and "network" not in opts.namespace_paths
    linux["sysctl"] = sysctls.build_sysctls(
        hc.get("Sysctls"), str(config.get("Domainname") or ""), new_net_namespace=own_net
    )
    sysctls.validate_sysctls(
        linux["sysctl"],
        private_ipc=_has_ns(spec, "ipc") or _container_mode(str(hc.get("IpcMode") or "")),
        private_net=net != "host",
        private_uts=_has_ns(spec, "uts"),
    )
    if not linux["sysctl"]:
        del linux["sysctl"]

    # user, env, capabilities (non-root gets only a bounding set, as execve would)
    spec_user, home = user.spec_user(rootfs, str(config.get("User") or ""), hc.get("GroupAdd"))
    proc["user"] = spec_user
    proc["env"] = process.container_env(config, opts.linked_env, home)
    cap_list = capsmod.tweak_capabilities(
        adds=hc.get("CapAdd"),
        drops=hc.get("CapDrop"),
        privileged=privileged,
        last_cap=opts.last_cap,
    )
    if spec_user["uid"] == 0:
        proc["capabilities"] = {
            "bounding": list(cap_list),
            "effective": list(cap_list),
            "permitted": list(cap_list),
        }
    else:
        proc["capabilities"] = {"bounding": list(cap_list)}
    if sec.no_new_privileges:
        proc["noNewPrivileges"] = True

    # seccomp
    sc = _seccomp(sec, privileged, cap_list, opts)
    if sc is not None:
        linux["seccomp"] = sc

    # mounts
    points = mountsmod.container_mount_points(hc, opts.resolve_volume)
    # The daemon's own mounts (/etc/hosts …) give way to a user mount at the same place.
    taken = {p.destination for p in points}
    points += [p for p in opts.extra_mounts if posixpath.normpath(p.destination) not in taken]
    for p in points:
        if p.type == "bind":
            check_propagation(p.source, p.propagation)
    spec["mounts"], root_prop = mountsmod.build_mounts(
        spec["mounts"],
        points,
        tmpfs=hc.get("Tmpfs") or {},
        shm_size=int(hc.get("ShmSize") or DEFAULT_SHM_SIZE),
        ipc_mode=str(hc.get("IpcMode") or "private"),
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        privileged=privileged,
    )
    if root_prop:
        linux["rootfsPropagation"] = root_prop
    if privileged:
        del linux["maskedPaths"]
        del linux["readonlyPaths"]

    proc["oomScoreAdj"] = int(hc.get("OomScoreAdj") or 0)
    annotations = hc.get("Annotations")
    if annotations:
        spec["annotations"] = dict(annotations)
    return spec
