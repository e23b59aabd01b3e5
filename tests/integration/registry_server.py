"""Real registries on 127.0.0.1 for tests: Debian's ``docker-registry`` (distribution 2.8).

``RegistryServer(mode)`` writes a config under a temporary directory and runs
``/usr/bin/docker-registry serve <cfg>`` on a free port:

- ``plain``: no auth, http
- ``htpasswd``: Basic auth (``USER``/``PASSWORD``), http
- ``tls``: https with a certificate signed by a test CA (``ca_cert``); combine with
  htpasswd through ``RegistryServer("tls", auth="htpasswd")``
- ``token``: Bearer tokens from ``TokenServer``, a small token server in a thread of the
  test process: anonymous pull, push for ``USER``/``PASSWORD``, a refresh token for
  ``offline_token=true`` and the OAuth ``grant_type=refresh_token`` exchange. Tokens are
  ES256 JWS with the signing certificate in ``x5c`` (what distribution checks).

``FakeIndex`` answers the v1 search API (``/v1/_ping``, ``/v1/search``), which
distribution has not. Every process is stopped by PID and every directory removed by
``stop()``; the servers are context managers.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.helpers.ports import free_port, free_port6
from tests.helpers.tls import have_openssl, make_tls_material, openssl

REGISTRY_BIN = "/usr/bin/docker-registry"
USER = "testuser"
PASSWORD = "testpass"
SERVICE = "berthd-test-registry"
ISSUER = "berthd-test-issuer"

__all__ = [
    "ISSUER",
    "PASSWORD",
    "REGISTRY_BIN",
    "SERVICE",
    "USER",
    "FakeIndex",
    "ipv6_loopback",
    "RegistryServer",
    "TokenServer",
    "make_tls_material",
    "registry_available",
]


def registry_available() -> bool:
    return os.access(REGISTRY_BIN, os.X_OK) and have_openssl()


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # bcrypt without extra packages (py3.11); cost 4 keeps tests quick

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _der_to_raw(sig: bytes) -> bytes:
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JWS's raw r||s."""
    assert sig[0] == 0x30
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert sig[i] == 0x02
        n = sig[i + 1]
        value = sig[i + 2 : i + 2 + n]
        out += value.lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


class _Signer:
    """An EC P-256 key and self-signed certificate made with the openssl command."""

    def __init__(self, d: Path) -> None:
        self.dir = d
        openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=berthd test token signer",
            "-keyout", "signer.key", "-out", "signer.crt", cwd=d,
        )  # fmt: skip
        openssl("x509", "-in", "signer.crt", "-outform", "DER", "-out", "signer.der", cwd=d)
        self.cert_der = (d / "signer.der").read_bytes()
        self.cert_pem = d / "signer.crt"
        self._lock = threading.Lock()

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        with self._lock:
            der = subprocess.run(
                ["openssl", "dgst", "-sha256", "-sign", str(self.dir / "signer.key")],
                input=signing_input.encode(),
                capture_output=True,
                check=True,
                timeout=30,
            ).stdout
        return signing_input + "." + _b64url(_der_to_raw(der))


class _ThreadServer:
    """An http.server in a daemon thread on 127.0.0.1 (a free port)."""

    handler: type[http.server.BaseHTTPRequestHandler]

    def start(self) -> None:
        owner = self

        class Handler(self.handler):  # type: ignore[misc,name-defined]
            server_owner = owner

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if getattr(self, "httpd", None) is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.httpd = None  # type: ignore[assignment]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    server_owner: TokenServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _basic_user(self) -> str | None:
        """The user of a valid Basic header, "" for none, None for a wrong one."""
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return ""
        user, _, pw = base64.b64decode(value[6:]).decode().partition(":")
        return user if self.server_owner.users.get(user) == pw else None

    def do_GET(self) -> None:
        owner = self.server_owner
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        user = self._basic_user()
        owner.requests.append(("GET", self.path, self.headers.get("Authorization", "")))
        if user is None:
            self._reply(401, {"details": "incorrect username or password"})
            return
        reply = owner.grant(user, q.get("scope", []))
        if user and q.get("offline_token") == ["true"]:
            refresh = secrets.token_hex(16)
            owner.refresh_tokens[refresh] = user
            reply["refresh_token"] = refresh
        self._reply(200, reply)

    def do_POST(self) -> None:
        owner = self.server_owner
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        owner.requests.append(("POST", self.path, form.get("grant_type", [""])[0]))
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token":
            user = owner.refresh_tokens.get(form.get("refresh_token", [""])[0])
        elif grant == "password":
            name = form.get("username", [""])[0]
            user = name if owner.users.get(name) == form.get("password", [""])[0] else None
        else:
            user = None
        if not user:
            self._reply(401, {"details": "invalid refresh token"})
            return
        scopes = " ".join(form.get("scope", [])).split()
        reply = owner.grant(user, scopes)
        self._reply(200, {"access_token": reply["token"], "expires_in": 300})


class TokenServer(_ThreadServer):
    """A token server for ``auth: token`` registries (anonymous pull, user push)."""

    handler = _TokenHandler

    def __init__(self, d: Path, users: dict[str, str] | None = None) -> None:
        self.users = dict(users or {USER: PASSWORD})
        self.refresh_tokens: dict[str, str] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.signer = _Signer(d)

    def grant(self, user: str, scopes: Iterable[str]) -> dict[str, Any]:
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) != 3:
                continue
            kind, name, actions = parts
            wanted = [a for a in actions.split(",") if a]
            allowed = ["pull", "push"] if user else ["pull"]
            granted = [a for a in wanted if a in allowed]
            if kind.startswith("repository") and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        token = self.signer.sign(claims)
        return {"token": token, "access_token": token, "expires_in": 300}


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server_owner: FakeIndex
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server_owner
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        owner.requests.append((self.path, dict(self.headers.items())))
        if u.path == "/v1/_ping":
            body = b"true"
        elif u.path == "/v1/search":
            term = q.get("q", [""])[0]
            n = int(q.get("n", ["25"])[0])
            rows = [r for r in owner.rows if term in r["name"]][:n]
            body = json.dumps(
                {"num_pages": 1, "num_results": len(rows), "page_size": n, "page": 1,
                 "query": term, "results": rows}
            ).encode()  # fmt: skip
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeIndex(_ThreadServer):
    """The v1 search API of an index (``docker search 127.0.0.1:<port>/term``)."""

    handler = _IndexHandler

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows = rows if rows is not None else [
            {"name": "busybox", "description": "Busybox base image.", "star_count": 3000,
             "is_official": True, "is_automated": False},
            {"name": "someone/busybox-tools", "description": "Tools", "star_count": 4,
             "is_official": False, "is_automated": True},
        ]  # fmt: skip
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __enter__(self) -> FakeIndex:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1 (or ``host``) in one of the modes above."""

    def __init__(
        self,
        mode: str = "plain",
        *,
        auth: str = "",
        host: str = "127.0.0.1",
        tls_names: Iterable[str] = ("127.0.0.1", "::1", "localhost"),
        client_certs: bool = False,
    ) -> None:
        assert mode in ("plain", "htpasswd", "tls", "token"), mode
        self.mode = mode
        self.auth = auth or (
            "htpasswd" if mode == "htpasswd" else "token" if mode == "token" else ""
        )
        self.tls = mode == "tls"
        self.bind_host = host
        self.tls_names = tuple(tls_names)
        self.client_certs = client_certs  # TLS: clients must present a cert from ca.crt
        self.dir = Path(tempfile.mkdtemp(prefix="berthd-registry-"))
        self.port = free_port() if host == "127.0.0.1" else free_port6()
        self.proc: subprocess.Popen[bytes] | None = None
        self.token_server: TokenServer | None = None

    @property
    def host(self) -> str:
        """``host:port`` as clients name it (``[::1]:port`` for IPv6)."""
        h = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"{h}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    def _config(self) -> str:
        data = self.dir / "data"
        http_cfg: dict[str, Any] = {"addr": self.host, "secret": "not-a-secret"}
        if self.tls:
            make_tls_material(self.dir, self.tls_names)
            http_cfg["tls"] = {
                "certificate": str(self.dir / "tls.crt"),
                "key": str(self.dir / "tls.key"),
            }
            if self.client_certs:
                http_cfg["tls"]["clientcas"] = [str(self.dir / "ca.crt")]
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(data)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http_cfg,
        }
        if self.auth == "htpasswd":
            (self.dir / "htpasswd").write_text(f"{USER}:{_bcrypt(PASSWORD)}\n")
            cfg["auth"] = {"htpasswd": {"realm": "basic-realm", "path": str(self.dir / "htpasswd")}}
        elif self.auth == "token":
            self.token_server = TokenServer(self.dir)
            self.token_server.start()
            cfg["auth"] = {
                "token": {
                    "realm": self.token_server.url + "/token",
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.token_server.signer.cert_pem),
                }
            }
        # YAML is a superset of JSON: the registry reads this as it is
        return json.dumps(cfg)

    def start(self, timeout: float = 20.0) -> RegistryServer:
        cfg = self.dir / "config.yml"
        cfg.write_text(self._config())
        self.log = open(self.dir / "registry.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                logs = (self.dir / "registry.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"docker-registry did not start:\n{logs}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.client_certs:
            ctx.load_cert_chain(self.dir / "client.cert", self.dir / "client.key")
        try:
            urllib.request.urlopen(self.url + "/v2/", timeout=1, context=ctx).close()
        except urllib.error.HTTPError:
            return True
        except (OSError, ssl.SSLError):
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None
            self.log.close()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ipv6_loopback() -> bool:
    """Whether ::1 can be bound (a secure registry address outside 127.0.0.0/8)."""
    try:
        free_port6()
    except OSError:
        return False
    return True
