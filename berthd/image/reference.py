"""Image references, parsed and normalised exactly as ``github.com/distribution/reference``.

Clients send familiar names (``busybox``), the stores key by normalised names
(``docker.io/library/busybox:latest``) and every message shows the familiar form
again, so the grammar, the normalisation and the error wording all have to match
docker's byte for byte: the CLI and the SDK show or parse these messages.

A parsed reference is a :class:`Reference` (a name, optionally a tag and/or a digest)
or, for ``ParseAnyReference`` on a bare ID or digest, a :class:`DigestReference`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berthd import errdefs
from berthd.image.digest import parse_digest

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "DigestReference",
    "InvalidReference",
    "Reference",
    "parse",
    "parse_any_reference",
    "parse_docker_ref",
    "parse_normalized_named",
    "repo_tag_reference",
    "split_docker_domain",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255


class InvalidReference(errdefs.InvalidParameter):
    """A reference string that does not follow the grammar (dockerd answers 400)."""


# --- the grammar, transcribed from distribution/reference regexp.go -------------------
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT = r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_IDENTIFIER = r"([a-f0-9]{64})"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_HOST = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + ")"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME

# Go's \w is ASCII-only: re.ASCII keeps Python's \w from accepting letters like "é".
_REFERENCE_RE = re.compile(
    r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$", re.ASCII
)
_ANCHORED_NAME_RE = re.compile(
    r"^(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")$", re.ASCII
)
_ANCHORED_TAG_RE = re.compile(r"^" + _TAG + r"$", re.ASCII)
_ANCHORED_DIGEST_RE = re.compile(r"^" + _DIGEST + r"$", re.ASCII)
_ANCHORED_IDENTIFIER_RE = re.compile(r"^" + _IDENTIFIER + r"$", re.ASCII)


@dataclass(frozen=True, slots=True)
class DigestReference:
    """A reference that is only a digest (an image ID given by ``ParseAnyReference``)."""

    digest: str

    def __str__(self) -> str:
        return self.digest


@dataclass(frozen=True, slots=True)
class Reference:
    """A named reference: ``[domain/]path[:tag][@digest]``.

    ``domain`` is empty only for references built by :func:`parse` on an un-normalised
    string; everything from :func:`parse_normalized_named` carries a domain.
    """

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The repository name with its domain (Go's ``Named.Name()``)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    # --- kinds (Go's interface assertions) ---------------------------------------
    @property
    def is_tagged(self) -> bool:
        return bool(self.tag)

    @property
    def is_canonical(self) -> bool:
        """Has a digest (Go's ``reference.Canonical``)."""
        return bool(self.digest)

    @property
    def is_name_only(self) -> bool:
        return not self.tag and not self.digest

    # --- transformations ----------------------------------------------------------
    def familiar(self) -> Reference:
        """Drop ``docker.io/`` and the ``library/`` prefix of official images."""
        domain, path = self.domain, self.path
        if domain == DEFAULT_DOMAIN:
            domain = ""
            if path.startswith(OFFICIAL_REPO_PREFIX):
                rest = path[len(OFFICIAL_REPO_PREFIX) :]
                if "/" not in rest:
                    path = rest
        return Reference(domain, path, self.tag, self.digest)

    def familiar_name(self) -> str:
        """``FamiliarName``: ``docker.io/library/busybox`` → ``busybox``."""
        return self.familiar().name

    def familiar_string(self) -> str:
        """``FamiliarString``: what dockerd prints (``busybox:latest``)."""
        return str(self.familiar())

    def trim(self) -> Reference:
        """``TrimNamed``: the name alone."""
        return Reference(self.domain, self.path)

    def with_tag(self, tag: str) -> Reference:
        """``WithTag``; the digest, if any, is kept."""
        if not _ANCHORED_TAG_RE.match(tag):
            raise InvalidReference("invalid tag format")
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str) -> Reference:
        """``WithDigest``; the tag, if any, is kept."""
        if not _ANCHORED_DIGEST_RE.match(digest):
            raise InvalidReference("invalid digest format")
        return Reference(self.domain, self.path, self.tag, digest)

    def tag_name_only(self) -> Reference:
        """``TagNameOnly``: add ``:latest`` when there is neither tag nor digest."""
        return self.with_tag(DEFAULT_TAG) if self.is_name_only else self

    def favor_digest(self) -> Reference:
        """With both a tag and a digest keep only the digest (what the stores key by)."""
        if self.tag and self.digest:
            return Reference(self.domain, self.path, "", self.digest)
        return self


AnyReference = Reference | DigestReference


def parse(s: str) -> AnyReference:
    """``reference.Parse``: syntax only, no normalisation."""
    if s == "":
        raise InvalidReference("repository name must have at least one component")
    match = _REFERENCE_RE.match(s)
    if match is None:
        lower = s.lower()
        if lower != s and _REFERENCE_RE.match(lower):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    name_match = _ANCHORED_NAME_RE.match(name)
    if name_match is not None:
        domain, path = name_match.group(1) or "", name_match.group(2)
    else:  # pragma: no cover - the name already matched the same grammar
        domain, path = "", name
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest:
        try:
            parse_digest(digest)
        except ValueError as err:
            raise InvalidReference(str(err)) from None
    if not path:  # pragma: no cover - the grammar needs a path component
        if digest:
            return DigestReference(digest)
        raise InvalidReference("repository name must have at least one component")
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``: decide whether the first component is a registry."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain or maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized_named(s: str) -> Reference:
    """``ParseNormalizedNamed``: familiar input → fully qualified named reference."""
    if _ANCHORED_IDENTIFIER_RE.match(s):
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    ref = parse(domain + "/" + remainder)
    if not isinstance(ref, Reference):  # pragma: no cover - domain makes it named
        raise InvalidReference(f"reference {ref} has no name")
    return ref


def parse_any_reference(s: str) -> AnyReference:
    """``ParseAnyReference``: a 64-hex ID, a full digest, or a familiar name."""
    if _ANCHORED_IDENTIFIER_RE.match(s):
        return DigestReference("sha256:" + s)
    try:
        return DigestReference(parse_digest(s))
    except ValueError:
        pass
    return parse_normalized_named(s)


def parse_docker_ref(s: str) -> Reference:
    """``ParseDockerRef``: normalise; tag+digest keeps the digest; name only gets latest."""
    named = parse_normalized_named(s)
    if named.tag and named.digest:
        return named.favor_digest()
    return named.tag_name_only()


def repo_tag_reference(repo: str, tag: str) -> Reference | None:
    """``httputils.RepoTagReference``: the ``repo``/``tag`` pair of tag, commit, import.

    A digest in ``repo`` is refused ("tagging a digest" makes no sense: a digest names
    content, a tag is a movable pointer), with dockerd's wording.
    """
    if repo == "" and tag == "":
        return None
    ref = parse_normalized_named(repo)
    if ref.is_canonical:
        raise InvalidReference("cannot import digest reference")
    if tag != "":
        return ref.with_tag(tag)
    return ref.tag_name_only()
