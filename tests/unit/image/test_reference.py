from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.image import reference as r

HEX = "a" * 64
DIG = "sha256:" + HEX


@pytest.mark.parametrize(
    ("given", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("foo/bar:tag", "docker.io/foo/bar:tag", "foo/bar:tag"),
        ("docker.io/busybox", "docker.io/library/busybox", "busybox"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar", "foo/bar"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000/x"),
        ("example.com/a/b:1", "example.com/a/b:1", "example.com/a/b:1"),
        ("Example/x", "Example/x", "Example/x"),
        ("[::1]:5000/x:t", "[::1]:5000/x:t", "[::1]:5000/x:t"),
        (f"name@{DIG}", f"docker.io/library/name@{DIG}", f"name@{DIG}"),
        (f"name:tag@{DIG}", f"docker.io/library/name:tag@{DIG}", f"name:tag@{DIG}"),
        ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b"),
    ],
)
def test_normalise_and_familiar(given: str, full: str, familiar: str) -> None:
    ref = r.parse_normalized_named(given)
    assert str(ref) == full
    assert ref.familiar_string() == familiar


def test_kinds_and_tag_name_only() -> None:
    ref = r.parse_normalized_named("busybox")
    assert ref.is_name_only
    assert str(ref.tag_name_only()) == "docker.io/library/busybox:latest"
    assert ref.tag_name_only().familiar_string() == "busybox:latest"
    assert ref.familiar_name() == "busybox"
    both = r.parse_normalized_named(f"name:tag@{DIG}")
    assert both.is_tagged and both.is_canonical
    assert str(both.favor_digest()) == f"docker.io/library/name@{DIG}"
    assert str(r.parse_docker_ref(f"name:tag@{DIG}")) == f"docker.io/library/name@{DIG}"
    assert str(r.parse_docker_ref("name")) == "docker.io/library/name:latest"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "invalid reference format"),
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("foo/Bar", "invalid reference format: repository name (foo/Bar) must be lowercase"),
        ("bad!name", "invalid reference format"),
        ("busybox:bad!tag", "invalid reference format"),
        ("foo:", "invalid reference format"),
        ("-foo", "invalid reference format"),
        (
            HEX,
            f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings",
        ),
        ("name@sha256:abc", "invalid reference format"),
        ("name@sha256:" + "a" * 63 + "aa", "invalid checksum digest length"),
        ("name@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("a/" + "b" * 254, "repository name must not be more than 255 characters"),
    ],
)
def test_invalid(given: str, message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as info:
        r.parse_normalized_named(given)
    assert str(info.value) == message


def test_uppercase_domain_is_domain_and_parse_reports_lowercase() -> None:
    with pytest.raises(r.InvalidReference, match=r"^repository name must be lowercase$"):
        r.parse("docker.io/library/Busybox")
    with pytest.raises(r.InvalidReference, match=r"^repository name must have at least one"):
        r.parse("")


def test_parse_any_reference() -> None:
    assert r.parse_any_reference(HEX) == r.DigestReference(DIG)
    assert r.parse_any_reference(DIG) == r.DigestReference(DIG)
    got = r.parse_any_reference("busybox")
    assert isinstance(got, r.Reference) and got.name == "docker.io/library/busybox"
    # a 12-char prefix is a (valid) name, not an ID: the caller falls back to an ID search
    short = r.parse_any_reference(HEX[:12])
    assert isinstance(short, r.Reference)


def test_with_tag_and_digest_validation() -> None:
    ref = r.parse_normalized_named("busybox")
    with pytest.raises(r.InvalidReference, match="invalid tag format"):
        ref.with_tag("bad tag")
    with pytest.raises(r.InvalidReference, match="invalid digest format"):
        ref.with_digest("nope")
    assert str(ref.with_digest(DIG).with_tag("x")) == f"docker.io/library/busybox:x@{DIG}"


def test_repo_tag_reference() -> None:
    assert r.repo_tag_reference("", "") is None
    got = r.repo_tag_reference("foo", "")
    assert got is not None and got.familiar_string() == "foo:latest"
    got = r.repo_tag_reference("foo", "v1")
    assert got is not None and str(got) == "docker.io/library/foo:v1"
    with pytest.raises(r.InvalidReference, match=r"^cannot import digest reference$"):
        r.repo_tag_reference(f"foo@{DIG}", "")
    with pytest.raises(r.InvalidReference, match=r"^invalid tag format$"):
        r.repo_tag_reference("foo", "a b")


def test_tag_regex_is_ascii() -> None:
    with pytest.raises(r.InvalidReference):
        r.parse_normalized_named("busybox:é")
