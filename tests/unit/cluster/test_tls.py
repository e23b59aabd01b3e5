"""berthd.cluster.tls: node certificates signed by the swarm's root CA (openssl)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from berthd.cluster.tls import NodeTLS, cert_dates, new_key_and_csr, pinned_context, sign_csr
from berthd.daemon.cluster.ids import new_id, new_root_ca, parse_join_token
from berthd.daemon.cluster.renewal import cert_days, due


def _text(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_manager_sets_subject_and_addresses(tmp_path: Path) -> None:
    ca = new_root_ca()
    node, cluster = new_id(), new_id()
    key, csr = new_key_and_csr("someone-else")  # what the joiner asks for does not count
    cert = sign_csr(ca.cert_pem, ca.key_pem, csr, node, "worker", cluster, ["198.18.0.7"])
    tls = NodeTLS(tmp_path / "certs")
    tls.write(ca.cert_pem, cert, key)
    assert tls.exists() and tls.key.stat().st_mode & 0o777 == 0o600
    text = _text(tls.cert)
    assert f"Subject: CN = {node}, OU = swarm-worker, O = {cluster}" in text
    assert "IP Address:198.18.0.7, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "CA:FALSE" in text
    # the contexts load, and the certificate verifies against the CA it names
    tls.client_context()
    tls.server_context()
    r = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls.ca), str(tls.cert)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_a_request_that_is_not_one_is_refused() -> None:
    ca = new_root_ca()
    with pytest.raises(ValueError, match="not a PEM CSR"):
        sign_csr(ca.cert_pem, ca.key_pem, ca.cert_pem, new_id(), "manager", new_id(), [])
    broken = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(RuntimeError, match="openssl x509"):
        sign_csr(ca.cert_pem, ca.key_pem, broken, new_id(), "manager", new_id(), [])


def test_the_token_pins_the_ca_the_joiner_trusts() -> None:
    ca, other = new_root_ca(), new_root_ca()
    token = parse_join_token(f"SWMTKN-1-{ca.digest}-{new_id()}")
    assert token.pins(ca.cert_pem) and not token.pins(other.cert_pem)
    ctx = pinned_context(ca.cert_pem)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and not ctx.check_hostname


def test_renewal_is_due_at_half_life_or_when_the_expiry_changed() -> None:
    day = 86400.0
    ninety = (1000.0, 1000.0 + 90 * day)
    assert not due(ninety, 90, now=1000.0 + 44 * day)
    assert due(ninety, 90, now=1000.0 + 45 * day)
    assert due(ninety, 1, now=1000.0 + day)  # docker swarm update --cert-expiry 24h
    assert cert_days({"Spec": {"CAConfig": {"NodeCertExpiry": 24 * 3600 * 10**9}}}) == 1
    assert cert_days({"Spec": {"CAConfig": {"NodeCertExpiry": 25 * 3600 * 10**9}}}) == 2
    assert cert_days({}) == 90


def test_cert_dates_and_days(tmp_path: Path) -> None:
    ca = new_root_ca()
    _key, csr = new_key_and_csr("n")
    cert = sign_csr(ca.cert_pem, ca.key_pem, csr, new_id(), "manager", new_id(), [], days=3)
    path = tmp_path / "c.pem"
    path.write_text(cert)
    start, end = cert_dates(path)
    assert abs(end - start - 3 * 86400) < 2
