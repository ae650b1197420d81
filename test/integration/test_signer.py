"""p11ca-signer against real SoftHSM2 tokens made by `p11ca init`.

Every signature is checked by an independent implementation (python3-
cryptography, the OpenSSL CLI, ssh-keygen) against the key's public key;
every refusal is checked for its status code and its audit record.
"""
import base64
import datetime
import hashlib
import os
import pwd
import re
import shutil
import socket
import struct
import time

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)
from cryptography.x509.oid import NameOID

import p11ca_proto as pp
from conftest import BUILD, run, sock_connect

DER = serialization.Encoding.DER

# ---------------------------------------------------------------- DER ------


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_read(b, off=0):
    """(tag, start of contents, end of the TLV) of the TLV at off."""
    tag = b[off]
    n = b[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[off:off + k], "big")
        off += k
    return tag, off, off + n


def der_children(b):
    """The raw child TLVs of the constructed TLV b."""
    tag, start, end = der_read(b)
    assert end == len(b), "trailing bytes after DER value"
    out, off = [], start
    while off < end:
        _, _, e = der_read(b, off)
        out.append(b[off:e])
        off = e
    return out


OID_HASH = {"sha256": "608648016503040201", "sha384": "608648016503040202",
            "sha512": "608648016503040203"}


def pss_algid(hname, digest_size):
    """RSASSA-PSS AlgorithmIdentifier with explicit params (RFC 4055)."""
    h = tlv(0x30, tlv(0x06, bytes.fromhex(OID_HASH[hname])) + b"\x05\x00")
    mgf = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010108")) + h)
    params = tlv(0x30, tlv(0xa0, h) + tlv(0xa1, mgf) +
                 tlv(0xa2, tlv(0x02, bytes([digest_size]))))
    return tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d01010a")) + params)


def signed_der(tbs, algid, sig):
    """Certificate / CertificateList ::= SEQUENCE {tbs, algid, BIT STRING}."""
    return tlv(0x30, tbs + algid + tlv(0x03, b"\x00" + sig))


# ------------------------------------------------------------ algorithms ---

ALGS = {
    "p256": ["ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512"],
    "p384": ["ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512"],
    "rsa2048": ["rsa-pkcs1-sha256", "rsa-pkcs1-sha384", "rsa-pkcs1-sha512",
                "rsa-pss-sha256", "rsa-pss-sha384", "rsa-pss-sha512"],
    "ed25519": ["ed25519"],
}
KEYTYPE = {"p256": 1, "p384": 2, "rsa2048": 4, "ed25519": 5}
HASH = {"sha256": hashes.SHA256, "sha384": hashes.SHA384,
        "sha512": hashes.SHA512}

_throwaway = {}


def throwaway(kind):
    if kind not in _throwaway:
        _throwaway[kind] = {
            "ec": lambda: ec.generate_private_key(ec.SECP256R1()),
            "rsa": lambda: rsa.generate_private_key(65537, 1024),
            "ed": ed25519.Ed25519PrivateKey.generate,
        }[kind]()
    return _throwaway[kind]


def hash_name(alg):
    return None if alg == "ed25519" else alg.rsplit("-", 1)[1]


def hash_of(alg):
    n = hash_name(alg)
    return HASH[n]() if n else None


def throwaway_for(alg):
    return throwaway("ed" if alg == "ed25519" else
                     "rsa" if alg.startswith("rsa") else "ec")


def verify_sig(pub, alg, sig, data):
    """Raises InvalidSignature unless sig is alg's signature of data."""
    h = hash_of(alg)
    if alg.startswith("ecdsa"):
        r, s = decode_dss_signature(sig)
        # A strict DER ECDSA-Sig-Value: re-encoding gives the same bytes.
        assert encode_dss_signature(r, s) == sig, "ECDSA sig is not DER"
        pub.verify(sig, data, ec.ECDSA(h))
    elif alg.startswith("rsa-pkcs1"):
        assert len(sig) == pub.key_size // 8
        pub.verify(sig, data, padding.PKCS1v15(), h)
    elif alg.startswith("rsa-pss"):
        assert len(sig) == pub.key_size // 8
        pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(h),
                                          salt_length=h.digest_size), h)
    else:
        assert len(sig) == 64
        pub.verify(sig, data)


def load_cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def now():
    return datetime.datetime.utcnow().replace(microsecond=0)


LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def leaf_tbs(ca, alg, issuer=None, nb=None, na=None, ca_true=False,
             certsign=False, cn="leaf.example", serial=None,
             public_key=None, subject=None):
    """A TBSCertificate (DER) for the intermediate to sign with alg, and the
    AlgorithmIdentifier it names. Made by having cryptography sign a
    certificate with a throwaway key of the same kind and hash."""
    inter = load_cert(ca.inter_pem)
    if nb is None:
        nb = inter.not_valid_before
    if na is None:
        na = min(now() + datetime.timedelta(days=1), inter.not_valid_after)
    b = (x509.CertificateBuilder()
         .subject_name(subject or x509.Name(
             [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(issuer or inter.subject)
         .public_key(public_key or LEAF_KEY.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na))
    if ca_true:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                            critical=True)
    if certsign:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    cert = b.sign(throwaway_for(alg), hash_of(alg))
    tbs = cert.tbs_certificate_bytes
    algid = der_children(cert.public_bytes(DER))[1]
    if alg.startswith("rsa-pss"):
        algid = pss_algid(hash_name(alg), hash_of(alg).digest_size)
        parts = der_children(tbs)
        assert parts[2][:1] == b"\x30"
        parts[2] = algid
        tbs = tlv(0x30, b"".join(parts))
    return tbs, algid


def crl_tbs(ca, alg, issuer=None):
    inter = load_cert(ca.inter_pem)
    t = now()
    revoked = (x509.RevokedCertificateBuilder().serial_number(0x1234)
               .revocation_date(t).build())
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(issuer or inter.subject)
           .last_update(t).next_update(t + datetime.timedelta(days=1))
           .add_revoked_certificate(revoked)
           .sign(throwaway_for(alg), hash_of(alg)))
    return crl.tbs_certlist_bytes, der_children(crl.public_bytes(DER))[1]


def ocsp_tbs(ca, alg="ecdsa-sha256", by="name", name=None, key_spki=None):
    """An OCSP ResponseData about one leaf, its responderID naming the
    intermediate (or `name`) by name, or by the SHA-1 of the key bits of
    the intermediate's (or `key_spki`'s) public key."""
    inter = load_cert(ca.inter_pem)
    tk = throwaway_for(alg)
    t = now()
    responder = (x509.CertificateBuilder()
                 .subject_name(name or inter.subject)
                 .issuer_name(inter.subject).public_key(tk.public_key())
                 .serial_number(1).not_valid_before(t - _day)
                 .not_valid_after(t + _day).sign(tk, hash_of(alg)))
    resp = (ocsp.OCSPResponseBuilder()
            .add_response(cert=responder, issuer=inter,
                          algorithm=hashes.SHA1(),
                          cert_status=ocsp.OCSPCertStatus.GOOD,
                          this_update=t,
                          next_update=t + datetime.timedelta(hours=1),
                          revocation_time=None, revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.NAME, responder)
            .sign(tk, hash_of(alg)))
    tbs = resp.tbs_response_bytes
    if by == "hash":
        spki = key_spki or inter.public_key().public_bytes(
            DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        _, st, en = der_read(der_children(spki)[1])
        keyhash = hashlib.sha1(der_children(spki)[1][st + 1:en]).digest()
        # cross-check: RFC 5280 key identifier method 1 is the same hash
        assert keyhash == x509.SubjectKeyIdentifier.from_public_key(
            serialization.load_der_public_key(spki)).digest
        parts = der_children(tbs)
        assert parts[0][:1] == b"\xa1", "responderID byName expected first"
        parts[0] = tlv(0xa2, tlv(0x04, keyhash))
        tbs = tlv(0x30, b"".join(parts))
    return tbs


# ------------------------------------------------------------------ SSH ----

def sshstr(b):
    return struct.pack(">I", len(b)) + b


def ssh_read(b, off):
    (n,) = struct.unpack(">I", b[off:off + 4])
    assert off + 4 + n <= len(b), "SSH string runs past the end"
    return b[off + 4:off + 4 + n], off + 4 + n


def ssh_wire(spki_der):
    """The SSH wire form of a public key given as SPKI DER."""
    pub = serialization.load_der_public_key(spki_der)
    line = pub.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


SSH_LEAF = ed25519.Ed25519PrivateKey.generate()


def ssh_cert_body(sigkey_wire, serial=7, keyid=b"alice@test", ctype=1):
    """An OpenSSH user certificate for an Ed25519 key, up to (not
    including) its signature, naming sigkey_wire as the CA key."""
    leaf = SSH_LEAF.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)
    t = int(time.time())
    return (sshstr(b"ssh-ed25519-cert-v01@openssh.com") +
            sshstr(os.urandom(32)) + sshstr(leaf) +
            struct.pack(">QI", serial, ctype) + sshstr(keyid) +
            sshstr(sshstr(b"alice")) +
            struct.pack(">QQ", t - 60, t + 3600) +
            sshstr(b"") +
            sshstr(sshstr(b"permit-pty") + sshstr(b"")) +
            sshstr(b"") + sshstr(sigkey_wire))


# ------------------------------------------------------------- helpers -----

def audit_record(ca, payload):
    """The audit line about payload (by its SHA-256), or None."""
    want = "sha256=" + hashlib.sha256(payload).hexdigest()
    lines = [ln for ln in ca.audit.read_text().splitlines() if want in ln]
    return lines[-1] if lines else None


def sign(ca, key, kind, alg, payload):
    c = ca.client()
    try:
        return c.sign(key, kind, alg, payload)
    finally:
        c.close()


def public_key(ca, key):
    c = ca.client()
    try:
        r = c.public_key(key)
    finally:
        c.close()
    assert r.status == pp.OK, r.message
    return r


def openssl_verify(ca, der, tmp_path, name="leaf"):
    pem = tmp_path / f"{name}.pem"
    pem.write_bytes(x509.load_der_x509_certificate(der).public_bytes(
        serialization.Encoding.PEM))
    r = run(["openssl", "verify", "-CAfile", ca.root_pem, "-untrusted",
             ca.inter_pem, pem], check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), \
        f"openssl verify failed:\n{r.stdout}{r.stderr}"


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def split_frames(data):
    out = []
    while data:
        assert len(data) >= 12, f"partial frame {data.hex()}"
        (n,) = struct.unpack(">I", data[:4])
        assert len(data) >= 4 + n
        _, ver, t, st, fid = struct.unpack(">IBBHI", data[:12])
        out.append((ver, t, st, fid, data[12:4 + n]))
        data = data[4 + n:]
    return out


def assert_serves(ca):
    """The signer answers PING and signs a leaf on a fresh connection."""
    c = ca.client()
    try:
        assert c.ping().status == pp.OK
        tbs, _ = leaf_tbs(ca, "ecdsa-sha256")
        r = c.sign("intermediate", "x509", "ecdsa-sha256", tbs)
        assert r.status == pp.OK, r.message
        verify_sig(load_cert(ca.inter_pem).public_key(), "ecdsa-sha256",
                   r.signature, tbs)
    finally:
        c.close()


# ------------------------------------------------------------ fixtures -----

@pytest.fixture(scope="module")
def ca_of(cas, ca_p256):
    """ca_of(key_type): a started CA of that key type."""
    def get(kt):
        if kt == "p256":
            return ca_p256
        if kt == "rsa2048":
            return cas(kt, ssh_keys=(("sshrsa", "sshrsa", "rsa2048"),))
        return cas(kt)
    return get


SIGN_CASES = [(kt, alg) for kt, algs in ALGS.items() for alg in algs]


# ------------------------------------------------------------- basics ------

def test_ping(ca_p256):
    c = ca_p256.client()
    try:
        r = c.ping()
    finally:
        c.close()
    assert r.status == pp.OK
    assert r.type == pp.PING | pp.RESPONSE
    # u8 ceremony = 0, u8 nkeys = intermediate, root, ssh, sshec
    assert r.body == bytes([0, 4])


@pytest.mark.parametrize("kt", list(ALGS))
def test_public_key_matches_certificates(ca_of, kt):
    ca = ca_of(kt)
    for key, pem in (("intermediate", ca.inter_pem), ("root", ca.root_pem)):
        r = public_key(ca, key)
        want = load_cert(pem).public_key().public_bytes(
            DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert r.spki == want, f"{key}: SPKI differs from {pem.name}"
        assert r.keytype == KEYTYPE[kt]


def test_public_key_unknown(ca_p256):
    c = ca_p256.client()
    try:
        r = c.public_key("no-such-key")
        assert r.status == pp.E_UNKNOWN_KEY
        assert r.message
        assert c.ping().status == pp.OK       # connection still usable
    finally:
        c.close()


# -------------------------------------------------------- sign + verify ----

@pytest.mark.parametrize("kt,alg", SIGN_CASES,
                         ids=[f"{k}-{a}" for k, a in SIGN_CASES])
def test_sign_x509_verifies(ca_of, kt, alg, tmp_path):
    ca = ca_of(kt)
    inter = load_cert(ca.inter_pem)
    serial = x509.random_serial_number()
    tbs, algid = leaf_tbs(ca, alg, serial=serial, cn=f"{kt}.{alg}.test")
    r = sign(ca, "intermediate", "x509", alg, tbs)
    assert r.status == pp.OK, r.message
    sig = r.signature
    # 1. the raw signature over the exact TBS bytes, with cryptography
    verify_sig(inter.public_key(), alg, sig, tbs)
    # 2. the assembled certificate, parsed back by cryptography
    der = signed_der(tbs, algid, sig)
    leaf = x509.load_der_x509_certificate(der)
    assert leaf.tbs_certificate_bytes == tbs
    assert leaf.serial_number == serial
    assert leaf.issuer == inter.subject
    # 3. the whole chain with the real OpenSSL CLI (PSS included: the
    # AlgorithmIdentifier carries full RSASSA-PSS-params)
    openssl_verify(ca, der, tmp_path)
    # 4. the audit record says what was signed
    rec = audit_record(ca, tbs)
    assert rec is not None, "no audit record for a signature"
    assert " key=intermediate " in rec and " kind=x509 " in rec
    assert f" alg={alg} " in rec and " result=signed " in rec
    assert f" uid={os.getuid()} " in rec
    der_serial = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    assert f" serial={der_serial.hex()} " in rec, rec


def test_sign_x509_tampered_signature_fails_openssl(ca_p256, tmp_path):
    """Negative control: openssl verify really checks the signature."""
    tbs, algid = leaf_tbs(ca_p256, "ecdsa-sha256")
    sig = sign(ca_p256, "intermediate", "x509", "ecdsa-sha256", tbs).signature
    r_, s_ = decode_dss_signature(sig)
    bad = encode_dss_signature(r_, s_ ^ 1)
    pem = tmp_path / "bad.pem"
    pem.write_bytes(x509.load_der_x509_certificate(
        signed_der(tbs, algid, bad)).public_bytes(serialization.Encoding.PEM))
    r = run(["openssl", "verify", "-CAfile", ca_p256.root_pem, "-untrusted",
             ca_p256.inter_pem, pem], check=False)
    assert r.returncode != 0
    with pytest.raises(InvalidSignature):
        verify_sig(load_cert(ca_p256.inter_pem).public_key(), "ecdsa-sha256",
                   bad, tbs)


@pytest.mark.parametrize("kt", ["p256", "rsa2048", "ed25519"])
def test_sign_crl_verifies(ca_of, kt, tmp_path):
    ca = ca_of(kt)
    alg = ALGS[kt][0]
    tbs, algid = crl_tbs(ca, alg)
    r = sign(ca, "intermediate", "crl", alg, tbs)
    assert r.status == pp.OK, r.message
    inter = load_cert(ca.inter_pem)
    verify_sig(inter.public_key(), alg, r.signature, tbs)
    der = signed_der(tbs, algid, r.signature)
    crl = x509.load_der_x509_crl(der)
    assert crl.tbs_certlist_bytes == tbs
    if kt != "ed25519":     # cryptography 38 has no Ed25519 CRL check
        assert crl.is_signature_valid(inter.public_key())
    path = tmp_path / "crl.der"
    path.write_bytes(der)
    r = run(["openssl", "crl", "-inform", "DER", "-in", path, "-CAfile",
             ca.inter_pem, "-noout"], check=False)
    assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr, \
        r.stdout + r.stderr
    # negative control: OpenSSL does check the signature
    bad = bytearray(der)
    bad[-3] ^= 1
    path.write_bytes(bytes(bad))
    r = run(["openssl", "crl", "-inform", "DER", "-in", path, "-CAfile",
             ca.inter_pem, "-noout"], check=False)
    assert "verify OK" not in r.stdout + r.stderr
    assert " kind=crl " in audit_record(ca, tbs)


@pytest.mark.parametrize("by", ["name", "hash"])
def test_sign_ocsp_verifies(ca_p256, by):
    tbs = ocsp_tbs(ca_p256, by=by)
    r = sign(ca_p256, "intermediate", "ocsp", "ecdsa-sha256", tbs)
    assert r.status == pp.OK, r.message
    verify_sig(_inter(ca_p256).public_key(), "ecdsa-sha256", r.signature,
               tbs)
    rec = audit_record(ca_p256, tbs)
    assert " kind=ocsp " in rec and " result=signed " in rec


def test_sign_large_crl(ca_p256, tmp_path):
    """A CRL TBS far larger than one socket read (hundreds of KiB)."""
    inter = _inter(ca_p256)
    t = now()
    b = (x509.CertificateRevocationListBuilder().issuer_name(inter.subject)
         .last_update(t).next_update(t + _day))
    for i in range(8000):
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
                                      .serial_number(10 ** 12 + i)
                                      .revocation_date(t).build())
    crl = b.sign(throwaway("ec"), hashes.SHA256())
    tbs = crl.tbs_certlist_bytes
    assert len(tbs) > 150000
    r = sign(ca_p256, "intermediate", "crl", "ecdsa-sha256", tbs)
    assert r.status == pp.OK, r.message
    der = signed_der(tbs, der_children(crl.public_bytes(DER))[1],
                     r.signature)
    assert x509.load_der_x509_crl(der).is_signature_valid(inter.public_key())


SSH_CASES = [
    # (fixture key type, signer key name, alg, SSH signature name)
    ("p256", "ssh", "ed25519", b"ssh-ed25519"),
    ("p256", "sshec", "ecdsa-sha256", b"ecdsa-sha2-nistp256"),
    ("rsa2048", "sshrsa", "rsa-pkcs1-sha256", b"rsa-sha2-256"),
    ("rsa2048", "sshrsa", "rsa-pkcs1-sha512", b"rsa-sha2-512"),
]


@pytest.mark.parametrize("kt,key,alg,signame", SSH_CASES,
                         ids=[c[1] + "-" + c[2] for c in SSH_CASES])
def test_sign_ssh_verifies(ca_of, kt, key, alg, signame, tmp_path):
    ca = ca_of(kt)
    spki = public_key(ca, key).spki
    pub = serialization.load_der_public_key(spki)
    body = ssh_cert_body(ssh_wire(spki))
    r = sign(ca, key, "ssh", alg, body)
    assert r.status == pp.OK, r.message
    blob = r.signature
    # string algorithm, string signature; nothing after
    name, off = ssh_read(blob, 0)
    raw, off = ssh_read(blob, off)
    assert off == len(blob)
    assert name == signame
    h = hash_of(alg)
    if alg == "ed25519":
        pub.verify(raw, body)
    elif alg.startswith("ecdsa"):
        rb, o = ssh_read(raw, 0)
        sb, o = ssh_read(raw, o)
        assert o == len(raw)
        for m in (rb, sb):      # positive mpints, minimally encoded
            assert m and m[0] & 0x80 == 0
            assert m[0] != 0 or (len(m) > 1 and m[1] & 0x80)
        pub.verify(encode_dss_signature(int.from_bytes(rb, "big"),
                                        int.from_bytes(sb, "big")),
                   body, ec.ECDSA(h))
    else:
        pub.verify(raw, body, padding.PKCS1v15(), h)
    # The whole certificate, checked by OpenSSH itself.
    cert = body + sshstr(blob)
    path = tmp_path / "user-cert.pub"
    path.write_text("ssh-ed25519-cert-v01@openssh.com " +
                    base64.b64encode(cert).decode() + "\n")
    if shutil.which("ssh-keygen"):
        out = run(["ssh-keygen", "-L", "-f", path])
        assert "alice@test" in out.stdout
        # negative control: a flipped signature byte is refused
        bad = bytearray(cert)
        bad[-5] ^= 1
        path.write_text("ssh-ed25519-cert-v01@openssh.com " +
                        base64.b64encode(bytes(bad)).decode() + "\n")
        assert run(["ssh-keygen", "-L", "-f", path],
                   check=False).returncode != 0
    rec = audit_record(ca, body)
    assert rec and f" key={key} " in rec and " result=signed " in rec
    assert " subject=alice@test " in rec


def test_ssh_ecdsa_signatures_always_minimal_mpints(ca_p256):
    """300 SSH ECDSA signatures: with random r and s some have a high bit
    set (needs a 0x00 pad) and, likely, some a leading zero byte (must be
    stripped); every one must be minimal and verify."""
    spki = public_key(ca_p256, "sshec").spki
    pub = serialization.load_der_public_key(spki)
    wire = ssh_wire(spki)
    bodies = {i + 1: ssh_cert_body(wire, serial=i) for i in range(300)}
    c = ca_p256.client(timeout=30)
    try:
        c.send_raw(b"".join(pp.frame(pp.SIGN, fid, pp.sign_body(
            "sshec", "ssh", "ecdsa-sha256", b)) for fid, b in bodies.items()))
        padded = 0
        for _ in bodies:
            r = c.read_reply()
            assert r.status == pp.OK, r.message
            name, off = ssh_read(r.signature, 0)
            raw, off = ssh_read(r.signature, off)
            assert name == b"ecdsa-sha2-nistp256" and off == len(r.signature)
            rb, o = ssh_read(raw, 0)
            sb, o = ssh_read(raw, o)
            assert o == len(raw)
            for m in (rb, sb):
                assert m and m[0] & 0x80 == 0, m.hex()
                assert m[0] != 0 or (len(m) > 1 and m[1] & 0x80), m.hex()
                padded += m[0] == 0
            pub.verify(encode_dss_signature(int.from_bytes(rb, "big"),
                                            int.from_bytes(sb, "big")),
                       bodies[r.id], ec.ECDSA(hashes.SHA256()))
        assert padded > 0           # the high-bit case was exercised
    finally:
        c.close()


def test_audit_fields_cannot_be_forged(ca_p256):
    """A subject full of spaces, '=', '%' and a newline stays inside its
    one field of its one audit line, and the chain still verifies."""
    for cn in ("x result=refused key=root prev=00 100%",
               "x\nresult=refused key=root caf\u00e9"):
        tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256", cn=cn)
        assert sign(ca_p256, "intermediate", "x509", "ecdsa-sha256",
                    tbs).status == pp.OK
        rec = audit_record(ca_p256, tbs)
        assert rec.count(" result=") == 1 and " result=signed " in rec
        assert rec.count(" key=") == 1 and rec.count(" prev=") == 1
        assert all(0x20 <= ord(ch) < 0x7f for ch in rec), rec
        sub = re.search(r" subject=(\S+) ", rec).group(1)
        assert "=" not in sub and sub.startswith("CN%3D"), sub
        if "\n" not in cn:
            assert "%20" in sub and "%25" in sub, sub
    r = run([BUILD / "p11ca", "audit", "verify", ca_p256.audit],
            check=False)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------- guards ------

def _root_selfsigned(ca):
    root = load_cert(ca.root_pem)
    return leaf_tbs(ca, "ecdsa-sha256", issuer=root.subject,
                    subject=root.subject, public_key=root.public_key(),
                    ca_true=True, nb=root.not_valid_before,
                    na=root.not_valid_after)[0]


def _other_name():
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         "Someone Else CA")])


def _ssh_other_sigkey(ca):
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    return ssh_cert_body(ssh_wire(other.public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo)))


def _ssh_own_body(ca, key="ssh"):
    return ssh_cert_body(ssh_wire(public_key(ca, key).spki))


_inter = lambda ca: load_cert(ca.inter_pem)      # noqa: E731
_day = datetime.timedelta(days=1)

# name: (key, kind, alg, payload(ca), status, reason substring or None)
REFUSALS = {
    "ca-true": ("intermediate", "x509", "ecdsa-sha256",
                lambda ca: leaf_tbs(ca, "ecdsa-sha256", ca_true=True)[0],
                pp.E_REFUSED, "CA certificate"),
    "keyusage-certsign": ("intermediate", "x509", "ecdsa-sha256",
                          lambda ca: leaf_tbs(ca, "ecdsa-sha256",
                                              certsign=True)[0],
                          pp.E_REFUSED, "CA certificate"),
    "wrong-issuer": ("intermediate", "x509", "ecdsa-sha256",
                     lambda ca: leaf_tbs(ca, "ecdsa-sha256",
                                         issuer=_other_name())[0],
                     pp.E_REFUSED, "issuer"),
    "root-as-issuer": ("intermediate", "x509", "ecdsa-sha256",
                       lambda ca: leaf_tbs(ca, "ecdsa-sha256",
                                           issuer=load_cert(
                                               ca.root_pem).subject)[0],
                       pp.E_REFUSED, "issuer"),
    "validity-after": ("intermediate", "x509", "ecdsa-sha256",
                       lambda ca: leaf_tbs(
                           ca, "ecdsa-sha256",
                           na=_inter(ca).not_valid_after + _day)[0],
                       pp.E_REFUSED, "validity"),
    "validity-before": ("intermediate", "x509", "ecdsa-sha256",
                        lambda ca: leaf_tbs(
                            ca, "ecdsa-sha256",
                            nb=_inter(ca).not_valid_before - _day)[0],
                        pp.E_REFUSED, "validity"),
    "subject-is-ca": ("intermediate", "x509", "ecdsa-sha256",
                      lambda ca: leaf_tbs(ca, "ecdsa-sha256",
                                          subject=_inter(ca).subject)[0],
                      pp.E_REFUSED, None),
    "tbs-algid-not-requested": ("intermediate", "x509", "ecdsa-sha256",
                                lambda ca: leaf_tbs(ca, "ecdsa-sha384")[0],
                                pp.E_REFUSED, "algorithm"),
    "garbage-tbs": ("intermediate", "x509", "ecdsa-sha256",
                    lambda ca: b"\x30\x03\x02\x01\x01garbage",
                    pp.E_REFUSED, None),
    "root-outside-ceremony": ("root", "x509", "ecdsa-sha256",
                              _root_selfsigned, pp.E_REFUSED, "ceremony"),
    "root-leaf-outside-ceremony": ("root", "x509", "ecdsa-sha256",
                                   lambda ca: leaf_tbs(
                                       ca, "ecdsa-sha256",
                                       issuer=load_cert(
                                           ca.root_pem).subject)[0],
                                   pp.E_REFUSED, "ceremony"),
    "crl-other-issuer": ("intermediate", "crl", "ecdsa-sha256",
                         lambda ca: crl_tbs(ca, "ecdsa-sha256",
                                            issuer=_other_name())[0],
                         pp.E_REFUSED, "issuer"),
    "ssh-other-signature-key": ("ssh", "ssh", "ed25519", _ssh_other_sigkey,
                                pp.E_REFUSED, "signature key"),
    "ssh-body-ec-key-named-ed-key": ("sshec", "ssh", "ecdsa-sha256",
                                     lambda ca: _ssh_own_body(ca, "ssh"),
                                     pp.E_REFUSED, "signature key"),
    "ssh-body-to-intermediate": ("intermediate", "ssh", "ecdsa-sha256",
                                 lambda ca: _ssh_own_body(ca),
                                 pp.E_REFUSED, "not allowed"),
    "x509-to-ssh-key": ("ssh", "x509", "ed25519",
                        lambda ca: leaf_tbs(ca, "ed25519")[0],
                        pp.E_REFUSED, "not allowed"),
    "ocsp-other-responder-name": ("intermediate", "ocsp", "ecdsa-sha256",
                                  lambda ca: ocsp_tbs(ca, name=_other_name()),
                                  pp.E_REFUSED, "responder"),
    "ocsp-other-responder-key": ("intermediate", "ocsp", "ecdsa-sha256",
                                 lambda ca: ocsp_tbs(
                                     ca, by="hash",
                                     key_spki=LEAF_KEY.public_key()
                                     .public_bytes(DER, serialization
                                                   .PublicFormat
                                                   .SubjectPublicKeyInfo)),
                                 pp.E_REFUSED, "responder"),
    "ocsp-to-root": ("root", "ocsp", "ecdsa-sha256",
                     lambda ca: ocsp_tbs(ca), pp.E_REFUSED, None),
    "ssh-cert-type-3": ("ssh", "ssh", "ed25519",
                        lambda ca: ssh_cert_body(
                            ssh_wire(public_key(ca, "ssh").spki), ctype=3),
                        pp.E_REFUSED, "type"),
    "rsa-alg-on-ec-key": ("intermediate", "x509", "rsa-pkcs1-sha256",
                          lambda ca: leaf_tbs(ca, "rsa-pkcs1-sha256")[0],
                          pp.E_BAD_ALG, None),
    "ed25519-alg-on-ec-key": ("intermediate", "x509", "ed25519",
                              lambda ca: leaf_tbs(ca, "ed25519")[0],
                              pp.E_BAD_ALG, None),
    "ecdsa-alg-on-ed-key": ("ssh", "ssh", "ecdsa-sha256", _ssh_own_body,
                            pp.E_BAD_ALG, None),
    "ssh-p256-with-sha384": ("sshec", "ssh", "ecdsa-sha384",
                             lambda ca: _ssh_own_body(ca, "sshec"),
                             pp.E_BAD_ALG, None),
    "unknown-key": ("no-such-key", "x509", "ecdsa-sha256",
                    lambda ca: leaf_tbs(ca, "ecdsa-sha256")[0],
                    pp.E_UNKNOWN_KEY, None),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused(ca_p256, case):
    key, kind, alg, mk, status, why = REFUSALS[case]
    payload = mk(ca_p256)
    c = ca_p256.client()
    try:
        r = c.sign(key, kind, alg, payload)
        assert r.status == status, \
            f"expected {status}, got {r.status}: {r.body!r}"
        msg = r.message
        assert msg, "an error answer carries a message"
        if why:
            assert why.lower() in msg.lower(), msg
        assert c.ping().status == pp.OK     # the connection stays usable
    finally:
        c.close()
    rec = audit_record(ca_p256, payload)
    if status == pp.E_UNKNOWN_KEY:
        assert rec is None, "unknown key needs no audit record"
    else:
        assert rec is not None, "a refusal must be audited"
        assert f" key={key} " in rec
        assert " result=refused " in rec
        assert f" kind={kind} " in rec and f" alg={alg} " in rec


def test_ceremony_root_signs_selfsigned(cas, tmp_path):
    """Positive counterpart of root-outside-ceremony: with --ceremony the
    root key does sign its own (re-issued) self-signed certificate."""
    ca = cas("p256", tag="-ceremony", ceremony=True)
    c = ca.client()
    try:
        assert c.ping().body[0] == 1        # ceremony flag
    finally:
        c.close()
    tbs = _root_selfsigned(ca)
    r = sign(ca, "root", "x509", "ecdsa-sha256", tbs)
    assert r.status == pp.OK, r.message
    verify_sig(load_cert(ca.root_pem).public_key(), "ecdsa-sha256",
               r.signature, tbs)
    # and even in ceremony mode the intermediate may not sign a CA
    r = sign(ca, "intermediate", "x509", "ecdsa-sha256",
             leaf_tbs(ca, "ecdsa-sha256", ca_true=True)[0])
    assert r.status == pp.E_REFUSED


# ---------------------------------------------------- malformed frames -----

def _sign_body():
    return pp.sign_body("intermediate", "x509", "ecdsa-sha256", b"\x30\x00")


MALFORMED = {
    "bad-version": pp.frame(pp.PING, 1, version=2),
    "version-zero": pp.frame(pp.PING, 1, version=0),
    "length-over-1MiB": struct.pack(">IBBHI", (1 << 20) + 1, 1, pp.SIGN, 0, 1),
    "length-4GiB": struct.pack(">IBBHI", 0xffffffff, 1, pp.SIGN, 0, 1),
    "length-below-header": struct.pack(">IBBHI", 7, 1, pp.PING, 0, 1),
    "sign-leftover-byte": pp.frame(pp.SIGN, 1, _sign_body() + b"\x00"),
    "sign-payload-len-short": pp.frame(pp.SIGN, 1, _sign_body()[:-1]),
    "sign-empty-payload": pp.frame(pp.SIGN, 1, pp.sign_body(
        "intermediate", "x509", "ecdsa-sha256", b"")),
    "sign-kind-zero": pp.frame(pp.SIGN, 1, b"\x0cintermediate\x00\x01"
                               b"\x00\x00\x00\x01x"),
    "sign-alg-11": pp.frame(pp.SIGN, 1, b"\x0cintermediate\x01\x0b"
                            b"\x00\x00\x00\x01x"),
    "sign-key-with-space": pp.frame(pp.SIGN, 1, pp.sign_body(
        "inter mediate", "x509", "ecdsa-sha256", b"x")),
    "sign-empty-key": pp.frame(pp.SIGN, 1, b"\x00\x01\x01\x00\x00\x00\x01x"),
    "sign-status-nonzero": pp.frame(pp.SIGN, 1, _sign_body(), status=1),
    "ping-with-body": pp.frame(pp.PING, 1, b"\x00"),
    "pubkey-control-char": pp.frame(pp.PUBLIC_KEY, 1, b"\x03a\x01b"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_frame_closes_only_that_connection(ca_p256, case):
    before = ca_p256.client()
    try:
        assert before.ping().status == pp.OK
        s = sock_connect(ca_p256.sock)
        # a good request first: answered, then the bad frame closes
        s.sendall(pp.frame(pp.PING, 77))
        got = split_frames(_read_n_frames(s, 1))
        assert got[0][3] == 77 and got[0][2] == pp.OK
        s.sendall(MALFORMED[case])
        assert read_all(s) == b"", "a malformed frame must get no answer"
        s.close()
        # the connection opened before is unaffected
        assert before.ping().status == pp.OK
        tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256")
        r = before.sign("intermediate", "x509", "ecdsa-sha256", tbs)
        assert r.status == pp.OK, r.message
    finally:
        before.close()
    assert ca_p256.alive()
    assert_serves(ca_p256)               # and a connection opened after


def _read_n_frames(s, n):
    data = b""
    while True:
        frames, off = 0, 0
        while len(data) - off >= 4:
            (ln,) = struct.unpack(">I", data[off:off + 4])
            if len(data) - off < 4 + ln:
                break
            off += 4 + ln
            frames += 1
        if frames >= n:
            return data
        chunk = s.recv(65536)
        assert chunk, "connection closed early"
        data += chunk


def test_truncated_body_then_close(ca_p256):
    before = ca_p256.client()
    try:
        s = sock_connect(ca_p256.sock)
        full = pp.frame(pp.SIGN, 5, _sign_body())
        s.sendall(full[:len(full) - 3])
        time.sleep(0.1)
        s.close()
        # header only, then close
        s = sock_connect(ca_p256.sock)
        s.sendall(full[:6])
        s.close()
        assert before.ping().status == pp.OK
    finally:
        before.close()
    assert ca_p256.alive()
    assert_serves(ca_p256)


def test_frame_split_across_writes(ca_p256):
    """A frame delivered a byte at a time is still one request."""
    tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256")
    f = pp.frame(pp.SIGN, 4242, pp.sign_body("intermediate", "x509",
                                             "ecdsa-sha256", tbs))
    c = ca_p256.client()
    try:
        for i in range(0, 40):
            c.send_raw(f[i:i + 1])
            time.sleep(0.002)
        c.send_raw(f[40:])
        r = c.read_reply()
        assert r.id == 4242 and r.status == pp.OK
        verify_sig(_inter(ca_p256).public_key(), "ecdsa-sha256",
                   r.signature, tbs)
    finally:
        c.close()


def test_unsupported_type(ca_p256):
    c = ca_p256.client()
    try:
        c.send_raw(pp.frame(9, 31337))
        r = c.read_reply()
        assert r.status == pp.E_UNSUPPORTED
        assert r.id == 31337 and r.type == 9 | pp.RESPONSE
        assert c.ping().status == pp.OK
    finally:
        c.close()


def test_many_in_flight(ca_p256):
    inter = _inter(ca_p256)
    reqs = {}
    for i in range(50):
        alg = ALGS["p256"][i % 3]
        tbs, _ = leaf_tbs(ca_p256, alg, cn=f"pipelined-{i}.test")
        reqs[1000 + 7 * i] = (alg, tbs)
    c = ca_p256.client(timeout=30)
    try:
        c.send_raw(b"".join(pp.frame(pp.SIGN, fid, pp.sign_body(
            "intermediate", "x509", alg, tbs))
            for fid, (alg, tbs) in reqs.items()))
        seen = {}
        for _ in range(50):
            r = c.read_reply()
            assert r is not None, "connection closed with answers pending"
            assert r.type == pp.SIGN | pp.RESPONSE
            assert r.id in reqs and r.id not in seen, f"bad id {r.id}"
            seen[r.id] = r
        assert set(seen) == set(reqs)
        for fid, r in seen.items():
            alg, tbs = reqs[fid]
            assert r.status == pp.OK, r.message
            verify_sig(inter.public_key(), alg, r.signature, tbs)
        # nothing more is queued: a PING is the very next answer
        assert c.ping().status == pp.OK
    finally:
        c.close()


def test_more_in_flight_than_a_connection_may_have(ca_p256):
    """600 SIGNs on one connection: above the monitor's per-connection
    in-flight limit (512) it stops reading that connection for a while;
    every request must still be answered exactly once."""
    import threading
    inter = _inter(ca_p256)
    reqs = {}
    for i in range(600):
        tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256", cn=f"bulk-{i}.test")
        reqs[i + 1] = tbs
    data = b"".join(pp.frame(pp.SIGN, fid, pp.sign_body(
        "intermediate", "x509", "ecdsa-sha256", tbs))
        for fid, tbs in reqs.items())
    c = ca_p256.client(timeout=60)
    errors = []

    def sender():
        try:
            c.send_raw(data)
        except OSError as e:
            errors.append(e)
    th = threading.Thread(target=sender)
    th.start()
    try:
        seen = set()
        for _ in range(600):
            r = c.read_reply()
            assert r is not None, f"closed after {len(seen)} answers"
            assert r.status == pp.OK, r.message
            assert r.id in reqs and r.id not in seen
            seen.add(r.id)
            verify_sig(inter.public_key(), "ecdsa-sha256", r.signature,
                       reqs[r.id])
        th.join(30)
        assert not errors
        assert c.ping().status == pp.OK
    finally:
        c.close()
        th.join(5)


def test_largest_frame_accepted_one_more_byte_closes(ca_p256):
    head = 8 + 1 + len("intermediate") + 1 + 1 + 4
    n = (1 << 20) - head            # the frame length field is 1 MiB
    payload = b"\x30" + b"\x00" * (n - 1)
    c = ca_p256.client(timeout=30)
    try:
        r = c.sign("intermediate", "crl", "ecdsa-sha256", payload)
        assert r.status == pp.E_REFUSED, r.body[:100]
        assert c.ping().status == pp.OK
    finally:
        c.close()
    assert " result=refused " in audit_record(ca_p256, payload)
    s = sock_connect(ca_p256.sock, timeout=30)
    try:
        s.sendall(pp.frame(pp.SIGN, 1, pp.sign_body(
            "intermediate", "crl", "ecdsa-sha256", payload + b"\x00"))[:64])
        assert read_all(s) == b""
    finally:
        s.close()
    assert_serves(ca_p256)


# ------------------------------------------------------------ peer uid -----

NOBODY_CLIENT = r"""
import socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
if mode == "send":
    try:
        s.sendall(bytes.fromhex(sys.argv[3]))
    except OSError as e:
        print("SENDERR", type(e).__name__)
data, end = b"", "TIMEOUT"
try:
    while True:
        c = s.recv(65536)
        if not c:
            end = "EOF"
            break
        data += c
except ConnectionResetError:
    end = "RESET"
except socket.timeout:
    pass
print("END", end)
print("DATA", data.hex())
"""


def _as_nobody(*args):
    r = run(["setpriv", "--reuid=nobody", "--regid=nogroup",
             "--clear-groups", "/usr/bin/python3", "-c", NOBODY_CLIENT,
             *args], check=False, timeout=30, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines()
               if " " in line)
    return out["END"], bytes.fromhex(out["DATA"].strip())


def test_wrong_uid_gets_no_signature(ca_p256):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as user nobody")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user nobody")
    assert str(nobody) not in (ca_p256.conf_value("allow-uid") or "")
    # 1. just connect: one error frame (E_REFUSED, id 0), then EOF
    end, data = _as_nobody(ca_p256.sock, "read")
    frames = split_frames(data)
    assert len(frames) == 1, frames
    ver, t, st, fid, body = frames[0]
    assert (ver, st, fid) == (1, pp.E_REFUSED, 0)
    assert t & pp.RESPONSE
    (n,) = struct.unpack(">H", body[:2])
    assert len(body) == 2 + n and str(nobody) in body[2:].decode()
    assert end == "EOF"
    # 2. send a valid SIGN right away: still never an OK answer
    tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256")
    req = pp.frame(pp.SIGN, 99, pp.sign_body("intermediate", "x509",
                                             "ecdsa-sha256", tbs))
    end, data = _as_nobody(ca_p256.sock, "send", req.hex())
    assert end in ("EOF", "RESET")
    for ver, t, st, fid, body in split_frames(data):
        assert st == pp.E_REFUSED and fid == 0
    assert audit_record(ca_p256, tbs) is None, "nothing was signed"
    assert f"refused connection from uid {nobody}" in ca_p256.stderr_text()
    # the allowed uid is still served
    assert ca_p256.alive()
    assert_serves(ca_p256)


# --------------------------------------------------------------- audit -----

def test_audit_verify_live_and_tampered(ca_p256, tmp_path):
    for i in range(3):
        tbs, _ = leaf_tbs(ca_p256, "ecdsa-sha256", cn=f"audit-{i}.test")
        assert sign(ca_p256, "intermediate", "x509", "ecdsa-sha256",
                    tbs).status == pp.OK
    sign(ca_p256, "intermediate", "x509", "ecdsa-sha256",
         leaf_tbs(ca_p256, "ecdsa-sha256", ca_true=True)[0])
    lines = ca_p256.audit.read_bytes().splitlines(keepends=True)
    n = len(lines)
    assert n >= 6
    p11ca = BUILD / "p11ca"
    r = run([p11ca, "audit", "verify", ca_p256.audit], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"\b{n} record", r.stdout + r.stderr), r.stdout

    k = n // 2 + 1                       # 1-based, a middle record
    line = bytearray(lines[k - 1])
    i = line.index(b" result=") + len(b" result=")
    line[i] = ord("X") if line[i] != ord("X") else ord("Y")
    lines[k - 1] = bytes(line)
    copy = tmp_path / "audit.log"
    copy.write_bytes(b"".join(lines))
    r = run([p11ca, "audit", "verify", copy], check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    m = re.search(r"record (\d+)", r.stdout + r.stderr)
    assert m and int(m.group(1)) == k, r.stdout + r.stderr

    # a deleted middle record is named too
    del lines[k - 1]
    copy.write_bytes(b"".join(lines))
    r = run([p11ca, "audit", "verify", copy], check=False)
    assert r.returncode == 1
    m = re.search(r"record (\d+)", r.stdout + r.stderr)
    assert m and int(m.group(1)) == k, r.stdout + r.stderr


# --------------------------------------------------------- fault shim ------

CODES = ["CKR_SESSION_HANDLE_INVALID", "CKR_DEVICE_REMOVED",
         "CKR_DEVICE_ERROR", "CKR_TOKEN_NOT_PRESENT",
         "CKR_USER_NOT_LOGGED_IN"]


def write_plan(plan, text):
    tmp = plan.with_name(plan.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, plan)


def clear_plan(plan):
    try:
        plan.unlink()
    except FileNotFoundError:
        pass


@pytest.fixture
def plan(ca_fault, fault_plan):
    clear_plan(fault_plan)
    yield fault_plan
    clear_plan(fault_plan)


def _fault_sign(ca):
    tbs, _ = leaf_tbs(ca, "ecdsa-sha256")
    t0 = time.monotonic()
    r = sign(ca, "intermediate", "x509", "ecdsa-sha256", tbs)
    return r, tbs, time.monotonic() - t0


def _signs_on_every_worker(ca):
    """Signs, with the right key, whichever worker takes each request."""
    for _ in range(4):
        r, tbs, _ = _fault_sign(ca)
        assert r.status == pp.OK, r.message
        verify_sig(_inter(ca).public_key(), "ecdsa-sha256", r.signature,
                   tbs)


def test_fault_shim_is_in_use(ca_fault):
    assert ca_fault.conf_value("module").endswith("libp11fault.so")
    assert_serves(ca_fault)


@pytest.mark.parametrize("code", CODES)
def test_fault_once_reopens_and_retries(ca_fault, plan, code):
    pid = ca_fault.proc.pid
    write_plan(plan, f"fail C_Sign {code} 1\n")
    r, tbs, _ = _fault_sign(ca_fault)
    assert r.status == pp.OK, r.message
    verify_sig(_inter(ca_fault).public_key(), "ecdsa-sha256",
               r.signature, tbs)
    # the fault did fire (count consumed), and was recovered from
    assert plan.read_text().split() == ["fail", "C_Sign", code, "0"]
    assert ca_fault.alive() and ca_fault.proc.pid == pid


@pytest.mark.parametrize("code", CODES)
def test_fault_forever_fails_fast_then_recovers(ca_fault, plan, code):
    pid = ca_fault.proc.pid
    write_plan(plan, f"fail C_Sign {code} -1\n")
    r, tbs, dt = _fault_sign(ca_fault)
    assert r.status == pp.E_HSM, (r.status, r.body)
    assert code in r.message, r.message
    assert dt < 5, f"E_HSM took {dt:.1f}s"
    rec = audit_record(ca_fault, tbs)
    assert rec is not None and " result=failed " in rec
    # a second request while the token stays broken: same, still fast
    r, _, dt = _fault_sign(ca_fault)
    assert r.status == pp.E_HSM and dt < 5
    clear_plan(plan)
    r, tbs, _ = _fault_sign(ca_fault)
    assert r.status == pp.OK, r.message
    verify_sig(_inter(ca_fault).public_key(), "ecdsa-sha256",
               r.signature, tbs)
    assert ca_fault.alive() and ca_fault.proc.pid == pid
    # both workers recovered: several signatures in a row all succeed
    for _ in range(4):
        assert _fault_sign(ca_fault)[0].status == pp.OK


def test_fault_during_reopen_then_token_back(ca_fault, plan):
    """The token fails C_Sign and is still gone while the worker reopens
    (C_OpenSession fails too): E_HSM now, and the next request, with the
    token back, reopens and signs."""
    pid = ca_fault.proc.pid
    write_plan(plan, "fail C_Sign CKR_DEVICE_REMOVED 1\n"
                     "fail C_OpenSession CKR_TOKEN_NOT_PRESENT 1\n")
    r, _, dt = _fault_sign(ca_fault)
    assert r.status == pp.E_HSM, (r.status, r.body)
    assert "CKR_TOKEN_NOT_PRESENT" in r.message, r.message
    assert dt < 5
    assert [ln.split()[-1] for ln in plan.read_text().splitlines()] == \
        ["0", "0"]
    _signs_on_every_worker(ca_fault)
    assert ca_fault.proc.pid == pid


def test_fault_while_refinding_keys_then_back(ca_fault, plan):
    """The token fails C_Sign, then its key lookup fails during the
    reopen: E_HSM now; the half-recovered session is not used, so the
    next requests reopen again and sign with the right key (a handle of
    the old module instance could name another object)."""
    pid = ca_fault.proc.pid
    write_plan(plan, "fail C_Sign CKR_DEVICE_REMOVED 1\n"
                     "fail C_FindObjectsInit CKR_DEVICE_ERROR 1\n")
    r, _, dt = _fault_sign(ca_fault)
    assert r.status == pp.E_HSM, (r.status, r.body)
    assert "CKR_DEVICE_ERROR" in r.message, r.message
    assert dt < 5
    _signs_on_every_worker(ca_fault)
    assert ca_fault.proc.pid == pid


@pytest.mark.parametrize("code", ["CKR_KEY_HANDLE_INVALID",
                                  "CKR_OBJECT_HANDLE_INVALID"])
def test_dropped_key_handle_refound(ca_fault, plan, code):
    """The worker signs with a session copy of its key; a module that
    drops it (the handle goes invalid) gets the key found and copied
    again, and the request signs."""
    write_plan(plan, f"fail C_SignInit {code} 1\n")
    r, tbs, _ = _fault_sign(ca_fault)
    assert r.status == pp.OK, r.message
    verify_sig(_inter(ca_fault).public_key(), "ecdsa-sha256",
               r.signature, tbs)
    assert plan.read_text().split()[-1] == "0"


def test_fault_every_call_fails_then_recovers(ca_fault, plan):
    """`fail * CKR_DEVICE_REMOVED -1`: a token that is gone for every
    call, C_Initialize included. Answers stay quick; once it is back the
    same signer process signs again."""
    pid = ca_fault.proc.pid
    write_plan(plan, "fail * CKR_DEVICE_REMOVED -1\n")
    for _ in range(3):
        r, _, dt = _fault_sign(ca_fault)
        assert r.status == pp.E_HSM, (r.status, r.body)
        assert "CKR_DEVICE_REMOVED" in r.message and dt < 5
    # PING is the monitor's own: still answered while the token is gone
    c = ca_fault.client()
    try:
        assert c.ping().status == pp.OK
    finally:
        c.close()
    clear_plan(plan)
    for _ in range(4):
        r, tbs, _ = _fault_sign(ca_fault)
        assert r.status == pp.OK, r.message
    assert ca_fault.alive() and ca_fault.proc.pid == pid


def test_latency_ping_answered_while_sign_in_flight(ca_fault, plan):
    assert ca_fault.conf_value("workers") == "2"
    write_plan(plan, "latency C_Sign 300\n")
    inter = _inter(ca_fault)
    t1, _ = leaf_tbs(ca_fault, "ecdsa-sha256", cn="slow1.test")
    t2, _ = leaf_tbs(ca_fault, "ecdsa-sha256", cn="slow2.test")
    a, b, p = ca_fault.client(), ca_fault.client(), ca_fault.client()
    try:
        t0 = time.monotonic()
        a.send_raw(pp.frame(pp.SIGN, 1, pp.sign_body(
            "intermediate", "x509", "ecdsa-sha256", t1)))
        b.send_raw(pp.frame(pp.SIGN, 2, pp.sign_body(
            "intermediate", "x509", "ecdsa-sha256", t2)))
        time.sleep(0.05)
        tp = time.monotonic()
        assert p.ping().status == pp.OK
        assert time.monotonic() - tp < 0.15, "PING waited for the token"
        # on the slow sign's own connection a PING overtakes it
        a.send_raw(pp.frame(pp.PING, 3))
        r = a.read_reply()
        assert r.id == 3 and r.status == pp.OK
        assert time.monotonic() - t0 < 0.25
        r1, r2 = a.read_reply(), b.read_reply()
        total = time.monotonic() - t0
        assert (r1.id, r1.status) == (1, pp.OK), r1.body
        assert (r2.id, r2.status) == (2, pp.OK), r2.body
        verify_sig(inter.public_key(), "ecdsa-sha256", r1.signature, t1)
        verify_sig(inter.public_key(), "ecdsa-sha256", r2.signature, t2)
        assert total >= 0.3, "the latency plan did not apply"
        assert total < 0.55, f"two workers did not sign in parallel " \
            f"({total:.2f}s for two 300 ms signatures)"
    finally:
        for c in (a, b, p):
            c.close()


def test_closed_connection_answers_do_not_leak(ca_fault, plan):
    """Answers for a connection that went away mid-request are dropped,
    never delivered to the next connection (which may reuse its slot)."""
    write_plan(plan, "latency C_Sign 200\n")
    tbs = [leaf_tbs(ca_fault, "ecdsa-sha256", cn=f"gone-{i}.test")[0]
           for i in range(4)]
    c = ca_fault.client()
    c.send_raw(b"".join(pp.frame(pp.SIGN, 9000 + i, pp.sign_body(
        "intermediate", "x509", "ecdsa-sha256", t)) for i, t in
        enumerate(tbs)))
    time.sleep(0.05)
    c.close()
    fresh = [ca_fault.client() for _ in range(3)]
    try:
        for f in fresh:
            f.send_raw(pp.frame(pp.PING, 1))
        time.sleep(1.2)             # the abandoned signatures are done
        clear_plan(plan)
        for f in fresh:
            r = f.read_reply()
            assert (r.id, r.type, r.status) == (1, pp.PING | pp.RESPONSE,
                                                pp.OK)
            f.s.settimeout(0.3)
            with pytest.raises(socket.timeout):
                extra = f.read_reply()
                pytest.fail(f"stray answer id {extra.id} on a new "
                            "connection")
            f.s.settimeout(10)
            assert f.ping().status == pp.OK
    finally:
        for f in fresh:
            f.close()
    # the abandoned requests were still signed and audited
    for t in tbs:
        rec = audit_record(ca_fault, t)
        assert rec and " result=signed " in rec


def _children(pid, comm="p11ca-worker"):
    """The signer's worker processes (the syncer is a child too)."""
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except FileNotFoundError:
        pytest.skip("no /proc/PID/task/PID/children on this kernel")
    out = set()
    for k in kids:
        try:
            if open(f"/proc/{k}/comm").read().strip() == comm:
                out.add(int(k))
        except FileNotFoundError:
            pass                    # exited meanwhile
    return out


def test_worker_killed_mid_sign(ca_fault, plan):
    """A worker that dies mid-request: its job is answered E_HSM, the other
    worker keeps serving, and a fresh worker takes the dead one's place."""
    pid = ca_fault.proc.pid
    before = _children(pid)
    assert len(before) == 2, before
    write_plan(plan, "latency C_Sign 1000\n")
    t1 = leaf_tbs(ca_fault, "ecdsa-sha256", cn="k1.test")[0]
    t2 = leaf_tbs(ca_fault, "ecdsa-sha256", cn="k2.test")[0]
    a, b = ca_fault.client(), ca_fault.client()
    try:
        a.send_raw(pp.frame(pp.SIGN, 1, pp.sign_body(
            "intermediate", "x509", "ecdsa-sha256", t1)))
        b.send_raw(pp.frame(pp.SIGN, 2, pp.sign_body(
            "intermediate", "x509", "ecdsa-sha256", t2)))
        time.sleep(0.3)             # both workers are inside C_Sign
        victim = min(before)
        os.kill(victim, 9)
        ra, rb = a.read_reply(), b.read_reply()
    finally:
        a.close()
        b.close()
    clear_plan(plan)
    st = sorted([ra.status, rb.status])
    assert st == [pp.OK, pp.E_HSM], (ra.status, ra.body, rb.status, rb.body)
    bad = ra if ra.status == pp.E_HSM else rb
    assert bad.message
    assert_serves(ca_fault)         # the other worker, at once
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        now_kids = _children(pid)
        if len(now_kids) == 2 and victim not in now_kids:
            break
        time.sleep(0.1)
    assert len(now_kids) == 2 and victim not in now_kids, now_kids
    assert ca_fault.alive() and ca_fault.proc.pid == pid
    for _ in range(4):
        assert _fault_sign(ca_fault)[0].status == pp.OK


# ---------------------------------------------------------- no PIN ---------

def test_no_pin_in_logs(cas, ca_p256, ca_fault, plan):
    # make the signers log what they log on failures first
    write_plan(plan, "fail C_Sign CKR_DEVICE_ERROR -1\n")
    assert _fault_sign(ca_fault)[0].status == pp.E_HSM
    clear_plan(plan)
    sign(ca_p256, "intermediate", "x509", "ecdsa-sha256",
         leaf_tbs(ca_p256, "ecdsa-sha256", ca_true=True)[0])
    checked = 0
    for ca in cas.made.values():
        pin = ca.pin
        so_pin = (ca.home / "secrets" / "so-pin").read_text().strip()
        assert len(pin) >= 4 and len(so_pin) >= 4
        err = ca.stderr_text()
        assert err, "the signer logged nothing at all?"
        audit = ca.audit.read_bytes()
        for secret in (pin, so_pin):
            assert secret not in err, f"PIN in {ca.stderr_path}"
            assert secret.encode() not in audit, f"PIN in {ca.audit}"
        checked += 1
    assert checked >= 2


def test_no_pin_in_init_output(ca_p256):
    assert ca_p256.init_output
    assert ca_p256.pin not in ca_p256.init_output
