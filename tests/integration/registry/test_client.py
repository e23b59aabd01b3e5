"""The Repository client against a real docker-registry (plain, htpasswd, token)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import ServiceOptions
from berthd.registry.errors import (
    AuthorizeError,
    BlobUnknown,
    NoBasicAuthCredentials,
    RegistryError,
    TransportError,
)
from berthd.registry.repository import Repository
from berthd.registry.service import RegistryService
from tests.integration.registry_server import PASSWORD, USER, RegistryServer, ipv6_loopback

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _push_blob(repo: Repository, data: bytes, step: int = 4096) -> str:
    up = await repo.start_upload()
    for i in range(0, len(data), step):
        await up.write(data[i : i + step])
    desc = await up.commit(_digest(data))
    assert desc.digest == _digest(data) and desc.size == len(data)
    return desc.digest


def _creds(reg: RegistryServer) -> AuthConfig:
    return AuthConfig(username=USER, password=PASSWORD) if reg.auth else AuthConfig()


async def _open(
    svc: RegistryService,
    reg: RegistryServer,
    path: str,
    creds: AuthConfig,
    actions: tuple[str, ...],
) -> Repository:
    endpoint = next(
        e
        for e in svc.lookup_push_endpoints(reg.host)
        if e.scheme == ("https" if reg.tls else "http")
    )
    return await svc.open_repository(
        endpoint, path, creds, actions, headers={"User-Agent": "berthd-test"}
    )


async def test_push_and_pull_round_trip(any_registry: RegistryServer) -> None:
    reg = any_registry
    svc = RegistryService(ServiceOptions())
    try:
        repo = await _open(svc, reg, "t/app", _creds(reg), ("pull", "push"))
        layer = bytes(range(256)) * 300
        layer_digest = await _push_blob(repo, layer)
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        config_digest = await _push_blob(repo, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": SCHEMA2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer), "digest": layer_digest}],
        }).encode()  # fmt: skip
        assert await repo.put_manifest("v1", SCHEMA2, manifest) == _digest(manifest)

        # anonymous pull works on plain and token registries; htpasswd needs credentials
        pull_creds = AuthConfig() if reg.auth != "htpasswd" else _creds(reg)
        pull = await _open(svc, reg, "t/app", pull_creds, ("pull",))
        desc = await pull.resolve("v1")
        assert (desc.media_type, desc.digest, desc.size) == (
            SCHEMA2,
            _digest(manifest),
            len(manifest),
        )
        body, media_type, digest = await pull.get_manifest(desc.digest)
        assert (body, media_type, digest) == (manifest, SCHEMA2, _digest(manifest))
        assert await pull.get_blob(config_digest, 1 << 20) == config
        stat = await pull.stat_blob(layer_digest)
        assert stat is not None and stat.size == len(layer)
        assert await pull.stat_blob(_digest(b"missing")) is None

        reader = await pull.open_blob(layer_digest, offset=1000)
        got = b""
        while chunk := await reader.read(7000):
            got += chunk
        await reader.close()
        assert reader.resumed and reader.total == len(layer) and got == layer[1000:]

        assert await repo.tags() == ["v1"]

        other = await _open(svc, reg, "t/other", _creds(reg), ("pull", "push"))
        assert await other.mount_blob(layer_digest, "t/app") is None
        upload = await other.mount_blob(_digest(b"not there"), "t/app")
        assert upload is not None
        await upload.cancel()
        assert (await other.stat_blob(layer_digest)) is not None

        with pytest.raises(RegistryError) as e:
            await pull.get_manifest("nope")
        assert str(e.value) == "manifest unknown: manifest unknown"
        assert isinstance(e.value, errdefs.NotFound)
        with pytest.raises(BlobUnknown):
            await pull.open_blob(_digest(b"missing"))
    finally:
        await svc.close()


async def test_htpasswd_without_credentials(htpasswd_registry: RegistryServer) -> None:
    svc = RegistryService(ServiceOptions())
    try:
        repo = await _open(svc, htpasswd_registry, "t/app", AuthConfig(), ("pull",))
        with pytest.raises(AuthorizeError) as e:
            await repo.resolve("latest")
        url = f"http://{htpasswd_registry.host}/v2/t/app/manifests/latest"
        assert str(e.value) == f'Head "{url}": no basic auth credentials'
        assert isinstance(e.value.cause, NoBasicAuthCredentials)
    finally:
        await svc.close()


async def test_token_anonymous_push_is_denied(token_registry: RegistryServer) -> None:
    svc = RegistryService(ServiceOptions())
    try:
        repo = await _open(svc, token_registry, "t/app", AuthConfig(), ("pull", "push"))
        with pytest.raises(RegistryError) as e:
            await repo.start_upload()
        assert e.value.code in ("DENIED", "UNAUTHORIZED")
    finally:
        await svc.close()


async def test_tls_registry_trusted_through_certs_dir(tmp_path: Path) -> None:
    # [::1] is outside 127.0.0.0/8: a secure registry, verified against certs.d's ca.crt,
    # that asks for a client certificate (client.cert/client.key in certs.d)
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    with RegistryServer("tls", host="::1", client_certs=True) as reg:
        svc = RegistryService(ServiceOptions(certs_dir=str(tmp_path)))
        try:
            (endpoint,) = svc.lookup_pull_endpoints(reg.host)
            assert endpoint.tls_verify
            repo = await svc.open_repository(endpoint, "t/tls", AuthConfig(), ("pull", "push"))
            with pytest.raises(
                TransportError, match="x509: certificate signed by unknown authority"
            ):
                await repo.ping()
            (tmp_path / reg.host).mkdir()
            shutil.copy(reg.ca_cert, tmp_path / reg.host / "ca.crt")
            (tmp_path / reg.host / "client.key").write_text("")
            with pytest.raises(
                errdefs.InvalidParameter,
                match=r"missing client certificate client\.cert for key client\.key",
            ):
                await svc.open_repository(endpoint, "t/tls", AuthConfig(), ("pull",))
            (tmp_path / reg.host / "client.key").unlink()
            no_cert = await svc.open_repository(endpoint, "t/tls", AuthConfig(), ("pull",))
            with pytest.raises(TransportError):  # trusted now, but no client certificate
                await no_cert.ping()
            shutil.copy(reg.dir / "client.cert", tmp_path / reg.host / "client.cert")
            shutil.copy(reg.dir / "client.key", tmp_path / reg.host / "client.key")
            repo = await svc.open_repository(endpoint, "t/tls", AuthConfig(), ("pull", "push"))
            digest = await _push_blob(repo, b"over tls")
            assert await repo.get_blob(digest, 100) == b"over tls"
        finally:
            await svc.close()
