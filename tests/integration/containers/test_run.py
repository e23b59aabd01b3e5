"""``docker run`` options and image-config semantics, checked from inside the container.

Each expectation is what dockerd 28 does with the same CLI; the seeded image's
/etc/passwd has root, daemon, nobody and app (1000); /etc/group has staff (50)
with member app.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import CFG_IMAGE, Env, pty_cli, uniq

# dockerd's default capability set (oci/caps/defaults.go) as a CapEff mask
DEFAULT_CAPS = 0xA80425FB
CAP_NET_ADMIN = 12
CAP_CHOWN = 0


def status_field(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", text, re.M)
    assert m, f"{name} not in {text!r}"
    return m.group(1).strip()


def host_cap_bound() -> int:
    return int(status_field(Path("/proc/self/status").read_text(), "CapBnd"), 16)


# -- the basic modes -----------------------------------------------------------------------


def test_run_detached_prints_full_id_and_runs(env: Env) -> None:
    r = env.run("run", "-d", "busybox", "sleep", "300")
    assert r.rc == 0, r.err
    cid = r.out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    st = env.inspect(cid)["State"]
    assert st["Running"] is True and st["Status"] == "running" and st["Pid"] > 0
    env.ok("rm", "-f", cid)


def test_run_rm_removes_the_container(env: Env) -> None:
    name = uniq("rm")
    r = env.run("run", "--rm", "--name", name, "busybox", "sh", "-c", "echo bye; exit 2")
    assert (r.rc, r.out) == (2, "bye\n"), r.err
    assert env.run("inspect", name).rc == 1
    assert name not in env.ok("ps", "-a", "--format", "{{.Names}}")


def test_run_foreground_keeps_streams_apart(env: Env) -> None:
    r = env.run("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.rc, r.out, r.err) == (0, "out\n", "err\n")


def test_run_interactive_stdin_eof_ends_cat(env: Env) -> None:
    r = env.run("run", "--rm", "-i", "busybox", "cat", stdin="x\ny\n", timeout=20)
    assert (r.rc, r.out) == (0, "x\ny\n"), r.err


def test_run_interactive_large_stdin(env: Env) -> None:
    data = os.urandom(300_000).hex()  # 600 KB: many 32 KiB conmon messages
    r = env.run("run", "--rm", "-i", "busybox", "md5sum", stdin=data, timeout=30)
    import hashlib

    assert r.rc == 0, r.err
    assert r.out.split()[0] == hashlib.md5(data.encode()).hexdigest()


def test_run_without_i_gives_no_stdin(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "cat", stdin="ignored\n", timeout=20)
    assert (r.rc, r.out) == (0, ""), r.err


def test_run_tty_has_the_client_size_from_the_start(env: Env) -> None:
    """HostConfig.ConsoleSize (sent by the CLI at create) is the size from the first
    instruction; no resize call is made here, so nothing can race it."""
    api = env.client.api
    c = api.create_container(
        "busybox",
        ["stty", "size"],
        tty=True,
        host_config={"ConsoleSize": [33, 97], "NetworkMode": "none"},
    )
    try:
        s = api.attach_socket(c["Id"], params={"stdout": 1, "stream": 1})
        raw = s._sock
        raw.settimeout(10)
        api.start(c["Id"])
        out = b""
        while chunk := raw.recv(4096):
            out += chunk
        s.close()
        assert api.wait(c["Id"], timeout=10)["StatusCode"] == 0, out
        assert out.replace(b"\r", b"") == b"33 97\n"
    finally:
        api.remove_container(c["Id"], force=True)


def test_run_tty_device(env: Env) -> None:
    p = pty_cli(env, "run", "--rm", "-t", "--network", "none", "busybox", "tty")
    try:
        assert p.wait() == 0, p.buf
    finally:
        p.close()
    assert re.fullmatch(rb"/dev/pts/\d+\r*\n", p.buf), p.buf


def test_run_it_shell_resize_and_exit_code(env: Env) -> None:
    p = pty_cli(env, "run", "--rm", "-it", "--network", "none", "busybox", "sh", rows=24, cols=80)
    try:
        p.expect(b"/ # ")
        p.resize(40, 120)

        def sees_new_size() -> bool:
            p.send(b"stty size\n")
            p._read(0.3)
            return b"40 120" in p.buf

        # the resize travels CLI → daemon → conmon; poll until the shell sees it
        wait_for(sees_new_size, 10)
        p.send(b"exit 7\n")
        assert p.wait() == 7
    finally:
        p.close()


def test_run_tty_without_terminal_on_client(env: Env) -> None:
    # -t alone works without a client tty; the container still gets a terminal
    r = env.run("run", "--rm", "-t", "busybox", "tty")
    assert r.rc == 0, r.err
    assert re.fullmatch(r"/dev/pts/\d+\r?\n", r.out)


def test_run_name_is_in_inspect_and_ps(env: Env) -> None:
    name = uniq("named")
    cid = env.ok("run", "-d", "--name", name, "busybox", "true").strip()
    env.ok("wait", name)
    info = env.inspect(name)
    assert info["Id"] == cid and info["Name"] == "/" + name
    assert env.ok("ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}") == name + "\n"
    env.ok("rm", name)


# -- environment, working dir, user ----------------------------------------------------------


def test_env_flags_and_env_file(env: Env, tmp_path: Path) -> None:
    f = tmp_path / "env.list"
    f.write_text("# comment\nFROMFILE=yes\nSPACED=a b\n\nPASSTHRU2\n")
    env_vars = {**env.env, "PASSTHRU": "from-client", "PASSTHRU2": "client2"}
    import subprocess

    proc = subprocess.run(
        env.argv(
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "PASSTHRU",
            "-e",
            "UNSET_ON_CLIENT_XYZ",
            "--env-file",
            str(f),
            "busybox",
            "env",
        ),
        env=env_vars,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    got = set(proc.stdout.splitlines())
    for line in ("A=1", "PASSTHRU=from-client", "FROMFILE=yes", "SPACED=a b", "PASSTHRU2=client2"):
        assert line in got, proc.stdout
    assert not any(v.startswith("UNSET_ON_CLIENT_XYZ") for v in got)
    assert any(v.startswith("PATH=") for v in got)
    assert any(v.startswith("HOSTNAME=") for v in got)
    assert "HOME=/root" in got


def test_workdir_is_created(env: Env) -> None:
    r = env.run("run", "--rm", "-w", "/new/work/dir", "busybox", "pwd")
    assert (r.rc, r.out) == (0, "/new/work/dir\n"), r.err


def test_workdir_must_be_absolute(env: Env) -> None:
    r = env.run("run", "--rm", "-w", "rel", "busybox", "pwd")
    assert r.rc == 125
    assert "the working directory 'rel' is invalid, it needs to be an absolute path" in r.err


def _ids(env: Env, user: str) -> tuple[str, str, str]:
    out = env.ok("run", "--rm", "-u", user, "busybox", "cat", "/proc/self/status")
    return (
        status_field(out, "Uid").split()[0],
        status_field(out, "Gid").split()[0],
        status_field(out, "Groups"),
    )


def test_user_by_name_gets_primary_and_supplementary_groups(env: Env) -> None:
    # dockerd puts the primary gid in AdditionalGids too (oci_linux.go getUser)
    assert _ids(env, "app") == ("1000", "1000", "50 1000")


def test_user_and_group_names_and_numbers(env: Env) -> None:
    assert _ids(env, "app:staff")[:2] == ("1000", "50")
    assert _ids(env, "1000:50")[:2] == ("1000", "50")
    assert _ids(env, "daemon")[:2] == ("1", "1")
    # a uid missing from /etc/passwd is fine and gets gid 0
    assert _ids(env, "4242")[:2] == ("4242", "0")


def test_user_home_env(env: Env) -> None:
    out = env.ok("run", "--rm", "-u", "app", "busybox", "env")
    assert "HOME=/home/app" in out.splitlines()


def test_unknown_user_is_a_daemon_error(env: Env) -> None:
    r = env.run("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert r.rc == 125
    assert "unable to find user nosuchuser: no matching entries in passwd file" in r.err


def test_unknown_group_is_a_daemon_error(env: Env) -> None:
    r = env.run("run", "--rm", "-u", "app:nosuchgroup", "busybox", "true")
    assert r.rc == 125
    assert "unable to find group nosuchgroup: no matching entries in group file" in r.err


def test_non_root_user_has_no_effective_caps(env: Env) -> None:
    out = env.ok("run", "--rm", "-u", "1000", "busybox", "cat", "/proc/self/status")
    assert int(status_field(out, "CapEff"), 16) == 0


# -- entrypoint and the image's config ---------------------------------------------------------


def test_entrypoint_flag(env: Env) -> None:
    assert env.ok("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"


def test_empty_entrypoint_with_cmd(env: Env) -> None:
    assert env.ok("run", "--rm", "--entrypoint", "", CFG_IMAGE, "echo", "plain") == "plain\n"


def test_empty_entrypoint_drops_the_image_cmd(env: Env) -> None:
    r = env.run("run", "--rm", "--entrypoint", "", CFG_IMAGE)
    assert r.rc == 125
    assert "No command specified" in r.err


def test_image_entrypoint_and_cmd(env: Env) -> None:
    assert env.ok("run", "--rm", CFG_IMAGE) == "ep dflt\n"
    # a user Cmd replaces the image's Cmd but keeps its Entrypoint
    assert env.ok("run", "--rm", CFG_IMAGE, "x", "y") == "ep x y\n"


def test_entrypoint_flag_drops_the_image_cmd(env: Env) -> None:
    # dockerd: a user Entrypoint resets the image's Cmd
    assert env.ok("run", "--rm", "--entrypoint", "echo", CFG_IMAGE) == "\n"


def test_image_env_workdir_user(env: Env) -> None:
    out = env.ok(
        "run",
        "--rm",
        "-e",
        "FOO=user",
        "--entrypoint",
        "sh",
        CFG_IMAGE,
        "-c",
        'echo "$FOO $BAR"; pwd; id -u',
    )
    assert out == "user img\n/home/app\n1000\n"


def test_image_config_in_inspect(env: Env) -> None:
    name = uniq("cfg")
    env.ok("create", "--name", name, "-l", "both=user", "-e", "FOO=user", CFG_IMAGE)
    cfg = env.inspect(name)["Config"]
    assert cfg["Entrypoint"] == ["echo", "ep"] and cfg["Cmd"] == ["dflt"]
    assert cfg["Env"][0] == "FOO=user" and "BAR=img" in cfg["Env"]
    assert not any(e == "FOO=img" for e in cfg["Env"])
    assert cfg["WorkingDir"] == "/home/app" and cfg["User"] == "app"
    assert cfg["Labels"] == {"img.label": "from-image", "both": "user"}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Image"] == CFG_IMAGE
    env.ok("rm", name)


# -- exit codes ------------------------------------------------------------------------------------


def test_exit_code_is_the_containers(env: Env) -> None:
    assert env.run("run", "--rm", "busybox", "sh", "-c", "exit 42").rc == 42
    assert env.run("run", "--rm", "busybox", "false").rc == 1


def test_exit_127_command_not_found(env: Env) -> None:
    name = uniq("nf")
    r = env.run("run", "--name", name, "busybox", "nosuchcmd")
    assert r.rc == 127, r.err
    assert "nosuchcmd" in r.err and "executable file not found in $PATH" in r.err
    st = env.inspect(name)["State"]
    assert st["Status"] == "created" and st["ExitCode"] == 127
    assert "executable file not found" in st["Error"]
    env.ok("rm", name)


def test_exit_127_absolute_path_not_found(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "/no/such/file")
    assert r.rc == 127, r.err
    assert "no such file or directory" in r.err


def test_exit_126_not_executable(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "/etc/passwd")
    assert r.rc == 126, r.err
    assert "permission denied" in r.err


def test_exit_126_directory(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "/etc")
    assert r.rc == 126, r.err


def test_no_such_image_tries_to_pull(env: Env) -> None:
    r = env.run("run", "--rm", "berthd-test/nosuchimage:v1", timeout=60)
    assert r.rc != 0
    assert "Unable to find image 'berthd-test/nosuchimage:v1' locally" in r.err


def test_no_such_image_pull_never(env: Env) -> None:
    r = env.run("run", "--rm", "--pull", "never", "berthd-test/nosuchimage:v1")
    assert r.rc == 125
    assert "No such image: berthd-test/nosuchimage:v1" in r.err


def test_create_without_command(env: Env) -> None:
    r = env.run("create", "--entrypoint", "", "busybox")
    assert r.rc == 1
    assert "No command specified" in r.err


# -- names, hosts, labels -----------------------------------------------------------------------------


def test_hostname_defaults_to_short_id(env: Env) -> None:
    cid = env.ok("create", "busybox", "hostname").strip()
    env.ok("start", cid)
    assert env.ok("wait", cid) == "0\n"
    assert env.inspect(cid)["Config"]["Hostname"] == cid[:12]
    env.ok("rm", cid)


def test_hostname_flag(env: Env) -> None:
    out = env.ok(
        "run", "--rm", "--hostname", "myhost", "busybox", "sh", "-c", "hostname; cat /etc/hostname"
    )
    assert out == "myhost\nmyhost\n"


def test_add_host(env: Env) -> None:
    out = env.ok(
        "run", "--rm", "--add-host", "foo.example:10.1.2.3", "busybox", "cat", "/etc/hosts"
    )
    assert re.search(r"^10\.1\.2\.3\s+foo\.example$", out, re.M), out
    assert re.search(r"^127\.0\.0\.1\s+localhost", out, re.M), out


def test_labels(env: Env) -> None:
    name = uniq("lbl")
    env.ok("create", "--name", name, "-l", "a=1", "-l", "b", "busybox", "true")
    assert env.inspect(name)["Config"]["Labels"] == {"a": "1", "b": ""}
    env.ok("rm", name)


# -- mounts -----------------------------------------------------------------------------------------


def test_bind_mount_rw_and_ro(env: Env, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from host\n")
    out = env.ok(
        "run",
        "--rm",
        "-v",
        f"{tmp_path}:/data",
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo from ctr > /data/out.txt",
    )
    assert out == "from host\n"
    assert (tmp_path / "out.txt").read_text() == "from ctr\n"
    r = env.run("run", "--rm", "-v", f"{tmp_path}:/data:ro", "busybox", "touch", "/data/x")
    assert r.rc == 1 and "Read-only file system" in r.err
    assert not (tmp_path / "x").exists()


def test_bind_mount_in_inspect(env: Env, tmp_path: Path) -> None:
    name = uniq("mnt")
    env.ok("create", "--name", name, "-v", f"{tmp_path}:/data:ro", "busybox", "true")
    info = env.inspect(name)
    assert info["HostConfig"]["Binds"] == [f"{tmp_path}:/data:ro"]
    (m,) = info["Mounts"]
    assert m["Type"] == "bind" and m["Source"] == str(tmp_path)
    assert m["Destination"] == "/data" and m["RW"] is False
    env.ok("rm", name)


def test_bind_mount_missing_source_is_created(env: Env, tmp_path: Path) -> None:
    src = tmp_path / "made" / "by" / "daemon"
    env.ok("run", "--rm", "-v", f"{src}:/d", "busybox", "true")
    assert src.is_dir()


def test_mount_type_bind_missing_source_is_an_error(env: Env, tmp_path: Path) -> None:
    src = tmp_path / "absent"
    r = env.run("run", "--rm", "--mount", f"type=bind,src={src},dst=/d", "busybox", "true")
    assert r.rc == 125
    assert f'invalid mount config for type "bind": bind source path does not exist: {src}' in r.err


def test_mount_type_bind_readonly(env: Env, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hi\n")
    r = env.run(
        "run",
        "--rm",
        "--mount",
        f"type=bind,source={tmp_path},target=/m,readonly",
        "busybox",
        "sh",
        "-c",
        "cat /m/f; touch /m/g",
    )
    assert r.out == "hi\n" and r.rc == 1 and "Read-only file system" in r.err


def test_tmpfs_flag_and_mount(env: Env) -> None:
    out = env.ok(
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m",
        "--mount",
        "type=tmpfs,dst=/t2,tmpfs-size=2097152",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(scratch|t2) ' /proc/mounts; touch /scratch/ok /t2/ok",
    )
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert lines["/scratch"].split()[2] == "tmpfs" and "size=1024k" in lines["/scratch"]
    assert lines["/t2"].split()[2] == "tmpfs" and "size=2048k" in lines["/t2"]


def test_read_only_rootfs(env: Env) -> None:
    r = env.run("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.rc == 1 and "Read-only file system" in r.err
    # /dev/shm and a --tmpfs stay writable
    out = env.ok(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/a /dev/shm/b && echo ok",
    )
    assert out == "ok\n"


# -- security ------------------------------------------------------------------------------------------


def _status(env: Env, *flags: str) -> str:
    return env.ok("run", "--rm", *flags, "busybox", "cat", "/proc/self/status")


def test_default_capabilities(env: Env) -> None:
    out = _status(env)
    assert int(status_field(out, "CapEff"), 16) == DEFAULT_CAPS
    assert int(status_field(out, "CapBnd"), 16) == DEFAULT_CAPS
    assert status_field(out, "NoNewPrivs") == "0"
    assert status_field(out, "Seccomp") == "2"


def test_cap_add_and_drop(env: Env) -> None:
    out = _status(env, "--cap-add", "NET_ADMIN", "--cap-drop", "chown")
    want = (DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)
    assert int(status_field(out, "CapEff"), 16) == want
    out = _status(env, "--cap-drop", "ALL", "--cap-add", "CAP_KILL")
    assert int(status_field(out, "CapEff"), 16) == 1 << 5


def test_cap_add_unknown(env: Env) -> None:
    r = env.run("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert r.rc == 125
    assert 'unknown capability: "CAP_NOPE"' in r.err


def test_privileged(env: Env) -> None:
    out = _status(env, "--privileged")
    assert int(status_field(out, "CapEff"), 16) == host_cap_bound()
    assert status_field(out, "Seccomp") == "0"
    # devices of the host are visible
    out = env.ok("run", "--rm", "--privileged", "busybox", "ls", "/dev")
    assert "loop0" in out.split() or "tty0" in out.split() or "mem" in out.split()


def test_no_new_privileges(env: Env) -> None:
    out = _status(env, "--security-opt", "no-new-privileges")
    assert status_field(out, "NoNewPrivs") == "1"


def test_seccomp_unconfined(env: Env) -> None:
    out = _status(env, "--security-opt", "seccomp=unconfined")
    assert status_field(out, "Seccomp") == "0"


def test_device(env: Env) -> None:
    out = env.ok(
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/myzero",
        "busybox",
        "sh",
        "-c",
        "head -c 5 /dev/myzero | wc -c",
    )
    assert out.strip() == "5"


# -- resources --------------------------------------------------------------------------------------------


def _cg(env: Env, flags: list[str], path: str) -> str:
    return env.ok("run", "--rm", *flags, "busybox", "cat", path).strip()


def test_memory_limit(env: Env) -> None:
    assert _cg(env, ["--memory", "64m"], "/sys/fs/cgroup/memory/memory.limit_in_bytes") == str(
        64 << 20
    )


def test_memory_limit_in_host_cgroup(env: Env) -> None:
    cid = env.ok("run", "-d", "--memory", "32m", "busybox", "sleep", "300").strip()
    try:
        hits = list(Path(f"/sys/fs/cgroup/memory{env.cgroup_parent}").rglob(cid))
        assert hits, "no memory cgroup for the container under its --cgroup-parent"
        assert (hits[0] / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    finally:
        env.ok("rm", "-f", cid)


def test_memory_in_inspect(env: Env) -> None:
    name = uniq("mem")
    env.ok(
        "create", "--name", name, "--memory", "64m", "--cpus", "1.5", "--pids-limit", "7", "busybox"
    )
    hc = env.inspect(name)["HostConfig"]
    assert hc["Memory"] == 64 << 20 and hc["NanoCpus"] == 1_500_000_000 and hc["PidsLimit"] == 7
    env.ok("rm", name)


def test_cpus(env: Env) -> None:
    out = env.ok(
        "run",
        "--rm",
        "--cpus",
        "0.5",
        "busybox",
        "cat",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
    )
    assert out.split() == ["50000", "100000"]


def test_cpu_shares(env: Env) -> None:
    assert _cg(env, ["--cpu-shares", "512"], "/sys/fs/cgroup/cpu/cpu.shares") == "512"


def test_pids_limit(env: Env) -> None:
    assert _cg(env, ["--pids-limit", "10"], "/sys/fs/cgroup/pids/pids.max") == "10"


def test_ulimit(env: Env) -> None:
    out = env.ok(
        "run", "--rm", "--ulimit", "nofile=512:1024", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"
    )
    assert out.split() == ["512", "1024"]


def test_sysctl(env: Env) -> None:
    out = env.ok(
        "run",
        "--rm",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
    )
    assert out.strip() == "1"


def test_init(env: Env) -> None:
    out = env.ok("run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline")
    assert out.split("\0")[:4] == ["/sbin/docker-init", "--", "cat", "/proc/1/cmdline"]


def test_init_reaps_and_forwards_exit_code(env: Env) -> None:
    assert env.run("run", "--rm", "--init", "busybox", "sh", "-c", "exit 9").rc == 9


# -- networks -------------------------------------------------------------------------------------------------


def _ifaces(text: str) -> set[str]:
    return {line.split(":")[0].strip() for line in text.splitlines()[2:]}


def test_network_none(env: Env) -> None:
    out = env.ok("run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev")
    assert _ifaces(out) == {"lo"}


def test_network_host_shares_interfaces(env: Env) -> None:
    out = env.ok("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    assert _ifaces(out) == _ifaces(Path("/proc/net/dev").read_text())


def test_network_host_uses_the_hosts_hostname(env: Env) -> None:
    name = uniq("hosthn")
    out = env.ok("run", "--name", name, "--network", "host", "busybox", "hostname")
    assert out == os.uname().nodename + "\n"
    assert env.inspect(name)["Config"]["Hostname"] == os.uname().nodename
    env.ok("rm", name)


def test_network_unknown(env: Env) -> None:
    # dockerd answers 404; the CLI then tries to pull the image before it prints the
    # error (there is no registry here), so check the API answer through the SDK.
    with pytest.raises(docker.errors.NotFound, match="network berthd-test-nonet not found"):
        env.client.containers.create("busybox", "true", network_mode="berthd-test-nonet")
    r = env.run("run", "--rm", "--network", "berthd-test-nonet", "busybox", "true")
    assert r.rc == 125


@pytest.mark.parametrize("mode", ["none", "host"])
def test_network_mode_in_inspect(env: Env, mode: str) -> None:
    name = uniq("net")
    env.ok("create", "--name", name, "--network", mode, "busybox")
    info = env.inspect(name)
    assert info["HostConfig"]["NetworkMode"] == mode
    assert list(info["NetworkSettings"]["Networks"]) == [mode]
    env.ok("rm", name)
