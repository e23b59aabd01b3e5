"""The builder's pure parts: cache probe equality, COPY hashing, the stream
writer, build args, the query options, stage planning and Go formatting."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.builder.backend import BaseImage
from berthd.builder.build import plan_stages
from berthd.builder.buildargs import BuildArgs
from berthd.builder.cache import ImageProber, compare
from berthd.builder.copy import hash_strings, resolve_sources, source_hash
from berthd.builder.dockerfile.instructions import parse_dockerfile
from berthd.builder.options import Query, parse_build_options
from berthd.builder.runconfig import Health, RunConfig, health_quote
from berthd.builder.scoped import resolve_in_scope
from berthd.builder.stream import BuildStream, error_message


# -- cache -----------------------------------------------------------------------------
def _cfg(**kw: object) -> RunConfig:
    base = RunConfig(env=["PATH=/bin"], cmd=["/bin/sh", "-c", "#(nop) ", "ENV A=1"])
    return base.replace(**kw)


def test_compare_fields_that_matter() -> None:
    a = _cfg()
    assert compare(a, _cfg())
    assert compare(a, _cfg(hostname="abc", labels={}))  # create fills these in: no miss
    for change in (
        {"env": ["PATH=/bin", "B=2"]},
        {"cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=2"]},
        {"user": "1"},
        {"working_dir": "/x"},
        {"labels": {"a": "b"}},
        {"exposed_ports": {"80/tcp": {}}},
        {"volumes": {"/v": {}}},
        {"shell": ["/bin/bash", "-c"]},
        {"on_build": ["RUN x"]},
        {"healthcheck": Health(["NONE"])},
        {"stop_signal": "SIGINT"},
        {"args_escaped": True},
    ):
        assert not compare(a, _cfg(**change)), change


class _FakeBackend:
    def __init__(self, children: list[BaseImage]) -> None:
        self._children = children

    async def children(self, image_id: str) -> list[BaseImage]:
        return self._children


def _image(id_: str, cc: RunConfig, created: str, local: bool = True) -> BaseImage:
    return BaseImage(
        id=id_, config={}, os="linux", architecture="amd64", variant="", history=[],
        diff_ids=[], container_config=cc.to_api(), created=created, built_locally=local,
        parent="sha256:p",
    )  # fmt: skip


def test_probe_picks_the_newest_local_match() -> None:
    probe = _cfg()
    kids = [
        _image("sha256:old", probe, "2024-01-01T00:00:00Z"),
        _image("sha256:new", probe, "2024-02-01T00:00:00Z"),
        _image("sha256:pulled", probe, "2025-01-01T00:00:00Z", local=False),
        _image("sha256:other", _cfg(user="x"), "2026-01-01T00:00:00Z"),
    ]
    prober = ImageProber(_FakeBackend(kids), [], nocache=False)  # type: ignore[arg-type]
    assert asyncio.run(prober.probe("sha256:p", probe, "linux", "amd64")) == "sha256:new"
    assert asyncio.run(prober.probe("sha256:p", probe, "linux", "arm64")) == ""
    nocache = ImageProber(_FakeBackend(kids), [], nocache=True)  # type: ignore[arg-type]
    assert asyncio.run(nocache.probe("sha256:p", probe, "linux", "amd64")) == ""


# -- COPY hashing ----------------------------------------------------------------------
def test_copy_hash_is_dockerds_tarsum_and_ignores_mtime(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the known hash is for a root-owned file")
    f = tmp_path / "hello.txt"
    f.write_text("hello\n")
    f.chmod(0o644)
    os.chown(f, 0, 0)
    (src,) = resolve_sources(str(tmp_path), ["hello.txt"], add=False)
    # what dockerd 20.10/26 prints for this file in "COPY file:… in /app/"
    assert src.hash == "file:c50ecf0f8081044924e199cfe6cfd18d0c9dd4d16be07790bb24f7088112b98e"
    os.utime(f, (1, 1))
    assert resolve_sources(str(tmp_path), ["hello.txt"], add=False)[0].hash == src.hash
    f.chmod(0o600)
    assert resolve_sources(str(tmp_path), ["hello.txt"], add=False)[0].hash != src.hash


def test_copy_sources_globs_dirs_and_errors(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", "c.md", "sub/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    got = resolve_sources(str(tmp_path), ["*.txt"], add=False)
    assert [s.rel for s in got] == ["a.txt", "b.txt"]  # * does not cross "/"
    (d,) = resolve_sources(str(tmp_path), ["sub"], add=False)
    assert d.is_dir and d.hash.startswith("dir:")
    multi = source_hash(got)
    assert multi == hash_strings("multi", [s.hash for s in got])
    with pytest.raises(errdefs.InvalidParameter, match="file not found in build context"):
        resolve_sources(str(tmp_path), ["nope"], add=False)
    with pytest.raises(errdefs.InvalidParameter, match="forbidden path outside the build"):
        resolve_sources(str(tmp_path), ["../x"], add=False)


def test_scoped_resolution_never_leaves_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "abs").symlink_to("/etc")
    (tmp_path / "up").symlink_to("../../..")
    assert resolve_in_scope(str(tmp_path), "abs/passwd") == str(tmp_path / "etc" / "passwd")
    assert resolve_in_scope(str(tmp_path), "up/etc") == str(tmp_path / "etc")
    assert resolve_in_scope(str(tmp_path), "abs", follow_last=False) == str(tmp_path / "abs")


# -- stream ----------------------------------------------------------------------------
def _drain(out: BuildStream) -> bytes:
    chunks = []
    while not out.queue.empty():
        item = out.queue.get_nowait()
        if item is not None:
            chunks.append(item)
    return b"".join(chunks)


def test_stream_messages_are_dockerds() -> None:
    out = BuildStream()
    out.step(1, 2, "FROM busybox")
    out.stdout(" ---> Running in 0123456789ab\n")
    out.stderr("oops\n")
    out.aux("sha256:" + "a" * 64)
    assert _drain(out) == (
        b'{"stream":"Step 1/2 : FROM busybox"}\r\n{"stream":"\\n"}\r\n'
        b'{"stream":" ---\\u003e Running in 0123456789ab\\n"}\r\n'
        b'{"stream":"\\u001b[91moops\\n\\u001b[0m"}\r\n'
        b'{"aux":{"ID":"sha256:' + b"a" * 64 + b'"}}\r\n'
    )
    assert error_message("The command 'x' returned a non-zero code: 2", 2) == (
        b'{"errorDetail":{"code":2,"message":"The command \'x\' returned a non-zero code: 2"},'
        b'"error":"The command \'x\' returned a non-zero code: 2"}\r\n'
    )


def test_quiet_holds_output_until_failure() -> None:
    out = BuildStream(quiet=True)
    out.stdout("Step 1/1 : FROM x")
    assert out.queue.empty()
    out.finish_quiet("sha256:abc")
    assert _drain(out) == b'{"stream":"sha256:abc\\n"}\r\n'
    out = BuildStream(quiet=True)
    out.stdout("held\n")
    out.fail("boom")
    assert _drain(out) == (
        b'{"stream":"held\\n"}\r\n{"errorDetail":{"message":"boom"},"error":"boom"}\r\n'
    )


# -- build args ------------------------------------------------------------------------
def test_build_args_scoping_and_unused_warning() -> None:
    args = BuildArgs({"A": "opt", "HTTP_PROXY": "http://p", "UNUSED": "1", "NULL": None})
    args.add_arg("META", "m")
    args.add_meta_arg("META", "m")
    stage = args.clone()
    stage.reset_allowed()
    assert "META" not in stage.all_allowed()
    stage.add_arg("META", None)  # ARG META: the meta value comes back
    stage.add_arg("A", "default")
    assert stage.all_allowed() == {"A": "opt", "HTTP_PROXY": "http://p", "META": "m"}
    assert stage.filter_allowed(["A=env"]) == ["HTTP_PROXY=http://p", "META=m"]
    assert not stage.is_referenced_or_not_builtin("HTTP_PROXY")
    args.merge_referenced(stage)
    assert args.unused_warning() == (
        "[Warning] One or more build-args [NULL UNUSED] were not consumed\n"
    )


# -- options ---------------------------------------------------------------------------
def _q(**kw: str | list[str]) -> Query:
    return Query({k: v if isinstance(v, list) else [v] for k, v in kw.items()})


def test_options_and_their_errors() -> None:
    opts = parse_build_options(_q(t=["a", "b:1"], buildargs='{"X":null,"Y":"1"}', rm="0"))
    assert opts.tags == ["a", "b:1"] and opts.build_args == {"X": None, "Y": "1"}
    assert not opts.remove
    assert parse_build_options(_q(rm="0", forcerm="1")).remove
    assert parse_build_options(_q()).remove and parse_build_options(_q()).dockerfile == "Dockerfile"
    for query, message in (
        (_q(version="x"), 'invalid version "x"'),
        (_q(securityopt="seccomp=x"), "security options are not supported on linux"),
        (_q(buildargs="{"), "error reading build args: unexpected end of JSON input"),
        (_q(labels="[1]"), "error reading labels: json: cannot unmarshal array"),
        (_q(cachefrom="x"), "error reading cache-from: invalid character 'x'"),
        (_q(isolation="hyperv"), 'unsupported isolation: "hyperv"'),
        (_q(squash="1"), "squash is only supported with experimental mode"),
    ):
        with pytest.raises(errdefs.BerthdError, match=message.replace("[", r"\[")):
            parse_build_options(query)


# -- planning and formatting -----------------------------------------------------------
def test_plan_builds_only_what_the_target_needs() -> None:
    df = (
        b"FROM busybox AS a\nRUN x\nFROM busybox AS unused\nRUN y\n"
        b"FROM a AS b\nCOPY --from=0 /x /x\nFROM b AS last\n"
    )
    stages, _, _ = parse_dockerfile(df)
    assert plan_stages(stages, "b", lambda w: w) == (2, [0, 2])
    assert plan_stages(stages, "", lambda w: w) == (3, [0, 2, 3])
    with pytest.raises(errdefs.InvalidParameter, match='target stage "zz" could not be found'):
        plan_stages(stages, "zz", lambda w: w)


def test_go_formatting_of_history_lines() -> None:
    h = Health(["CMD-SHELL", "echo ok"], interval=5 * 10**9, retries=3)
    assert health_quote(h) == '&{["CMD-SHELL" "echo ok"] "5s" "0s" "0s" "0s" \'\\x03\'}'
    rc = RunConfig(shell=["/bin/sh", "-ec"])
    assert rc.with_nop("ENV A=1").cmd == ["/bin/sh", "-ec", "#(nop) ", "ENV A=1"]
    assert rc.with_nop_string("WORKDIR /x").cmd == ["/bin/sh", "-ec", "#(nop) WORKDIR /x"]
    doc = rc.replace(env=["A=1"], labels={"k": "v"}).to_api()
    assert json.loads(json.dumps(doc))["Labels"] == {"k": "v"}
    assert RunConfig.from_api(doc).env == ["A=1"]


def test_run_output_waits_for_a_slow_client() -> None:
    async def scenario() -> list[str]:
        out = BuildStream()
        events: list[str] = []
        for _ in range(256):
            out.stdout("x")

        async def producer() -> None:
            await out.wait_room()
            events.append("wrote")

        task = asyncio.create_task(producer())
        await asyncio.sleep(0)
        events.append("waiting")
        await out.get()
        await task
        return events

    assert asyncio.run(scenario()) == ["waiting", "wrote"]


def test_registry_config_header_and_the_auth_for_a_pull() -> None:
    import base64

    from berthd.builder.options import parse_registry_config
    from berthd.daemon.build.backend import _auth_header

    cfg = {
        "https://index.docker.io/v1/": {"username": "u", "password": "p"},
        "r:5000": {"auth": "x"},
    }
    header = base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode().rstrip("=")
    parsed = parse_registry_config(header)
    assert parsed == cfg
    assert parse_registry_config("%%%") == {} and parse_registry_config("") == {}
    hub = _auth_header(parsed, "docker.io")
    assert (
        hub is not None
        and json.loads(base64.urlsafe_b64decode(hub)) == cfg["https://index.docker.io/v1/"]
    )
    assert _auth_header(parsed, "r:5000") is not None and _auth_header(parsed, "other") is None


def test_a_tar_cut_right_after_its_last_data_is_completed() -> None:
    import io
    import tarfile

    from berthd.builder.tartail import CompleteTail

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in (("a", b"x" * 100), ("b", b"y" * 47)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    cut = raw[: 3 * 512 + 47]  # no padding, no end blocks: what the CLI sends for -f ../x

    def read_all(data: bytes) -> bytes:
        r = CompleteTail(io.BytesIO(data))
        out = b""
        while chunk := r.read(100):
            out += chunk
        return out

    done = read_all(cut)
    assert done == cut + b"\0" * (512 - 47) + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(done)) as tf:
        assert [m.name for m in tf] == ["a", "b"]
    for bad in (cut[:-1], raw[: 512 + 150], raw[:700]):  # inside data, padding, a header
        assert read_all(bad) == bad
