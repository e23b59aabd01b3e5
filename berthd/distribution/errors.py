"""Errors of pull and push, worded as moby's ``distribution/errors.go``.

``DoNotRetry`` marks a failure no retry can fix (moby's ``xfer.DoNotRetry``);
``retry_on_error`` is ``retryOnError``; ``translate_pull_error`` gives the messages
``docker pull`` prints for a missing repository, tag or permission.
"""

from __future__ import annotations

from berthd import errdefs
from berthd.image.reference import Reference
from berthd.registry.errors import (
    AuthorizeError,
    RegistryError,
    TransportError,
    UnexpectedHTTPResponse,
    UnexpectedHTTPStatus,
    retryable,
)

__all__ = [
    "DoNotRetry",
    "ImageConfigPullError",
    "NoMatchingManifest",
    "PullNotFound",
    "continue_on_error",
    "deprecated_schema1_error",
    "error_code",
    "retry_on_error",
    "translate_pull_error",
    "unwrap",
]


class DoNotRetry(Exception):
    """Wraps an error that retrying cannot fix."""

    def __init__(self, err: BaseException) -> None:
        super().__init__(str(err))
        self.err = err

    def __str__(self) -> str:
        return str(self.err)


def unwrap(err: BaseException) -> BaseException:
    while isinstance(err, DoNotRetry):
        err = err.err
    return err


def error_code(err: BaseException) -> str:
    """The registry errcode (``MANIFEST_UNKNOWN``…) an error carries, or ""."""
    err = unwrap(err)
    return err.code if isinstance(err, RegistryError) else ""


def retry_on_error(err: BaseException) -> BaseException:
    """moby ``retryOnError``: wrap in DoNotRetry what a retry cannot fix."""
    if isinstance(err, DoNotRetry):
        return err
    if isinstance(err, AuthorizeError):
        return DoNotRetry(err.cause)
    if not retryable(err):
        return DoNotRetry(err)
    if isinstance(err, errdefs.InvalidParameter) and not isinstance(err, RegistryError):
        return DoNotRetry(err)  # our own verdicts (media types, bad input)
    return err


def continue_on_error(err: BaseException, mirror: bool) -> bool:
    """moby ``continueOnError``: may the next endpoint be tried after this error?"""
    err = unwrap(err)
    if isinstance(err, RegistryError):
        return mirror
    if isinstance(err, UnexpectedHTTPStatus | UnexpectedHTTPResponse | TransportError):
        return True
    if isinstance(err, ImageConfigPullError):
        return mirror
    # our own verdicts (media types, verification) are final
    return not isinstance(err, errdefs.BerthdError)


class PullNotFound(errdefs.NotFound):
    """moby ``notFoundError``."""


class ImageConfigPullError(errdefs.BerthdError):
    def __init__(self, err: BaseException) -> None:
        super().__init__("error pulling image configuration: " + str(unwrap(err)))
        self.err = err


class NoMatchingManifest(errdefs.NotFound):
    def __init__(self, platform: str) -> None:
        super().__init__(f"no matching manifest for {platform} in the manifest list entries")


def translate_pull_error(err: BaseException, ref: Reference) -> BaseException:
    """moby ``translatePullError``."""
    err = unwrap(err)
    code = error_code(err)
    if code == "DENIED":
        return PullNotFound(
            f"pull access denied for {ref.familiar_name()}, repository does not exist or"
            f" may require 'docker login': {err}"
        )
    if code == "MANIFEST_UNKNOWN":
        return PullNotFound(f"manifest for {ref.familiar_string()} not found: {err}")
    if code == "NAME_UNKNOWN":
        return PullNotFound(f"repository {ref.familiar_name()} not found: {err}")
    # everything else is errdefs.Unknown in dockerd: a 500 whatever its kind (so the CLI
    # does not take a registry's 401 for its own and prompt for a login)
    return errdefs.System(str(err) or type(err).__name__)


def deprecated_schema1_error(ref: Reference) -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter(
        "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2,"
        " schema 1 support is disabled by default and will be removed in an upcoming release."
        f" Suggest the author of {ref} to upgrade the image to the OCI Format or Docker Image"
        " manifest v2, schema 2. More information at"
        " https://docs.docker.com/go/deprecated-image-specs/"
    )
