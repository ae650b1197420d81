"""A delegated OCSP responder (issue 4, item 5): `p11ca init
--ocsp-responder` puts an 'ocsp' key in the token that the signer lets sign
OCSP answers and nothing else; p11ca-api has the intermediate issue it an
id-kp-OCSPSigning certificate with id-pkix-ocsp-nocheck and answers OCSP
with it. Checked with stock `openssl ocsp`, python3-cryptography and the
signer's own wire protocol."""
import datetime
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api_fixtures import ApiCA, free_port
from conftest import _bin, run
from p11ca_proto import Signer, E_REFUSED


class DelegatedCA(ApiCA):
    def init(self, name="Delegated OCSP"):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--key-type", self.key_type,
                 "--name", name, "--address", f"127.0.0.1:{self.port}",
                 "--insecure-address", f"127.0.0.1:{self.plain}",
                 "--ocsp-responder"])
        self.init_output = r.stdout + r.stderr


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    c = DelegatedCA(tmp_path_factory.mktemp("docsp") / "home", free_port())
    c.plain = free_port()
    c.init()
    c.start()
    c.start_api()
    yield c
    c.cleanup()
    assert not c.sanitizer_reports()


def issue(ca, tmp, name):
    crt, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    run([_bin("p11ca"), "ca", "certificate", f"{name}.example.com",
         crt, key, "--home", ca.home])
    return crt


def query(ca, tmp, crt):
    chain = tmp / "chain.pem"
    chain.write_bytes(ca.inter_pem.read_bytes() + ca.root_pem.read_bytes())
    resp = tmp / "resp.der"
    p = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(ca.inter_pem), "-cert", str(crt),
         "-url", f"http://127.0.0.1:{ca.plain}/ocsp", "-CAfile", str(chain),
         "-respout", str(resp)], capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr, ocsp.load_der_ocsp_response(resp.read_bytes())


def test_init_wrote_the_key(ca):
    assert "key ocsp role=ocsp label=ocsp id=" in ca.conf.read_text()
    assert ca.config["ocsp"]["key"] == "ocsp"
    assert "OCSP responder key" in ca.init_output


def test_answers_are_signed_by_the_delegated_responder(ca, tmp_path):
    crt = issue(ca, tmp_path, "good")
    out, r = query(ca, tmp_path, crt)
    assert "Response verify OK" in out, out
    assert f"{crt}: good" in out, out
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    (resp_cert,) = r.certificates
    # Issued by the intermediate, for OCSP signing only, no check needed.
    assert resp_cert.issuer == inter.subject
    inter.public_key().verify(resp_cert.signature,
                              resp_cert.tbs_certificate_bytes,
                              ec.ECDSA(hashes.SHA256()))
    eku = resp_cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    resp_cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert not any(isinstance(e.value, x509.BasicConstraints) and
                   e.value.ca for e in resp_cert.extensions)
    # The responder is that certificate's key, not the intermediate's.
    assert r.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        resp_cert.public_key()).digest
    assert resp_cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo) != \
        inter.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
    audit = (ca.home / "audit" / "audit.log").read_text()
    assert " key=ocsp kind=ocsp " in audit


def test_revoked_through_the_delegated_responder(ca, tmp_path):
    crt = issue(ca, tmp_path, "bad")
    serial = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
    run([_bin("p11ca"), "ca", "revoke", str(serial), "--reasonCode", "1",
         "--home", ca.home])
    deadline = time.monotonic() + 5
    while True:
        out, r = query(ca, tmp_path, crt)
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "Response verify OK" in out, out
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == x509.ReasonFlags.key_compromise


def test_signer_lets_the_ocsp_key_sign_nothing_else(ca):
    """A front end that asks the ocsp key for a certificate or a CRL is
    refused by the signer's guard, whatever it sends."""
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    tbs = inter.tbs_certificate_bytes
    s = Signer(str(ca.home / "run" / "signer.sock"))
    try:
        for kind in ("x509", "crl", "ssh"):
            r = s.sign("ocsp", kind, "ecdsa-sha256", tbs)
            assert r.status == E_REFUSED, (kind, r.status)
    finally:
        s.close()


def _ocsp_tbs(inter, public_key):
    """A TBSCertificate naming the intermediate as issuer, for OCSP
    signing, of public_key (signed by a throwaway key: only the TBS is
    sent to the signer)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    throwaway = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                x509.NameOID.COMMON_NAME, "forged responder")]))
            .issuer_name(inter.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            .sign(throwaway, hashes.SHA256()))
    return cert.tbs_certificate_bytes


def test_signer_certifies_only_its_own_ocsp_key(ca):
    """A compromised front end cannot make the intermediate vouch for an
    OCSP responder key of its own: the guard allows id-kp-OCSPSigning only
    for the signer's ocsp key."""
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    s = Signer(str(ca.home / "run" / "signer.sock"))
    try:
        mine = ec.generate_private_key(ec.SECP256R1()).public_key()
        r = s.sign("intermediate", "x509", "ecdsa-sha256",
                   _ocsp_tbs(inter, mine))
        assert r.status == E_REFUSED, r.status
        assert "ocsp key" in r.message
        own = serialization.load_der_public_key(s.public_key("ocsp").spki)
        r = s.sign("intermediate", "x509", "ecdsa-sha256",
                   _ocsp_tbs(inter, own))
        assert r.status == 0, r.message
    finally:
        s.close()
