"""Registry credentials as clients send them (moby's ``registry.AuthConfig``).

``X-Registry-Auth`` carries base64url-encoded AuthConfig JSON. dockerd decodes it with
Go's ``encoding/json``: field names match case-insensitively and unknown keys are
ignored. Pull, search and ``/distribution`` ignore a header that does not decode (they go
on anonymously); push refuses it. Never log an AuthConfig: ``repr`` hides the secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields

from berthd.errdefs import InvalidParameter

__all__ = [
    "AuthConfig",
    "auth_hmac_key",
    "decode_auth_body",
    "decode_auth_header",
    "decode_auth_header_strict",
]

_SECRETS = ("password", "auth", "identitytoken", "registrytoken")


@dataclass(frozen=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    auth: str = ""
    email: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'<hidden>' if f.name in _SECRETS and getattr(self, f.name) else repr(getattr(self, f.name))}"
            for f in fields(self)
        )
        return f"AuthConfig({shown})"

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> AuthConfig:
        """Go's decoding: keys case-insensitive, a non-string value is refused."""
        names = {f.name for f in fields(cls)}
        values: dict[str, str] = {}
        for key, value in data.items():
            name = key.lower()
            if name not in names or value is None:
                continue
            if not isinstance(value, str):
                raise InvalidParameter(
                    f"json: cannot unmarshal {_go_type(value)} into Go struct field "
                    f"AuthConfig.{name} of type string"
                )
            values[name] = value
        return cls(**values)

    def basic(self) -> tuple[str, str]:
        """(username, password), from ``auth`` when the two fields are empty."""
        if self.username or self.password:
            return self.username, self.password
        if self.auth:
            user, _, pw = _decode_basic(self.auth)
            return user, pw
        return "", ""

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


def _go_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _decode_basic(auth: str) -> tuple[str, str, str]:
    try:
        text = base64.b64decode(auth + "=" * (-len(auth) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", "", ""
    return text.partition(":")


def _b64_decode(value: str) -> bytes:
    """base64url (or standard) with the padding optional."""
    s = value.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if len(s) % 4 == 1:
        raise binascii.Error(f"illegal base64 data at input byte {len(s) - 1}")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _from_bytes(raw: bytes) -> AuthConfig:
    if not raw.strip():
        raise InvalidParameter("invalid X-Registry-Auth header: EOF")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidParameter(
            f"invalid X-Registry-Auth header: {_go_json_error(raw, e)}"
        ) from None
    if data is None:
        return AuthConfig()  # Go decodes JSON null into the zero value
    if not isinstance(data, dict):
        raise InvalidParameter(
            "invalid X-Registry-Auth header: json: cannot unmarshal "
            f"{_go_type(data)} into Go value of type registry.AuthConfig"
        )
    try:
        return AuthConfig.from_json(data)
    except InvalidParameter as e:
        raise InvalidParameter(f"invalid X-Registry-Auth header: {e}") from None


def _go_json_error(raw: bytes, e: Exception) -> str:
    first = raw.lstrip()[:1].decode(errors="replace")
    if first and first not in '{["-0123456789tfn':
        return f"invalid character {first!r} looking for beginning of value"
    return "unexpected EOF"


def decode_auth_header(value: str | None) -> AuthConfig:
    """Pull, search, distribution: a header that does not decode counts as none."""
    if not value:
        return AuthConfig()
    try:
        return decode_auth_header_strict(value)
    except InvalidParameter:
        return AuthConfig()


def decode_auth_header_strict(value: str) -> AuthConfig:
    """Push: a bad header is a 400 ``invalid X-Registry-Auth header: …``."""
    if not value:
        return AuthConfig()
    try:
        raw = _b64_decode(value)
    except (binascii.Error, ValueError) as e:
        raise InvalidParameter(f"invalid X-Registry-Auth header: {e}") from None
    return _from_bytes(raw)


def decode_auth_body(body: bytes) -> AuthConfig:
    """An AuthConfig sent as the request body (push without the header, ``/auth``)."""
    return _from_bytes(body)


def _go_marshal(obj: Mapping[str, str]) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.encode()


def auth_hmac_key(cfg: AuthConfig) -> bytes:
    """dockerd's v2metadata HMAC key: the digest string of the credentials' JSON.

    The fields are Go's ``authConfigKeyInput`` (``omitempty``), so no credentials hash
    ``{}``.
    """
    key: dict[str, str] = {}
    for name in ("username", "password", "auth", "identitytoken", "registrytoken"):
        value = getattr(cfg, name)
        if value:
            key[name] = value
    return ("sha256:" + hashlib.sha256(_go_marshal(key)).hexdigest()).encode()
