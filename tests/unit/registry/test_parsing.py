"""Challenges, X-Registry-Auth decoding and errcode answers."""

from __future__ import annotations

import base64
import errno
import json

import pytest

from berthd import errdefs
from berthd.registry.auth_config import (
    AuthConfig,
    auth_hmac_key,
    decode_auth_body,
    decode_auth_header,
    decode_auth_header_strict,
)
from berthd.registry.challenge import Challenge, parse_challenge, parse_challenges
from berthd.registry.errors import (
    BlobUnknown,
    ErrorEntry,
    NoBasicAuthCredentials,
    NoToken,
    RegistryError,
    TransportError,
    UnexpectedHTTPResponse,
    UnexpectedHTTPStatus,
    error_from_response,
    registry_error,
    retryable,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="http://127.0.0.1:5059/token",service="svc",scope="repository:t/app:pull"',
            Challenge("bearer", {"realm": "http://127.0.0.1:5059/token", "service": "svc", "scope": "repository:t/app:pull"}),
        ),
        ('Basic realm="basic-realm"', Challenge("basic", {"realm": "basic-realm"})),
        ("BASIC Realm=token-value", Challenge("basic", {"realm": "token-value"})),
        ('Bearer realm="a\\"b" , service="s"', Challenge("bearer", {"realm": 'a"b', "service": "s"})),
        # a malformed pair ends the parse, keeping what came before (Go)
        ('Bearer realm="r", broken, service="s"', Challenge("bearer", {"realm": "r"})),
        ('Bearer realm="unterminated', Challenge("bearer", {})),
        ("Negotiate", Challenge("negotiate", {})),
    ],
)  # fmt: skip
def test_parse_challenge(header: str, expected: Challenge) -> None:
    assert parse_challenge(header) == expected


def test_parse_challenges_skips_empty() -> None:
    assert parse_challenges(["", " ", 'Basic realm="x"']) == [Challenge("basic", {"realm": "x"})]


def _enc(obj: object, pad: bool = True) -> str:
    s = base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
    return s if pad else s.rstrip("=")


def test_decode_auth_header_padding_and_case() -> None:
    data = {"Username": "u", "password": "p?>", "serveraddress": "h:5000"}
    want = AuthConfig(username="u", password="p?>", serveraddress="h:5000")
    for pad in (True, False):
        assert decode_auth_header(_enc(data, pad)) == want
        assert decode_auth_header_strict(_enc(data, pad)) == want
    # standard alphabet too
    std = base64.b64encode(json.dumps({"password": "\xff\xfe>>>"}).encode()).decode()
    assert decode_auth_header(std).password == "\xff\xfe>>>"


@pytest.mark.parametrize(
    "value",
    [
        "%%%",
        "e30x",
        base64.urlsafe_b64encode(b"not json").decode(),
        _enc([1]),
        _enc({"username": 5}),
    ],
)
def test_malformed_header_is_anonymous_or_refused(value: str) -> None:
    assert decode_auth_header(value) == AuthConfig()
    with pytest.raises(errdefs.InvalidParameter, match=r"^invalid X-Registry-Auth header: "):
        decode_auth_header_strict(value)


def test_decode_auth_body_empty_is_eof() -> None:
    with pytest.raises(errdefs.InvalidParameter, match=r"^invalid X-Registry-Auth header: EOF$"):
        decode_auth_body(b"")
    assert decode_auth_body(b"{}") == AuthConfig()


def test_auth_config_repr_hides_secrets() -> None:
    text = repr(AuthConfig(username="u", password="s3cret", identitytoken="zz-tok-zz"))
    assert "s3cret" not in text and "zz-tok-zz" not in text and "'u'" in text


def test_hmac_key_matches_dockerd() -> None:
    # sha256 of "{}" for no credentials, as the research notes
    assert auth_hmac_key(AuthConfig()).startswith(b"sha256:44136fa3")
    key = auth_hmac_key(AuthConfig(username="u", password="p", email="ignored"))
    import hashlib

    assert (
        key == ("sha256:" + hashlib.sha256(b'{"username":"u","password":"p"}').hexdigest()).encode()
    )


def test_errcode_text_and_kinds() -> None:
    body = json.dumps(
        {
            "errors": [
                {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "x"}}
            ]
        }
    ).encode()
    err = error_from_response(404, "Not Found", body)
    assert isinstance(err, RegistryError) and isinstance(err, errdefs.NotFound)
    assert str(err) == "manifest unknown: manifest unknown"
    assert (err.code, err.message, err.detail) == (
        "MANIFEST_UNKNOWN",
        "manifest unknown",
        {"Tag": "x"},
    )
    # no detail and the default message: only the code's text (Go's ErrorCode)
    plain = error_from_response(
        404,
        "",
        json.dumps(
            {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]}
        ).encode(),
    )
    assert str(plain) == "blob unknown"
    denied = error_from_response(
        403, "", json.dumps({"errors": [{"code": "DENIED", "message": "no way"}]}).encode()
    )
    assert isinstance(denied, errdefs.Forbidden) and str(denied) == "denied: no way"
    two = registry_error([ErrorEntry("DENIED", "a"), ErrorEntry("UNAUTHORIZED", "b")])
    assert str(two) == "errors:\ndenied: a\nunauthorized: b\n"
    unknown = error_from_response(
        400, "", json.dumps({"errors": [{"code": "WHAT", "message": "m"}]}).encode()
    )
    assert isinstance(unknown, RegistryError) and unknown.code == "UNKNOWN"


def test_error_response_shapes() -> None:
    hub = error_from_response(401, "Unauthorized", b'{"details":"incorrect username or password"}')
    assert isinstance(hub, errdefs.Unauthorized)
    assert str(hub) == "unauthorized: incorrect username or password"
    scope = error_from_response(
        401, "", b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}',
        ['Bearer realm="r",error="insufficient_scope"'],
    )  # fmt: skip
    assert isinstance(scope, RegistryError) and scope.code == "DENIED"
    html = error_from_response(404, "Not Found", b"<html>")
    assert isinstance(html, UnexpectedHTTPResponse)
    assert (
        str(html)
        == "error parsing HTTP 404 response body: invalid character '<' looking for beginning of value: \"<html>\""
    )
    empty401 = error_from_response(401, "Unauthorized", b"")
    assert (
        isinstance(empty401, RegistryError)
        and str(empty401) == "unauthorized: authentication required"
    )
    status = error_from_response(502, "Bad Gateway", b"")
    assert isinstance(status, UnexpectedHTTPStatus)
    assert str(status) == "received unexpected HTTP status: 502 Bad Gateway"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (registry_error([ErrorEntry("UNAUTHORIZED", "")]), False),
        (registry_error([ErrorEntry("DENIED", "")]), False),
        (registry_error([ErrorEntry("TOOMANYREQUESTS", "")]), False),
        (registry_error([ErrorEntry("NAME_UNKNOWN", "")]), False),
        (registry_error([ErrorEntry("UNSUPPORTED", "")]), False),
        (registry_error([ErrorEntry("MANIFEST_UNKNOWN", "")]), True),
        (registry_error([ErrorEntry("UNAVAILABLE", "")]), True),
        (UnexpectedHTTPStatus(500, "Internal Server Error"), False),
        (UnexpectedHTTPResponse(400, "x", b""), False),
        (NoBasicAuthCredentials(), False),
        (NoToken(), False),
        (BlobUnknown(), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (TransportError("GET", "http://h/v2/", "EOF"), True),
        (ConnectionResetError(), True),
    ],
)  # fmt: skip
def test_retryable(exc: BaseException, expected: bool) -> None:
    assert retryable(exc) is expected
