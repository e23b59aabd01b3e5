"""Registry errors with Go's wording and an errdefs kind.

A registry answers a failure with ``{"errors": [{"code", "message", "detail"}]}``
(distribution's ``errcode``). Go prints one entry as ``<code lower-cased, _ → space>:
<message>`` ("manifest unknown: manifest unknown"), or only the code's text when the entry
has no detail and its message is the code's default. ``error_from_response`` follows
distribution's ``HandleErrorResponse``: the Bearer challenge's ``error=`` first, the legacy
``{"details": …}`` body, an errcode body, else an unexpected-response error.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable
from dataclasses import dataclass

from berthd import errdefs
from berthd.registry.challenge import parse_challenges

__all__ = [
    "BlobUnknown",
    "ErrorEntry",
    "ManifestTooLarge",
    "AuthorizeError",
    "NoBasicAuthCredentials",
    "NoToken",
    "RegistryError",
    "TransportError",
    "UnexpectedHTTPResponse",
    "UnexpectedHTTPStatus",
    "error_from_response",
    "registry_error",
    "retryable",
]

# code → (default message, HTTP status the registry uses, errdefs kind for the API)
CODES: dict[str, tuple[str, int, type[errdefs.BerthdError]]] = {
    "UNKNOWN": ("unknown error", 500, errdefs.System),
    "UNSUPPORTED": ("The operation is unsupported.", 405, errdefs.NotImplemented_),
    "UNAUTHORIZED": ("authentication required", 401, errdefs.Unauthorized),
    "DENIED": ("requested access to the resource is denied", 403, errdefs.Forbidden),
    "UNAVAILABLE": ("service unavailable", 503, errdefs.Unavailable),
    "TOOMANYREQUESTS": ("too many requests", 429, errdefs.Unavailable),
    "DIGEST_INVALID": (
        "provided digest did not match uploaded content",
        400,
        errdefs.InvalidParameter,
    ),
    "SIZE_INVALID": ("provided length did not match content length", 400, errdefs.InvalidParameter),
    "NAME_INVALID": ("invalid repository name", 400, errdefs.InvalidParameter),
    "TAG_INVALID": ("manifest tag did not match URI", 400, errdefs.InvalidParameter),
    "NAME_UNKNOWN": ("repository name not known to registry", 404, errdefs.NotFound),
    "MANIFEST_UNKNOWN": ("manifest unknown", 404, errdefs.NotFound),
    "MANIFEST_INVALID": ("manifest invalid", 400, errdefs.InvalidParameter),
    "MANIFEST_UNVERIFIED": (
        "manifest failed signature verification",
        400,
        errdefs.InvalidParameter,
    ),
    "MANIFEST_BLOB_UNKNOWN": ("blob unknown to registry", 400, errdefs.InvalidParameter),
    "BLOB_UNKNOWN": ("blob unknown to registry", 404, errdefs.NotFound),
    "BLOB_UPLOAD_UNKNOWN": ("blob upload unknown to registry", 404, errdefs.NotFound),
    "BLOB_UPLOAD_INVALID": ("blob upload invalid", 404, errdefs.NotFound),
    "PAGINATION_NUMBER_INVALID": (
        "invalid number of results requested",
        400,
        errdefs.InvalidParameter,
    ),
}

# moby's retryOnError: these codes end a transfer at once.
_DO_NOT_RETRY_CODES = frozenset(
    {"UNAUTHORIZED", "UNSUPPORTED", "DENIED", "TOOMANYREQUESTS", "NAME_UNKNOWN"}
)


@dataclass(frozen=True)
class ErrorEntry:
    code: str
    message: str
    detail: object = None

    def __str__(self) -> str:
        text = self.code.lower().replace("_", " ")
        default = CODES.get(self.code, CODES["UNKNOWN"])[0]
        if self.detail is None and self.message in ("", default):
            return text
        return f"{text}: {self.message}"


class RegistryError(errdefs.BerthdError):
    """An errcode answer. ``code``/``message``/``detail`` are the first entry's."""

    code: str
    message: str
    detail: object
    status: int
    entries: tuple[ErrorEntry, ...]

    def __init__(self, entries: Iterable[ErrorEntry], status: int = 0) -> None:
        self.entries = tuple(entries) or (ErrorEntry("UNKNOWN", "unknown error"),)
        first = self.entries[0]
        self.code = first.code
        self.detail = first.detail
        self.status = status or CODES.get(first.code, CODES["UNKNOWN"])[1]
        if len(self.entries) == 1:
            text = str(first)
        else:
            text = "errors:\n" + "".join(f"{e}\n" for e in self.entries)
        super().__init__(text)
        self._text = text
        self.message = first.message  # the first entry's message; str() is the whole text

    def __str__(self) -> str:
        return self._text


_KIND_CLASSES: dict[type[errdefs.BerthdError], type[RegistryError]] = {}


def _class_for(code: str) -> type[RegistryError]:
    kind = CODES.get(code, CODES["UNKNOWN"])[2]
    cls = _KIND_CLASSES.get(kind)
    if cls is None:
        cls = type(f"Registry{kind.__name__.rstrip('_')}Error", (RegistryError, kind), {})
        _KIND_CLASSES[kind] = cls
    return cls


def registry_error(entries: Iterable[ErrorEntry], status: int = 0) -> RegistryError:
    """A RegistryError that is also the errdefs kind of its first code."""
    entries = tuple(entries)
    code = entries[0].code if entries else "UNKNOWN"
    return _class_for(code)(entries, status)


class UnexpectedHTTPStatus(errdefs.System):
    """A status outside 4xx with no errcode body (``received unexpected HTTP status: …``)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(f"received unexpected HTTP status: {status} {reason}".rstrip())


class UnexpectedHTTPResponse(errdefs.System):
    """A 4xx whose body is not an errcode document."""

    def __init__(self, status: int, parse_error: str, body: bytes) -> None:
        self.status = status
        shown = json.dumps(body.decode(errors="replace"), ensure_ascii=False)
        super().__init__(f"error parsing HTTP {status} response body: {parse_error}: {shown}")


class NoBasicAuthCredentials(errdefs.System):
    def __init__(self) -> None:
        super().__init__("no basic auth credentials")


class NoToken(errdefs.System):
    def __init__(self) -> None:
        super().__init__("authorization server did not include a token in the response")


class BlobUnknown(errdefs.NotFound):
    """distribution's ErrBlobUnknown: a blob GET or HEAD answered 404."""

    def __init__(self) -> None:
        super().__init__("unknown blob")


class ManifestTooLarge(errdefs.System):
    do_not_retry = True


class TransportError(errdefs.System):
    """The request did not get an answer: ``Get "<url>": <why>`` as Go's url.Error."""

    def __init__(self, method: str, url: str, why: str) -> None:
        self.method = method
        self.url = url
        self.why = why
        super().__init__(f'{method.capitalize()} "{url}": {why}')


class AuthorizeError(TransportError):
    """The authorizer refused to sign a request (no credentials, no token): Go's url.Error
    around it. moby's ``retryOnError`` unwraps it (``cause``), so push and blob pulls say
    the bare sentence and the manifest step of a pull says ``Head "<url>": …``."""

    def __init__(self, method: str, url: str, cause: errdefs.BerthdError) -> None:
        super().__init__(method, url, str(cause))
        self.cause = cause


def _parse_body(status: int, body: bytes) -> errdefs.BerthdError:
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        first = body.lstrip()[:1].decode(errors="replace")
        return UnexpectedHTTPResponse(
            status, f"invalid character {first!r} looking for beginning of value", body
        )
    if data is None:
        return UnexpectedHTTPResponse(status, "unexpected end of JSON input", body)
    if isinstance(data, dict):
        details = data.get("details")
        if isinstance(details, str) and details:
            code = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}.get(
                status, "UNKNOWN"
            )
            return registry_error([ErrorEntry(code, details)], status)
        raw = data.get("errors")
        entries: list[ErrorEntry] = []
        if isinstance(raw, list):
            for item in raw:
                if not isinstance(item, dict):
                    continue
                code = str(item.get("code") or "UNKNOWN").upper()
                if code not in CODES:
                    code = "UNKNOWN"
                message = item.get("message")
                entries.append(
                    ErrorEntry(
                        code, message if isinstance(message, str) else "", item.get("detail")
                    )
                )
        if entries:
            return registry_error(entries, status)
    return UnexpectedHTTPResponse(status, "no error details found in HTTP response body", body)


def error_from_response(
    status: int, reason: str, body: bytes, www_authenticate: Iterable[str] = ()
) -> errdefs.BerthdError:
    """The error for an unsuccessful answer (distribution's HandleErrorResponse)."""
    if 400 <= status < 500:
        if status == 401:
            for c in parse_challenges(www_authenticate):
                if c.scheme != "bearer":
                    continue
                code = {"invalid_token": "UNAUTHORIZED", "insufficient_scope": "DENIED"}.get(
                    c.params.get("error", "")
                )
                if code is None:
                    continue
                message = c.params.get("error_description") or CODES[code][0]
                first = ErrorEntry(code, message)
                rest = _parse_body(status, body)
                more = rest.entries if isinstance(rest, RegistryError) else ()
                return registry_error([first, *more], status)
        err = _parse_body(status, body)
        if isinstance(err, UnexpectedHTTPResponse) and status == 401:
            return registry_error(
                [
                    ErrorEntry(
                        "UNAUTHORIZED", "authentication required", body.decode(errors="replace")
                    )
                ],
                status,
            )
        return err
    return UnexpectedHTTPStatus(status, reason)


def retryable(exc: BaseException) -> bool:
    """moby's ``retryOnError``: may a failed transfer be tried again?"""
    if getattr(exc, "do_not_retry", False):
        return False
    if isinstance(exc, RegistryError):
        return exc.code not in _DO_NOT_RETRY_CODES
    if isinstance(
        exc,
        NoBasicAuthCredentials
        | NoToken
        | UnexpectedHTTPStatus
        | UnexpectedHTTPResponse
        | BlobUnknown,
    ):
        return False
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return False
    if "no space left on device" in str(exc):
        return False
    return isinstance(exc, Exception)
