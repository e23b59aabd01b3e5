"""docker build (classic builder) against a real berthd: the CLI with and without
DOCKER_BUILDKIT=0, the exact stream, the image's config and history, the cache,
multi-stage with --target, ARG/ENV, RUN failures, .dockerignore, the SDK, a
hostile context, a remote tarball context and a daemon killed during a RUN."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import signal
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.build.conftest import BuildEnv, context_tar, write_tree
from tests.integration.daemon_process import BerthdProcess
from tests.integration.images_build import build_busybox_archive

pytestmark = pytest.mark.integration

SMALL = 'FROM busybox\nENV A=1\nRUN echo hi && echo oops >&2\nCOPY hello.txt /app/\nCMD ["cat", "/app/hello.txt"]\n'
ID = r"[0-9a-f]{12}"


def _messages(body: bytes) -> list[dict[str, object]]:
    assert body.endswith(b"\r\n"), body[-50:]
    return [json.loads(line) for line in body.split(b"\r\n") if line]


def test_exact_stream_and_image(build_env: BuildEnv) -> None:
    status, body = build_env.raw_build(
        context_tar({"Dockerfile": SMALL, "hello.txt": "hello\n"}), t="small:1"
    )
    assert status == 200, body
    msgs = _messages(body)
    texts = [m.get("stream") for m in msgs if "stream" in m]
    want = [
        r"Step 1/5 : FROM busybox", r"\n", rf" ---> {ID}\n",
        r"Step 2/5 : ENV A=1", r"\n", rf" ---> Running in {ID}\n",
        rf" ---> Removed intermediate container {ID}\n", rf" ---> {ID}\n",
        r"Step 3/5 : RUN echo hi && echo oops >&2", r"\n", rf" ---> Running in {ID}\n",
    ]  # fmt: skip
    for pattern, text in zip(want, texts, strict=False):
        assert re.fullmatch(pattern, str(text)), (pattern, text)
    rest = "".join(str(t) for t in texts[len(want) :])
    assert "hi\n" in rest and "\x1b[91moops\n\x1b[0m" in rest
    assert re.search(rf"Step 4/5 : COPY hello.txt /app/\n ---> {ID}\nStep 5/5", rest), rest
    assert re.search(rf"Successfully built ({ID})\nSuccessfully tagged small:1\n$", rest), rest
    built = re.search(rf"Successfully built ({ID})", rest)
    assert built is not None
    aux = [m["aux"] for m in msgs if "aux" in m]
    assert len(aux) == 1 and str(aux[0]["ID"])[7:19] == built.group(1)  # type: ignore[index]
    # Go escapes ">" in JSON as \u003e
    assert b'" ---\\u003e Running in ' in body

    api = build_env.client.api
    doc = api.inspect_image("small:1")
    assert doc["Config"]["Cmd"] == ["cat", "/app/hello.txt"]
    assert doc["Config"]["Env"][-1] == "A=1"
    assert doc["ContainerConfig"]["Cmd"] == [
        "/bin/sh",
        "-c",
        "#(nop) ",
        'CMD ["cat" "/app/hello.txt"]',
    ]
    history = [h["CreatedBy"] for h in api.history("small:1")]
    # hello.txt (0644, 0:0, no user names) hashes as dockerd's tarsum does
    copy = "/bin/sh -c #(nop) COPY file:c50ecf0f8081044924e199cfe6cfd18d0c9dd4d16be07790bb24f7088112b98e in /app/ "
    assert history[:4] == [
        '/bin/sh -c #(nop)  CMD ["cat" "/app/hello.txt"]',
        copy,
        "/bin/sh -c echo hi && echo oops >&2",
        "/bin/sh -c #(nop)  ENV A=1",
    ]
    # the parent chain links every step; each is builtLocally (cache candidates)
    parent = doc["Parent"]
    assert api.inspect_image(parent)["ContainerConfig"]["Cmd"][-1].startswith("#(nop) COPY")
    out = build_env.client.containers.run("small:1", remove=True)
    assert out == b"hello\n"
    assert not build_env.client.containers.list(all=True)


def test_cache_hits_then_misses_after_a_change(build_env: BuildEnv) -> None:
    files = {"Dockerfile": SMALL, "hello.txt": "hello\n"}
    build_env.raw_build(context_tar(files), t="cache:1")
    _, again = build_env.raw_build(context_tar(files), t="cache:1")
    text = "".join(str(m.get("stream", "")) for m in _messages(again))
    assert text.count(" ---> Using cache\n") == 4, text
    assert "Running in" not in text
    files["hello.txt"] = "changed\n"
    _, changed = build_env.raw_build(context_tar(files), t="cache:2")
    text = "".join(str(m.get("stream", "")) for m in _messages(changed))
    assert text.count(" ---> Using cache\n") == 2, text  # ENV, RUN
    assert re.search(r"COPY hello.txt /app/\n ---> (?!Using cache)", text)
    _, nocache = build_env.raw_build(context_tar(files), t="cache:3", nocache="1")
    assert b"Using cache" not in nocache


def test_cli_legacy_builder_with_and_without_the_variable(
    build_env: BuildEnv, tmp_path: Path
) -> None:
    write_tree(tmp_path, {"Dockerfile": SMALL, "hello.txt": "hello\n"})
    r = build_env.docker(
        "build", "-t", "cli:1", ".", cwd=str(tmp_path), env={"DOCKER_BUILDKIT": "0"}
    )
    assert "BuildKit is currently disabled" in r.stderr
    assert "Sending build context to Docker daemon" in r.stdout
    assert re.search(
        rf"Successfully built {ID}\nSuccessfully tagged cli:1:latest|Successfully tagged cli:1\n",
        r.stdout,
    )
    r = build_env.docker("build", "-q", "-t", "cli:2", ".", cwd=str(tmp_path))
    assert "DEPRECATED: The legacy builder is deprecated" in r.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.stdout), r.stdout
    r = build_env.docker("run", "--rm", "cli:2")
    assert r.stdout == "hello\n"


def test_run_failure_exit_code(build_env: BuildEnv, tmp_path: Path) -> None:
    write_tree(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo before; exit 3\n"})
    r = build_env.docker("build", ".", cwd=str(tmp_path), env={"DOCKER_BUILDKIT": "0"}, check=False)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in r.stderr
    _, body = build_env.raw_build(context_tar({"Dockerfile": "FROM busybox\nRUN false\n"}))
    last = _messages(body)[-1]
    assert last == {
        "errorDetail": {
            "code": 1,
            "message": "The command '/bin/sh -c false' returned a non-zero code: 1",
        },
        "error": "The command '/bin/sh -c false' returned a non-zero code: 1",
    }
    # rm=true keeps the failed step's container (as dockerd): the user's now, so no
    # longer journalled as a build leftover for the next start-up to remove
    assert build_env.client.api.containers(all=True)
    journal = Path(build_env.daemon.data_root) / "builder" / "containers"
    assert not list(journal.iterdir())
    for c in build_env.client.containers.list(all=True):
        c.remove(force=True)


MULTI = """\
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
ENV WHO=world
WORKDIR /src
RUN echo "$GREETING $WHO" > greet.txt
FROM build AS unused
RUN echo should-not-run
FROM ${BASE} AS final
ARG GREETING
ARG PORT
USER 1000:1000
WORKDIR rel
COPY --from=build /src/greet.txt /out/
COPY --from=0 --chown=7:8 /src /copy/
EXPOSE 80 $PORT/udp
LABEL greeting=$GREETING
CMD cat /out/greet.txt
FROM final AS other
RUN echo other-not-needed
"""


def test_multistage_target_and_args(build_env: BuildEnv) -> None:
    ctx = context_tar({"Dockerfile": MULTI})
    status, body = build_env.raw_build(
        ctx,
        t="multi:1",
        target="final",
        buildargs=json.dumps({"GREETING": "hi", "PORT": "53", "NOPE": "x"}),
    )
    assert status == 200, body
    text = "".join(str(m.get("stream", "")) for m in _messages(body))
    assert "should-not-run" not in text and "other-not-needed" not in text
    assert "Step 1/16 : ARG BASE=busybox" in text, text
    assert "[Warning] One or more build-args [NOPE] were not consumed\n" in text
    assert len([m for m in _messages(body) if "aux" in m]) == 2
    doc = build_env.client.api.inspect_image("multi:1")
    cfg = doc["Config"]
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/rel"
    assert cfg["Labels"] == {"greeting": "hi"}
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp"}
    assert cfg["Cmd"] == ["/bin/sh", "-c", "cat /out/greet.txt"]
    out = build_env.client.containers.run("multi:1", remove=True)
    assert out == b"hi world\n"
    ls = build_env.client.containers.run("multi:1", ["ls", "-ln", "/copy"], remove=True)
    assert re.search(rb"\s7\s+8\s.*greet.txt", ls), ls
    bad = build_env.raw_build(ctx, target="nope")
    assert bad == (400, b'{"message":"target stage \\"nope\\" could not be found"}\n')


def test_dockerignore_and_dockerfile_lookup(build_env: BuildEnv, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "dockerfile": "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx\n",
            ".dockerignore": "secret.txt\n.dockerignore\ndockerfile\n",
            "secret.txt": "no\n",
            "keep.txt": "yes\n",
        },
    )
    r = build_env.docker(
        "build", "-t", "ign:1", ".", cwd=str(tmp_path), env={"DOCKER_BUILDKIT": "0"}
    )
    out = build_env.docker("run", "--rm", "ign:1", "ls", "-a", "/ctx").stdout.split()
    assert sorted(out) == [".", "..", "keep.txt"], (out, r.stdout)
    status, body = build_env.raw_build(context_tar({"a": "b"}), dockerfile="Nope")
    assert (status, body) == (400, b'{"message":"Cannot locate specified Dockerfile: Nope"}\n')
    status, body = build_env.raw_build(context_tar({"Dockerfile": ""}))
    assert status == 400 and b"cannot be empty" in body
    status, body = build_env.raw_build(context_tar({"Dockerfile": "FROM busybox\nFOO bar\n"}))
    assert status == 400 and b"dockerfile parse error on line 2: unknown instruction: FOO" in body


def test_query_errors(build_env: BuildEnv) -> None:
    ctx = context_tar({"Dockerfile": "FROM busybox\n"})
    assert build_env.raw_build(ctx, version="3") == (
        400,
        b'{"message":"invalid version \\"3\\""}\n',
    )
    status, body = build_env.raw_build(ctx, securityopt="x")
    assert (status, body) == (400, b'{"message":"security options are not supported on linux"}\n')
    status, body = build_env.raw_build(ctx, buildargs="{bad")
    assert status == 400 and body.startswith(b'{"message":"error reading build args: ')
    status, body = build_env.raw_build(ctx, t="Bad:Tag")
    assert status == 400, body
    # a missing base is pulled; the error is in the stream (the step has started). The
    # registry is a loopback port nothing listens on: no test leaves the machine
    from tests.helpers.ports import free_port

    base = f"127.0.0.1:{free_port()}/nosuch/base:1"
    status, body = build_env.raw_build(context_tar({"Dockerfile": f"FROM {base}\n"}))
    assert status == 200 and "error" in _messages(body)[-1], body
    status, body = build_env.raw_build(ctx, api="1.29")
    assert status == 200 and b'"aux"' not in body and b"Successfully built" in body
    status, body = build_env.raw_build(ctx, t="x@sha256:" + "0" * 64)
    assert (status, body) == (400, b'{"message":"build tag cannot contain a digest"}\n')
    status, body = build_env.raw_build(ctx, t=["dup", "dup:latest", "docker.io/library/dup"])
    assert body.count(b"Successfully tagged dup:latest") == 1, body
    api = build_env.client.api
    assert api._post_json(api._url("/build/prune"), data=None).json() == {
        "CachesDeleted": None,
        "SpaceReclaimed": 0,
    }
    assert api.df()["BuildCache"] == []


def test_stage_errors_as_dockerd(build_env: BuildEnv) -> None:
    """A stage name used twice fails even when the target does not need the first one
    (dockerd reaches every stage), and a COPY --from image that cannot be had is
    "invalid from flag value <x>: <why>"."""
    dup = "FROM busybox AS a\nFROM busybox AS A\nRUN true\n"
    status, body = build_env.raw_build(context_tar({"Dockerfile": dup}))
    assert status == 200 and _messages(body)[-1]["error"] == "a stage name already used", body
    from tests.helpers.ports import free_port

    gone = f"127.0.0.1:{free_port()}/nosuch/img:1"
    df = f"FROM busybox\nCOPY --from={gone} /x /y\n"
    status, body = build_env.raw_build(context_tar({"Dockerfile": df}))
    err = str(_messages(body)[-1].get("error", ""))
    assert status == 200 and err.startswith(f"invalid from flag value {gone}: "), body


def test_hostile_context_is_refused(build_env: BuildEnv) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("Dockerfile", "../escape"):
            data = b"FROM busybox\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    status, body = build_env.raw_build(buf.getvalue())
    assert status == 400, body
    assert b"outside" in body
    assert not (Path(build_env.daemon.data_root).parent / "escape").exists()
    tmp = Path(build_env.daemon.data_root) / "tmp"
    assert not [p for p in tmp.iterdir() if p.name.startswith("build-")]


def test_sdk_build_and_compressed_context(build_env: BuildEnv) -> None:
    df = io.BytesIO(b"FROM busybox\nLABEL via=sdk\nRUN echo sdk\n")
    image, logs = build_env.client.images.build(fileobj=df, tag="sdk:1", rm=True)
    assert image.labels == {"via": "sdk"}
    assert any("sdk" in str(chunk.get("stream", "")) for chunk in logs)
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 1"):
        build_env.client.images.build(
            fileobj=io.BytesIO(b"FROM busybox\nRUN false\n"), forcerm=True
        )
    assert not build_env.client.containers.list(all=True)  # forcerm removed it
    gz = context_tar({"Dockerfile": "FROM busybox\nCOPY x /x\n", "x": "gz\n"}, mode="w:gz")
    status, body = build_env.raw_build(gz, t="gz:1")
    assert status == 200 and b"Successfully tagged gz:1" in body


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def http_files() -> Iterator[tuple[str, dict[str, tuple[str, bytes]]]]:
    files: dict[str, tuple[str, bytes]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ctype, data = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    srv = _Server(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", files
    finally:
        srv.shutdown()
        srv.server_close()


def test_remote_context_and_add_url(
    build_env: BuildEnv, http_files: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    base, files = http_files
    files["/page.txt"] = ("text/plain", b"remote\n")
    dockerfile = f"FROM busybox\nADD {base}/page.txt /dl/\nCOPY y /y\n"
    files["/ctx.tar"] = ("application/x-tar", context_tar({"Dockerfile": dockerfile, "y": "y\n"}))
    files["/Dockerfile"] = ("text/plain", b"FROM busybox\nLABEL remote=dockerfile\n")
    status, body = build_env.raw_build(b"", remote=f"{base}/ctx.tar", t="remote:1")
    assert status == 200 and b"Successfully tagged remote:1" in body, body
    assert b'{"status":"Downloading","progressDetail":{"current":7,"total":7}' in body, body
    out = build_env.client.containers.run(
        "remote:1", ["sh", "-c", "cat /dl/page.txt; ls -ln --full-time /dl"], remove=True
    )
    assert out.startswith(b"remote\n") and b"-rw-------" in out and b"2015-10-21" in out, out
    status, body = build_env.raw_build(b"", remote=f"{base}/Dockerfile", t="remote:2")
    assert status == 200, body
    assert build_env.client.images.get("remote:2").labels == {"remote": "dockerfile"}
    status, body = build_env.raw_build(b"", remote="nota url")
    assert status == 400 and b"could not be recognized as URL" in body


def test_kill_during_run_then_rebuild(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("build tests need root")
    d = BerthdProcess().start()
    client = docker.DockerClient(base_url=d.base_url, timeout=120)
    try:
        archive = tmp_path / "busybox.tar"
        build_busybox_archive(archive)
        client.images.load(archive.read_bytes())
        # SIGKILL as the stop signal: the restarted daemon stops the orphaned step at once
        df = 'FROM busybox\nSTOPSIGNAL SIGKILL\nRUN echo started; sleep 30\nCMD ["true"]\n'
        ctx = context_tar({"Dockerfile": df})
        # stream until the RUN step's container runs, then kill -9 the daemon
        gen = client.api.build(
            fileobj=io.BytesIO(ctx), custom_context=True, tag="crash:1", decode=True, rm=True
        )
        for chunk in gen:
            if "started" in str(chunk.get("stream", "")):
                break
        assert d.proc is not None
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=30)
        client.close()
        # what a daemon killed during a context upload leaves: removed at start-up
        (Path(d.data_root) / "tmp" / "build-context-upload").mkdir()
        d.start()
        client = docker.DockerClient(base_url=d.base_url, timeout=120)
        assert client.containers.list(all=True) == []
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("crash:1")
        tmp = Path(d.data_root) / "tmp"
        assert not [p for p in tmp.iterdir() if p.name.startswith("build-")]
        # the completed ENV step is cached; the RUN step runs again
        fast = context_tar({"Dockerfile": df.replace("sleep 30", "sleep 0")})
        logs = list(
            client.api.build(
                fileobj=io.BytesIO(fast),
                custom_context=True,
                tag="crash:1",
                decode=True,
                rm=True,
            )
        )
        text = "".join(str(c.get("stream", "")) for c in logs)
        assert "Step 2/4 : STOPSIGNAL SIGKILL\n ---> Using cache" in text, text
        assert "Step 3/4 : RUN echo started; sleep 0\n ---> Running in" in text, text
        assert "Successfully tagged crash:1" in text
        assert client.containers.list(all=True) == []
    finally:
        client.close()
        d.cleanup()


def test_onbuild_triggers_and_stdin_dockerfile(build_env: BuildEnv, tmp_path: Path) -> None:
    parent = "FROM busybox\nONBUILD RUN echo triggered > /t\nONBUILD LABEL child=yes\n"
    build_env.raw_build(context_tar({"Dockerfile": parent}), t="onb:parent")
    status, body = build_env.raw_build(
        context_tar({"Dockerfile": 'FROM onb:parent\nCMD ["cat", "/t"]\n'}), t="onb:child"
    )
    text = "".join(str(m.get("stream", "")) for m in _messages(body))
    assert status == 200 and "# Executing 2 build triggers\n" in text, text
    image = build_env.client.images.get("onb:child")
    assert image.labels == {"child": "yes"} and not image.attrs["Config"]["OnBuild"]
    assert build_env.client.containers.run("onb:child", remove=True) == b"triggered\n"
    # docker build - < Dockerfile: the CLI sends a tar holding only the Dockerfile
    r = build_env.docker(
        "build",
        "-t",
        "stdin:1",
        "-",
        env={"DOCKER_BUILDKIT": "0"},
        input="FROM busybox\nLABEL s=1\n",
    )
    assert "Successfully tagged stdin:1" in r.stdout
    # a body that is not a tar at all is taken as the Dockerfile itself
    status, body = build_env.raw_build(b"FROM busybox\nLABEL plain=1\n", t="plain:1")
    assert status == 200, body
    assert build_env.client.images.get("plain:1").labels == {"plain": "1"}


def test_cache_from_a_loaded_image(build_env: BuildEnv) -> None:
    df = 'FROM busybox\nENV CF=1\nRUN echo cache-from > /cf\nCMD ["cat", "/cf"]\n'
    ctx = context_tar({"Dockerfile": df})
    build_env.raw_build(ctx, t="cf:src")
    client = build_env.client
    saved = b"".join(client.images.get("cf:src").save(named=True))
    # drop the build with its intermediates (rmi prunes untagged parents); load it
    # back: no parent links, not builtLocally
    client.images.remove("cf:src")
    client.images.load(saved)
    _, plain = build_env.raw_build(ctx, t="cf:plain")
    assert b"Using cache" not in plain
    _, cached = build_env.raw_build(ctx, t="cf:hit", cachefrom=json.dumps(["cf:src"]))
    text = "".join(str(m.get("stream", "")) for m in _messages(cached))
    assert text.count(" ---> Using cache\n") == 3, cached
    assert client.images.get("cf:hit").id == client.images.get("cf:src").id
    # --cache-from naming no image there is: no cache at all, not even the local one
    # (docker-py's test_build_with_cache_from; moby's MakeImageCache)
    _, missing = build_env.raw_build(ctx, t="cf:miss", cachefrom=json.dumps(["nosuchtag"]))
    assert b"Using cache" not in missing, missing


def test_client_gone_cancels_the_running_step(build_env: BuildEnv) -> None:
    import socket as socketlib

    ctx = context_tar({"Dockerfile": "FROM busybox\nSTOPSIGNAL SIGKILL\nRUN echo go; sleep 60\n"})
    sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    sock.connect(build_env.daemon.sock)
    head = (
        f"POST /v1.45/build?rm=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
        f"Content-Length: {len(ctx)}\r\n\r\n"
    ).encode()
    sock.sendall(head + ctx)
    seen = b""
    while b"go\\n" not in seen:
        chunk = sock.recv(65536)
        assert chunk, seen
        seen += chunk
    assert build_env.client.api.containers()
    sock.close()
    # the raw list: the SDK's list() inspects each one and races the removal
    for _ in range(300):
        if not build_env.client.api.containers(all=True):
            break
        time.sleep(0.1)
    assert not build_env.client.api.containers(all=True)


def test_run_steps_get_the_build_host_config(build_env: BuildEnv) -> None:
    ctx = context_tar({"Dockerfile": "FROM busybox\nRUN cat /etc/hosts\n"})
    status, body = build_env.raw_build(
        ctx, extrahosts="myhost:10.1.2.3", networkmode="none", nocache="1"
    )
    text = "".join(str(m.get("stream", "")) for m in _messages(body))
    assert status == 200 and "10.1.2.3\tmyhost" in text, text


def test_testcontainers_docker_image(
    build_env: BuildEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_mod = pytest.importorskip("testcontainers.core.image")
    monkeypatch.setenv("DOCKER_HOST", build_env.daemon.base_url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    write_tree(
        tmp_path,
        {
            "Dockerfile": 'FROM busybox\nCOPY app.txt /\nCMD ["cat", "/app.txt"]\n',
            "app.txt": "tc\n",
        },
    )
    with image_mod.DockerImage(path=str(tmp_path), tag="tc-build:1") as image:
        assert str(image) == "tc-build:1"
        assert any("Successfully built" in str(x.get("stream", "")) for x in image.get_logs())
        out = build_env.client.containers.run("tc-build:1", remove=True)
        assert out == b"tc\n"
    with pytest.raises(docker.errors.ImageNotFound):
        build_env.client.images.get("tc-build:1")


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[str]:
    import shutil
    import subprocess

    from tests.helpers.ports import free_port

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "srv" / "repo"
    write_tree(repo, {"Dockerfile": "FROM busybox\nCOPY sub/f /f\n", "sub/f": "from git\n"})
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "."],
        ["git", "commit", "-qm", "c"],
    ):
        subprocess.run(argv, cwd=repo, env=env, check=True, capture_output=True)
    subprocess.run(["git", "tag", "v1"], cwd=repo, env=env, check=True)
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={tmp_path / 'srv'}",
         "--listen=127.0.0.1", f"--port={port}", str(tmp_path / "srv")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            r = subprocess.run(
                ["git", "ls-remote", f"git://127.0.0.1:{port}/repo"], env=env, capture_output=True
            )
            if r.returncode == 0:
                break
            time.sleep(0.1)
        yield f"git://127.0.0.1:{port}/repo"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_git_context(build_env: BuildEnv, git_daemon: str, tmp_path: Path) -> None:
    status, body = build_env.raw_build(b"", remote=git_daemon + "#v1", t="git:1")
    assert status == 200 and b"Successfully tagged git:1" in body, body
    assert build_env.client.containers.run("git:1", ["cat", "/f"], remove=True) == b"from git\n"
    marker = tmp_path / "pwned"
    status, body = build_env.raw_build(b"", remote=f"{git_daemon}#--upload-pack=touch {marker}")
    assert status == 400 and b"invalid git reference" in body, body
    assert not marker.exists()


def test_build_cancel_by_id(build_env: BuildEnv) -> None:
    ctx = context_tar({"Dockerfile": "FROM busybox\nSTOPSIGNAL SIGKILL\nRUN echo go; sleep 60\n"})
    result: dict[str, tuple[int, bytes]] = {}
    t = threading.Thread(
        target=lambda: result.update(r=build_env.raw_build(ctx, buildid="b-1", rm="1"))
    )
    t.start()
    api = build_env.client.api
    for _ in range(300):
        if api.containers():
            break
        time.sleep(0.1)
    assert api._post(api._url("/build/cancel"), params={"id": "b-1"}).status_code == 200
    t.join(timeout=60)
    status, body = result["r"]
    assert status == 200
    assert _messages(body)[-1] == {
        "errorDetail": {"message": "Build cancelled"},
        "error": "Build cancelled",
    }
    assert not api.containers(all=True)
    missing = api._post(api._url("/build/cancel"))
    assert missing.status_code == 400 and missing.json() == {"message": "build ID not provided"}


def test_build_arg_prefix_scratch_and_copy_from_an_image(build_env: BuildEnv) -> None:
    df = (
        'FROM busybox\nARG X\nRUN echo $X $HTTP_PROXY > /x\nRUN ["cat", "/x"]\n'
        "FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\nCOPY x /x\n"
    )
    status, body = build_env.raw_build(
        context_tar({"Dockerfile": df, "x": "x\n"}),
        t="args:1",
        buildargs=json.dumps({"X": "1", "HTTP_PROXY": "http://proxy"}),
    )
    text = "".join(str(m.get("stream", "")) for m in _messages(body))
    assert status == 200 and "Successfully tagged args:1" in text, text
    # the last stage (FROM scratch) does not need stage 0: it is not built
    assert "Step 1/" in text and "RUN echo" not in text, text
    # FROM scratch steps come from the cache too (dockerd never finds them: no parent)
    _, again = build_env.raw_build(
        context_tar({"Dockerfile": df, "x": "x\n"}),
        t="args:1",
        buildargs=json.dumps({"X": "1", "HTTP_PROXY": "http://proxy"}),
    )
    assert again.count(b"Using cache") == 2, again
    status, body = build_env.raw_build(
        context_tar({"Dockerfile": df.split("FROM scratch")[0], "x": "x\n"}),
        t="args:2",
        buildargs=json.dumps({"X": "1", "HTTP_PROXY": "http://proxy"}),
    )
    text = "".join(str(m.get("stream", "")) for m in _messages(body))
    assert "1 http://proxy\n" in text, text  # the proxy arg reaches RUN without an ARG
    history = [h["CreatedBy"] for h in build_env.client.api.history("args:2")]
    # only the declared arg is in the cache key and history; the proxy is not
    assert history[0] == "|1 X=1 cat /x"
    assert history[1] == "|1 X=1 /bin/sh -c echo $X $HTTP_PROXY > /x"
    scratch = build_env.client.api.inspect_image("args:1")
    assert len(scratch["RootFS"]["Layers"]) == 2 and scratch["Config"]["Cmd"] is None


def test_cli_dockerfile_outside_the_context(build_env: BuildEnv, tmp_path: Path) -> None:
    # the CLI injects it into the tar and ends the tar without its last padding
    ctx = write_tree(tmp_path / "ctx", {"hello.txt": "out\n"})
    (tmp_path / "elsewhere.Dockerfile").write_text("FROM busybox\nCOPY hello.txt /h\n")
    r = build_env.docker(
        "build", "-f", str(tmp_path / "elsewhere.Dockerfile"), "-t", "outside:1", str(ctx),
        env={"DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    assert "Successfully tagged outside:1" in r.stdout
    assert build_env.docker("run", "--rm", "outside:1", "cat", "/h").stdout == "out\n"


def test_base_image_pulled_from_a_loopback_registry_with_build_auth(build_env: BuildEnv) -> None:
    import base64

    from tests.integration.registry_server import (
        PASSWORD,
        USER,
        RegistryServer,
        registry_available,
    )

    if not registry_available():
        pytest.skip("docker-registry is not installed")
    client = build_env.client
    with RegistryServer("htpasswd") as reg:
        name = f"{reg.host}/base/busybox:1"
        client.images.get("busybox:latest").tag(name)
        auth = {"username": USER, "password": PASSWORD}
        client.images.push(name, auth_config=auth)
        client.images.remove(name)
        df = f"FROM {name}\nRUN echo pulled\n"
        _, denied = build_env.raw_build(context_tar({"Dockerfile": df}))
        assert "error" in _messages(denied)[-1], denied
        config = base64.urlsafe_b64encode(json.dumps({reg.host: auth}).encode()).decode()
        status, body = build_env.raw_build(
            context_tar({"Dockerfile": df}), headers={"X-Registry-Config": config}, t="pulled:1"
        )
        text = "".join(str(m.get("stream", "")) + str(m.get("status", "")) for m in _messages(body))
        assert status == 200 and "Successfully tagged pulled:1" in text, body
        assert client.images.get(name).id == client.images.get("busybox:latest").id


def test_buildkit_only_flags_fail_the_step(build_env: BuildEnv) -> None:
    for df, flag in (
        ("FROM busybox\nRUN --network=none true\n", "network"),
        ("FROM busybox\nCOPY --chmod=644 Dockerfile /x\n", "chmod"),
    ):
        status, body = build_env.raw_build(context_tar({"Dockerfile": df}))
        last = _messages(body)[-1]
        assert status == 200 and str(last["error"]).startswith(
            f"the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/"
        ), body


def test_copy_keeps_file_capabilities(build_env: BuildEnv) -> None:
    cap = bytes([1, 0, 0, 2, 0, 0x20, 0, 0]) + bytes(12)  # cap_net_raw+ep
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        df = b"FROM busybox\nCOPY tool /usr/bin/tool\nFROM busybox\nCOPY --from=0 /usr/bin/tool /t2\n"
        for name, data, pax in (
            ("Dockerfile", df, {}),
            (
                "tool",
                b"bin\n",
                {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")},
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.pax_headers = len(data), 0o755, pax
            tf.addfile(info, io.BytesIO(data))
    status, body = build_env.raw_build(buf.getvalue(), t="caps:1")
    assert status == 200 and b"Successfully tagged caps:1" in body, body
    archive = b"".join(build_env.client.images.get("caps:1").save())
    found: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as saved:
        for member in saved.getmembers():
            blob = saved.extractfile(member) if member.isfile() else None
            if blob is None:
                continue
            try:
                with tarfile.open(fileobj=io.BytesIO(blob.read())) as layer:
                    found += [
                        m.pax_headers.get("SCHILY.xattr.security.capability", "")
                        for m in layer
                        if m.name == "t2"
                    ]
            except tarfile.TarError:
                continue
    assert [f.encode("utf-8", "surrogateescape") for f in found if f] == [cap]
