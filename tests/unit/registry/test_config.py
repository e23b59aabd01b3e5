"""ServiceConfig validation, /info RegistryConfig and endpoint lookup."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.config import load
from berthd.registry.config import ServiceConfig, ServiceOptions
from berthd.registry.endpoints import lookup_endpoints


def _cfg(**kw: object) -> ServiceConfig:
    return ServiceConfig.from_options(ServiceOptions(**kw), warn=False)  # type: ignore[arg-type]


def test_defaults_to_api() -> None:
    assert _cfg().to_api() == {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}},
        "Mirrors": None,
    }  # fmt: skip


def test_options_to_api() -> None:
    cfg = _cfg(
        mirrors=("https://m.test", "https://m.test/", "http://m2.test:5000/path"),
        insecure_registries=("http://reg.test:5000", "10.0.0.1/8", "10.0.0.0/8", "[::1]:5000"),
    )
    api = cfg.to_api()
    assert api["Mirrors"] == ["https://m.test/", "http://m2.test:5000/path/"]
    assert api["InsecureRegistryCIDRs"] == ["10.0.0.0/8", "127.0.0.0/8"]
    assert list(api["IndexConfigs"]) == ["[::1]:5000", "docker.io", "reg.test:5000"]
    assert api["IndexConfigs"]["reg.test:5000"] == {
        "Name": "reg.test:5000",
        "Mirrors": [],
        "Secure": False,
        "Official": False,
    }
    assert api["IndexConfigs"]["docker.io"]["Mirrors"] == [
        "https://m.test/",
        "http://m2.test:5000/path/",
    ]


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"insecure_registries": ("ftp://x",)}, "insecure registry ftp://x should not contain '://'"),
        ({"insecure_registries": ("-bad",)}, "invalid index name (-bad). Cannot begin or end with a hyphen"),
        ({"insecure_registries": ("bad_host!",)}, 'insecure registry bad_host! is not valid: invalid host "bad_host!"'),
        ({"insecure_registries": ("host:99999",)}, 'insecure registry host:99999 is not valid: invalid port "99999"'),
        ({"mirrors": ("ftp://m",)}, 'invalid mirror: unsupported scheme "ftp" in "ftp://m"'),
        ({"mirrors": ("m.test",)}, 'invalid mirror: unsupported scheme "" in "m.test"'),
        ({"mirrors": ("https://m.test/?x=1",)}, 'invalid mirror: query or fragment at end of the URI "https://m.test/?x=1"'),
        ({"mirrors": ("https://u:secret@m.test/",)}, 'invalid mirror: username/password not allowed in URI "https://u:xxxxx@m.test/"'),
    ],
)  # fmt: skip
def test_invalid_options(opts: dict[str, object], message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as e:
        _cfg(**opts)
    assert str(e.value) == message


def test_daemon_config_validation() -> None:
    with pytest.raises(load.ConfigError, match="insecure registry ftp://x should not contain"):
        load.build_config({"insecure-registries": ["ftp://x"]}, {})
    with pytest.raises(load.ConfigError, match="invalid mirror"):
        load.build_config({}, {"registry-mirrors": ["ftp://m"]})
    with pytest.raises(load.ConfigError, match=r"^invalid max concurrent downloads: -1$"):
        load.build_config({"max-concurrent-downloads": -1}, {})
    with pytest.raises(load.ConfigError, match=r"^invalid max download attempts: -2$"):
        load.build_config({}, {"max-download-attempts": -2})
    cfg = load.build_config({"max-concurrent-uploads": 0, "max-concurrent-downloads": 7}, {})
    assert (
        cfg.max_concurrent_downloads,
        cfg.max_concurrent_uploads,
        cfg.max_download_attempts,
    ) == (7, 5, 5)
    assert cfg.registry_certs_dir == "/etc/docker/certs.d"


def test_secure_index_matching() -> None:
    cfg = _cfg(insecure_registries=("reg.test:5000", "10.1.0.0/16"))
    assert not cfg.is_secure_index("127.0.0.1:5000")
    assert not cfg.is_secure_index("localhost:5000")  # /etc/hosts, not DNS
    assert not cfg.is_secure_index("reg.test:5000")
    assert cfg.is_secure_index("reg.test:5001")
    assert not cfg.is_secure_index("10.1.2.3")
    assert cfg.is_secure_index("10.2.0.1:443")
    assert cfg.is_secure_index("[::1]:5000")
    assert cfg.is_secure_index("docker.io")


def test_lookup_endpoints() -> None:
    cfg = _cfg(mirrors=("https://m.test", "http://127.0.0.1:5001"), certs_dir="/certs")
    pull = lookup_endpoints(cfg, "docker.io")
    assert [(e.url, e.mirror, e.official, e.tls_verify) for e in pull] == [
        ("https://m.test", True, False, True),
        ("http://127.0.0.1:5001", True, False, False),
        ("https://registry-1.docker.io", False, True, True),
    ]
    assert pull[0].certs_dir == "/certs/m.test"
    assert [e.url for e in lookup_endpoints(cfg, "docker.io", mirrors=False)] == [
        "https://registry-1.docker.io"
    ]
    local = lookup_endpoints(cfg, "127.0.0.1:5000")
    assert [(e.url, e.tls_verify, e.certs_dir) for e in local] == [
        ("https://127.0.0.1:5000", False, ""),
        ("http://127.0.0.1:5000", False, ""),
    ]
    secure = lookup_endpoints(cfg, "[::1]:5000")
    assert [(e.url, e.tls_verify, e.certs_dir) for e in secure] == [
        ("https://[::1]:5000", True, "/certs/[::1]:5000")
    ]
    assert secure[0].v2_url == "https://[::1]:5000/v2/"
