"""Side by side with dockerd's classic builder (Debian's dockerd 20.10, when
installed), and docker-compose 1.29's ``build:``.

Both daemons build the same Dockerfile on the same busybox; every image of the
parent chain must have the same ``Config`` and ``ContainerConfig`` (IDs and the
random hostname aside), the same history lines and the same stream text once
IDs are masked (20.10 says "Removing intermediate container", v25+ " ---> Removed
intermediate container"; 20.10 also warns that IPv4 forwarding is off)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.build.conftest import BuildEnv, context_tar, write_tree
from tests.integration.dockerd_process import dockerd_available, running_dockerd

pytestmark = pytest.mark.integration

PARITY = """\
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
ENV WHO=world PATH=/usr/bin:/bin
WORKDIR /src
RUN echo "$GREETING $WHO" > greet.txt
COPY *.txt ./
COPY sub /src/sub/
FROM ${BASE}
LABEL org.example.a=1 "b c"=d
EXPOSE 80 443/udp
VOLUME ["/data"]
USER 1000:1000
WORKDIR rel
COPY --from=build /src/greet.txt /out/
COPY --from=0 /src/sub /out/sub
ADD arch.tar /opt/
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGINT
ONBUILD RUN echo trigger
MAINTAINER someone
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat /out/greet.txt"]
"""


def _arch() -> bytes:
    return context_tar({"arch/x": "in archive\n"})


def _files() -> dict[str, str | bytes]:
    return {
        "Dockerfile": PARITY,
        "a.txt": "a\n",
        "b.txt": "b\n",
        "sub/c.txt": "c\n",
        "sub/deep/d.txt": "d\n",
        "arch.tar": _arch(),
    }


def _chain(client: docker.DockerClient, name: str) -> list[dict[str, Any]]:
    out = []
    doc = client.api.inspect_image(name)
    while True:
        out.append(doc)
        if not doc.get("Parent"):
            return out[::-1]
        doc = client.api.inspect_image(doc["Parent"])


def _masked(cfg: dict[str, Any] | None) -> dict[str, Any]:
    cfg = dict(cfg or {})
    cfg.pop("Image", None)
    if cfg.get("Hostname"):
        cfg["Hostname"] = "<id>"
    return cfg


def _stream_text(client: docker.DockerClient, ctx: bytes, tag: str) -> str:
    chunks = client.api.build(
        fileobj=io.BytesIO(ctx), custom_context=True, tag=tag, rm=True, decode=True
    )
    text = "".join(str(c.get("stream", "")) + str(c.get("error", "")) for c in chunks)
    text = re.sub(r"Removing intermediate container", " ---> Removed intermediate container", text)
    text = "".join(ln for ln in text.splitlines(True) if "IPv4 forwarding" not in ln)
    return re.sub(r"[0-9a-f]{12}", "<id>", text)


@pytest.mark.skipif(not dockerd_available(), reason="dockerd is not installed (or not root)")
def test_same_images_and_stream_as_dockerd(build_env: BuildEnv, tmp_path: Path) -> None:
    ctx = context_tar(_files(), owner="someone")  # user names count in the COPY hash
    ours = _stream_text(build_env.client, ctx, "parity:1")
    base = build_env.client.images.get("busybox:latest")
    with running_dockerd() as dockerd:
        theirs_client = docker.DockerClient(base_url=dockerd.base_url, timeout=120)
        try:
            theirs_client.images.load(b"".join(base.save(named=True)))
            # the base must be there: dockerd would otherwise try to pull it
            theirs_client.images.get("busybox:latest")
            theirs = _stream_text(theirs_client, ctx, "parity:1")
            assert "Successfully tagged" in theirs, theirs
            their_chain = _chain(theirs_client, "parity:1")
            their_history = [h["CreatedBy"] for h in theirs_client.api.history("parity:1")]
        finally:
            for c in theirs_client.containers.list(all=True):
                c.remove(force=True)
            theirs_client.close()
    assert ours == theirs
    our_chain = _chain(build_env.client, "parity:1")
    assert len(our_chain) == len(their_chain)
    for mine, other in zip(our_chain, their_chain, strict=True):
        assert _masked(mine["Config"]) == _masked(other["Config"])
        assert _masked(mine["ContainerConfig"]) == _masked(other["ContainerConfig"])
        assert mine["Author"] == other["Author"] and mine["Os"] == other["Os"]
    assert [h["CreatedBy"] for h in build_env.client.api.history("parity:1")] == their_history


def test_compose_build(build_env: BuildEnv, tmp_path: Path) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    write_tree(
        tmp_path,
        {
            "docker-compose.yml": (
                'version: "2.4"\nservices:\n  web:\n    build:\n      context: ./app\n'
                "      args:\n        MSG: composed\n      labels:\n        via: compose\n"
                "    image: comp-web:latest\n"
            ),
            "app/Dockerfile": 'FROM busybox\nARG MSG\nRUN echo "$MSG" > /msg\n',
        },
    )
    env = {"DOCKER_HOST": build_env.daemon.base_url, "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [compose, "-p", "btc", "build"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Successfully tagged comp-web:latest" in r.stdout
    image = build_env.client.images.get("comp-web:latest")
    assert image.labels == {"via": "compose"}
    out = build_env.client.containers.run("comp-web:latest", ["cat", "/msg"], remove=True)
    assert out == b"composed\n"
