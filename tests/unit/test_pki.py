from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from kommerce.cluster.pki import Pki, kubeconfig

pytestmark = pytest.mark.unit


def test_certificates_chain_to_the_ca(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    pki.ensure(clients={"admin": ("kommerce-admin", "system:masters")})
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    for name in ("apiserver", "admin"):
        cert = x509.load_pem_x509_certificate(pki.cert(name).read_bytes())
        cert.verify_directly_issued_by(ca)
        assert (pki.key(name).stat().st_mode & 0o777) == 0o600
    admin = x509.load_pem_x509_certificate(pki.cert("admin").read_bytes())
    assert "O=system:masters" in admin.subject.rfc4514_string()
    # A TLS context accepts the pair, as kube clients will.
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.cert("admin")), str(pki.key("admin")))


def test_ensure_is_idempotent(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    pki.ensure(clients={})
    first = pki.ca_cert.read_bytes()
    pki.ensure(clients={})
    assert pki.ca_cert.read_bytes() == first


def test_kubeconfig_names_server_and_files(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    text = kubeconfig(server="https://127.0.0.1:6443", pki=pki, client="admin")
    assert "server: https://127.0.0.1:6443" in text
    assert str(pki.cert("admin")) in text
