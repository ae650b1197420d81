"""Integration tests of `p11ca ca renew | rekey | revoke` and `p11ca crl
inspect` against a real CA: a home made by `p11ca init --create-token
--insecure-address` (so that the CRL is made and served on both
listeners), its p11ca-signer and its p11ca-api.

Expectations come from step's commands of the same names and step-ca's
wire answers; every certificate the commands write is checked with
python3-cryptography and `openssl verify`, revocation with `openssl verify
-crl_check` against the CA's own CRL. Renewal by token is also watched on
the wire through a TLS-terminating proxy (the case step's --mtls=false is
for): the proxy asks for client certificates, records them and the
requests, and forwards the requests without them.
"""
import base64
import datetime
import http.client
import http.server
import json
import os
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from jwcrypto import jwk, jws

from api_fixtures import (DER, PEM, ApiCA, b64url_decode, client_context,
                          free_port, split_pems)
from conftest import SANITIZER_MARKS, _bin, run

SUB = "svc.example.com"
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


class CrlCA(ApiCA):
    """An ApiCA that also serves CRL, OCSP and intermediate over HTTP."""

    def __init__(self, home, port, plain_port):
        super().__init__(home, port)
        self.plain_port = plain_port

    def init(self, name="Test Lifecycle"):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--key-type", self.key_type,
                 "--name", name, "--address", f"127.0.0.1:{self.port}",
                 "--insecure-address", f"127.0.0.1:{self.plain_port}"])
        self.init_output = r.stdout + r.stderr
        for p in (self.ca_json, self.conf, self.root_pem, self.inter_pem,
                  self.password_file):
            assert p.exists(), f"p11ca init did not write {p}"

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    home = tmp_path_factory.mktemp("lifecycle") / "home"
    c = CrlCA(home, free_port(), free_port())
    try:
        c.init()
        assert c.config["insecureAddress"] == f"127.0.0.1:{c.plain_port}"
        c.start()
        c.start_api()
        yield c
    finally:
        c.cleanup()
    assert not c.sanitizer_reports(), c.sanitizer_reports()


def p11ca(*args, check=True):
    """Runs the CLI; a sanitizer report fails the test in any case."""
    r = run([_bin("p11ca"), *args], check=check)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr
    return r


def issue(ca, d, name="svc", cn=SUB, sans=(), kty=()):
    """A certificate and key from `p11ca ca certificate`: (crt, key)."""
    crt, key = Path(d) / f"{name}.crt", Path(d) / f"{name}.key"
    args = ["ca", "certificate", cn, crt, key, "--home", ca.home, *kty]
    for s in sans:
        args += ["--san", s]
    p11ca(*args)
    return crt, key


def chain(path):
    return split_pems(Path(path).read_text())


def leaf(path):
    return chain(path)[0]


def private_key(path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), None)


def pub_der(k):
    return k.public_key().public_bytes(DER, SPKI)


def sans_of(cert):
    try:
        return cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None


def openssl_verify(ca, crt, *extra):
    """`openssl verify` of crt's leaf, the intermediate taken from crt."""
    return run(["openssl", "verify", "-x509_strict", "-CAfile", ca.root_pem,
                "-untrusted", crt, *extra, crt], check=False)


def self_signed(cn="Some Other Root", key=None, days=1, ca=True):
    k = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.utcnow()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(k.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                           critical=True)
            .sign(k, hashes.SHA256()))


def snapshot(*paths):
    return {Path(p): Path(p).read_bytes() for p in paths}


def assert_untouched(snap):
    for p, data in snap.items():
        assert p.read_bytes() == data, f"{p} was changed"
    for p in snap:
        left = [q.name for q in p.parent.iterdir() if ".p11ca-" in q.name
                or ".tmp" in q.name]
        assert not left, f"temporary files left: {left}"


def assert_renewed(ca, old, new_path, same_key=True):
    """new_path holds a fresh certificate for old's identity."""
    got = chain(new_path)
    assert len(got) == 2, "want leaf then intermediate"
    new = got[0]
    assert got[1].public_bytes(DER) == x509.load_pem_x509_certificate(
        ca.inter_pem.read_bytes()).public_bytes(DER)
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert sans_of(new) == sans_of(old)
    assert new.issuer == old.issuer
    assert (new.public_key().public_bytes(DER, SPKI) ==
            old.public_key().public_bytes(DER, SPKI)) == same_key
    # The same length of validity, as step-ca renews.
    span = lambda c: c.not_valid_after - c.not_valid_before
    assert abs((span(new) - span(old)).total_seconds()) <= 2
    assert new.not_valid_before >= old.not_valid_before
    r = openssl_verify(ca, new_path, "-purpose", "sslclient")
    assert r.returncode == 0, r.stdout + r.stderr
    return new


# ------------------------------------------------------------- a proxy ---

class Proxy:
    """A TLS-terminating reverse proxy in front of the CA on loopback."""

    def __init__(self, ca, crt, key):
        self.requests = []
        self.ca = ca
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.requests.append({
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in
                                self.headers.items()},
                    "body": body,
                    "peercert": self.connection.getpeercert(True)})
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", proxy.ca.port, timeout=15,
                    context=client_context(proxy.ca.root_pem))
                try:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() in ("content-type", "accept",
                                             "authorization")}
                    conn.request(self.command, self.path, body=body,
                                 headers=hdrs)
                    r = conn.getresponse()
                    data = r.read()
                    ctype = r.getheader("Content-Type") or "text/plain"
                    status = r.status
                finally:
                    conn.close()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = forward

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(str(ca.root_pem))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def proxy(ca, tmp_path_factory):
    d = tmp_path_factory.mktemp("proxy")
    crt, key = issue(ca, d, "proxy", cn="127.0.0.1", sans=["127.0.0.1"])
    p = Proxy(ca, crt, key)
    yield p
    p.close()


# ------------------------------------------------------------- help ------

@pytest.mark.parametrize("cmd", [["ca", "renew"], ["ca", "rekey"],
                                 ["ca", "revoke"], ["crl", "inspect"]])
def test_help(cmd):
    r = p11ca(*cmd, "--help")
    assert r.stdout.startswith("usage: p11ca " + " ".join(cmd))
    assert "Exit status" in r.stdout
    assert " ".join(cmd) in p11ca("--help").stdout


@pytest.mark.parametrize("args", [
    ["ca", "renew"], ["ca", "renew", "only-crt"],
    ["ca", "renew", "a", "b", "--mtls=maybe"],
    ["ca", "rekey", "a"], ["ca", "rekey", "a", "b", "--size", "lots"],
    ["ca", "revoke"], ["ca", "revoke", "12", "--reasonCode", "7"],
    ["ca", "revoke", "12", "--reasonCode", "notAReason"],
    ["ca", "revoke", "0xZZ"], ["ca", "revoke", "-5"],
    ["ca", "revoke", "--cert", "a.crt"],
    ["ca", "revoke", "--cert", "a", "--key", "b", "--token", "t"],
    ["crl", "inspect", "--format", "xml"], ["crl", "inspect", "a", "b"],
])
def test_bad_usage_exits_2(args):
    r = p11ca(*args, check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)


# ------------------------------------------------------------- renew -----

def test_renew_mtls(ca, tmp_path):
    crt, key = issue(ca, tmp_path, sans=[SUB, "alt.example.com"])
    os.chmod(crt, 0o640)
    old = leaf(crt)
    keep = snapshot(key)
    r = p11ca("ca", "renew", crt, key, "--home", ca.home)
    assert f"saved in {crt}" in r.stdout
    assert_renewed(ca, old, crt)
    assert (crt.stat().st_mode & 0o777) == 0o640, "mode of CRT kept"
    assert_untouched(keep)
    # Renewed again, from the renewed certificate.
    second = leaf(crt)
    p11ca("ca", "renew", crt, key, "--home", ca.home)
    assert_renewed(ca, second, crt)


def test_renew_token_direct(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    old = leaf(crt)
    p11ca("ca", "renew", "--mtls=false", crt, key, "--home", ca.home)
    assert_renewed(ca, old, crt)


def test_renew_out_file(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    old = leaf(crt)
    keep = snapshot(crt, key)
    out = tmp_path / "new.crt"
    p11ca("ca", "renew", crt, key, "--out", out, "--home", ca.home)
    assert_untouched(keep)
    assert_renewed(ca, old, out)
    # An existing --out needs --force; the CA is not even asked.
    before = out.read_bytes()
    r = p11ca("ca", "renew", crt, key, "--out", out, "--home", ca.home,
              check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    assert out.read_bytes() == before
    p11ca("ca", "renew", crt, key, "--out", out, "-f", "--home", ca.home)
    assert leaf(out).serial_number != x509.load_pem_x509_certificate(
        before).serial_number


def test_renew_without_home_config(ca, tmp_path):
    """--ca-url and --root are enough: ca.json is not needed."""
    crt, key = issue(ca, tmp_path)
    old = leaf(crt)
    env_home = tmp_path / "nowhere"
    p11ca("ca", "renew", crt, key, "--ca-url", ca.url + "/", "--root",
          ca.root_pem, "--home", env_home)
    assert_renewed(ca, old, crt)


def _jws_parts(tok):
    h, p, _ = tok.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


@pytest.mark.parametrize("kty,alg", [
    ((), "ES256"),
    (("--kty", "EC", "--curve", "P-384"), "ES384"),
    (("--kty", "RSA", "--size", "2048"), "RS256"),
    (("--kty", "OKP"), "EdDSA"),
])
def test_renew_token_through_proxy(ca, proxy, tmp_path, kty, alg):
    crt, key = issue(ca, tmp_path, kty=kty)
    old = leaf(crt)
    n = len(proxy.requests)
    p11ca("ca", "renew", "--mtls=false", crt, key, "--ca-url", proxy.url,
          "--root", ca.root_pem)
    assert_renewed(ca, old, crt)
    req = proxy.requests[n]
    assert len(proxy.requests) == n + 1
    assert (req["method"], req["path"]) == ("POST", "/1.0/renew")
    assert req["peercert"] is None, "the token form sends no client cert"
    auth = req["headers"]["authorization"]
    assert auth.startswith("Bearer ")
    tok = auth[len("Bearer "):]
    hdr, claims = _jws_parts(tok)
    assert hdr["alg"] == alg
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    assert hdr["x5cInsecure"] == [
        base64.b64encode(old.public_bytes(DER)).decode(),
        base64.b64encode(inter.public_bytes(DER)).decode()]
    assert claims["aud"] == f"{proxy.url}/1.0/renew"
    assert claims["sub"] == SUB
    assert claims["iss"] == "step-ca-client/1.0"
    now = time.time()
    assert claims["nbf"] <= now + 1 and claims["iat"] <= now + 1
    assert now < claims["exp"] <= claims["iat"] + 3600
    assert len(claims["jti"]) >= 32
    # Signed by the certificate's own key.
    k = jwk.JWK.from_pem(old.public_key().public_bytes(PEM, SPKI))
    j = jws.JWS()
    j.deserialize(tok)
    j.verify(k)


def test_renew_mtls_through_proxy_fails_untouched(ca, proxy, tmp_path):
    """The proxy does not pass the client certificate on: the CA refuses,
    the command says why and leaves the files alone."""
    crt, key = issue(ca, tmp_path)
    keep = snapshot(crt, key)
    n = len(proxy.requests)
    r = p11ca("ca", "renew", crt, key, "--ca-url", proxy.url, "--root",
              ca.root_pem, check=False)
    assert r.returncode == 1
    assert "client certificate" in r.stderr and "400" in r.stderr, r.stderr
    assert proxy.requests[n]["peercert"] == leaf(crt).public_bytes(DER)
    assert_untouched(keep)


def test_renew_expired_uses_the_token(ca, proxy, tmp_path):
    """As step: an expired certificate cannot be shown in TLS, so renew
    sends the token unless --mtls=true was asked for."""
    k = ec.generate_private_key(ec.SECP256R1())
    crt, key = tmp_path / "old.crt", tmp_path / "old.key"
    crt.write_bytes(self_signed(SUB, k, days=-1, ca=False).public_bytes(PEM))
    key.write_bytes(k.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    keep = snapshot(crt, key)
    n = len(proxy.requests)
    r = p11ca("ca", "renew", "--mtls=true", crt, key, "--ca-url", proxy.url,
              "--root", ca.root_pem, check=False)
    assert r.returncode == 1 and "has expired" in r.stderr
    assert len(proxy.requests) == n, "not sent at all"
    r = p11ca("ca", "revoke", "--cert", crt, "--key", key, "--ca-url",
              proxy.url, "--root", ca.root_pem, check=False)
    assert r.returncode == 1 and "has expired" in r.stderr
    r = p11ca("ca", "rekey", crt, key, "--ca-url", proxy.url, "--root",
              ca.root_pem, check=False)
    assert r.returncode == 1 and "has expired" in r.stderr
    assert len(proxy.requests) == n
    # Not ours anyway: the CA refuses the token, but a token it was.
    r = p11ca("ca", "renew", crt, key, "--ca-url", proxy.url, "--root",
              ca.root_pem, check=False)
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    req = proxy.requests[n]
    assert req["peercert"] is None
    assert req["headers"]["authorization"].startswith("Bearer ")
    assert_untouched(keep)


def test_renew_wrong_key_untouched(ca, tmp_path):
    crt, key = issue(ca, tmp_path, "one")
    _, other = issue(ca, tmp_path, "two")
    keep = snapshot(crt, key, other)
    for mtls in ("--mtls=true", "--mtls=false"):
        r = p11ca("ca", "renew", mtls, crt, other, "--home", ca.home,
                  check=False)
        assert r.returncode == 1
        assert f"{other} is not the key of the certificate in {crt}" in \
            r.stderr
    assert_untouched(keep)


def test_renew_unreachable_untouched(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    keep = snapshot(crt, key)
    dead = f"https://127.0.0.1:{free_port()}"
    for mtls in ("--mtls=true", "--mtls=false"):
        r = p11ca("ca", "renew", mtls, crt, key, "--ca-url", dead,
                  "--root", ca.root_pem, check=False)
        assert r.returncode == 1
        assert f"cannot reach {dead}" in r.stderr, r.stderr
    assert_untouched(keep)


def test_renew_wrong_root_untouched(ca, tmp_path):
    """A CA whose TLS certificate does not chain to --root is not used."""
    crt, key = issue(ca, tmp_path)
    keep = snapshot(crt, key)
    r = p11ca("ca", "renew", crt, key, "--ca-url", ca.url, "--root",
              ca.inter_pem.parent / "nonexistent.crt", check=False)
    assert r.returncode == 1 and "root" in r.stderr
    other = tmp_path / "other-root.crt"
    other.write_bytes(self_signed().public_bytes(PEM))
    r = p11ca("ca", "renew", crt, key, "--ca-url", ca.url, "--root", other,
              check=False)
    assert r.returncode == 1 and "TLS" in r.stderr, r.stderr
    assert_untouched(keep)


def test_renew_not_a_certificate(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate\n")
    keep = snapshot(junk, key)
    r = p11ca("ca", "renew", junk, key, "--home", ca.home, check=False)
    assert r.returncode == 1 and "no PEM certificate" in r.stderr
    r = p11ca("ca", "renew", crt, junk, "--home", ca.home, check=False)
    assert r.returncode == 1 and "not a PEM private key" in r.stderr
    assert_untouched(keep)


def test_renew_encrypted_key(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    k = private_key(key)
    pw = tmp_path / "pw"
    pw.write_text("key password\n")
    key.write_bytes(k.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key password")))
    old = leaf(crt)
    r = p11ca("ca", "renew", crt, key, "--home", ca.home, "--password-file",
              pw)
    assert r.returncode == 0
    assert_renewed(ca, old, crt)
    pw.write_text("wrong\n")
    keep = snapshot(crt, key)
    r = p11ca("ca", "renew", crt, key, "--home", ca.home, "--password-file",
              pw, check=False)
    assert r.returncode == 1 and "wrong password" in r.stderr
    assert_untouched(keep)


# ------------------------------------------------------------- rekey -----

def test_rekey(ca, tmp_path):
    crt, key = issue(ca, tmp_path, sans=[SUB, "10.1.2.3"])
    old, old_key = leaf(crt), private_key(key)
    r = p11ca("ca", "rekey", crt, key, "--home", ca.home)
    assert f"saved in {crt}" in r.stdout and f"saved in {key}" in r.stdout
    new = assert_renewed(ca, old, crt, same_key=False)
    new_key = private_key(key)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert isinstance(new_key, ec.EllipticCurvePrivateKey)
    assert new_key.curve.name == old_key.curve.name
    assert pub_der(new_key) == new.public_key().public_bytes(DER, SPKI)
    assert pub_der(old_key) != new.public_key().public_bytes(DER, SPKI)
    # openssl agrees that the new key is the new certificate's, the old
    # one is not.
    for k, ok in ((key, True), (tmp_path / "old.key", False)):
        if not ok:
            k.write_bytes(old_key.private_bytes(
                PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        a = run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"]).stdout
        b = run(["openssl", "pkey", "-in", k, "-pubout"]).stdout
        assert (a == b) == ok
    # The new pair works: renew by mTLS with it.
    p11ca("ca", "renew", crt, key, "--home", ca.home)
    assert_renewed(ca, new, crt)
    # The old pair no longer matches the files.
    r = p11ca("ca", "renew", crt, tmp_path / "old.key", "--home", ca.home,
              check=False)
    assert r.returncode == 1 and "is not the key" in r.stderr


@pytest.mark.parametrize("kty,args,check", [
    (("--kty", "EC", "--curve", "P-384"), (),
     lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and
     k.curve.name == "secp384r1"),
    (("--kty", "RSA", "--size", "2048"), (),
     lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == 2048),
    (("--kty", "OKP"), (),
     lambda k: isinstance(k, ed25519.Ed25519PrivateKey)),
    ((), ("--kty", "RSA", "--size", "3072"),
     lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == 3072),
    ((), ("--kty", "OKP"),
     lambda k: isinstance(k, ed25519.Ed25519PrivateKey)),
    ((), ("--crv", "P-521"),
     lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and
     k.curve.name == "secp521r1"),
])
def test_rekey_key_types(ca, tmp_path, kty, args, check):
    crt, key = issue(ca, tmp_path, kty=kty)
    old = leaf(crt)
    p11ca("ca", "rekey", crt, key, *args, "--home", ca.home)
    new = assert_renewed(ca, old, crt, same_key=False)
    k = private_key(key)
    assert check(k), k
    assert pub_der(k) == new.public_key().public_bytes(DER, SPKI)


def test_rekey_out_files_and_private_key(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    old = leaf(crt)
    keep = snapshot(crt, key)
    oc, ok = tmp_path / "n.crt", tmp_path / "n.key"
    p11ca("ca", "rekey", crt, key, "--out-cert", oc, "--out-key", ok,
          "--home", ca.home)
    assert_untouched(keep)
    new = assert_renewed(ca, old, oc, same_key=False)
    assert pub_der(private_key(ok)) == new.public_key().public_bytes(
        DER, SPKI)
    # Existing outputs need --force.
    r = p11ca("ca", "rekey", crt, key, "--out-cert", oc, "--out-key", ok,
              "--home", ca.home, check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    # --private-key: that key is certified, KEY is not rewritten.
    mine = ec.generate_private_key(ec.SECP256R1())
    pk = tmp_path / "mine.key"
    pk.write_bytes(mine.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    keep = snapshot(key)
    r = p11ca("ca", "rekey", crt, key, "--private-key", pk, "--home",
              ca.home)
    assert f"saved in {key}" not in r.stdout
    assert_untouched(keep)
    assert leaf(crt).public_key().public_bytes(DER, SPKI) == pub_der(mine)


def test_rekey_encrypted_key_stays_encrypted(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    key.write_bytes(private_key(key).private_bytes(
        PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    p11ca("ca", "rekey", crt, key, "--password-file", pw, "--home", ca.home)
    assert b"ENCRYPTED" in key.read_bytes()
    with pytest.raises(TypeError):
        private_key(key)
    k = serialization.load_pem_private_key(key.read_bytes(), b"s3cret")
    assert pub_der(k) == leaf(crt).public_key().public_bytes(DER, SPKI)


def test_rekey_errors_untouched(ca, tmp_path):
    crt, key = issue(ca, tmp_path, "one")
    _, other = issue(ca, tmp_path, "two")
    keep = snapshot(crt, key, other)
    r = p11ca("ca", "rekey", crt, other, "--home", ca.home, check=False)
    assert r.returncode == 1 and "is not the key" in r.stderr
    dead = f"https://127.0.0.1:{free_port()}"
    r = p11ca("ca", "rekey", crt, key, "--ca-url", dead, "--root",
              ca.root_pem, check=False)
    assert r.returncode == 1 and f"cannot reach {dead}" in r.stderr
    r = p11ca("ca", "rekey", crt, key, "--kty", "DSA", "--home", ca.home,
              check=False)
    assert r.returncode == 1 and "--kty DSA" in r.stderr
    r = p11ca("ca", "rekey", crt, key, "--kty", "RSA", "--size", "1024",
              "--home", ca.home, check=False)
    assert r.returncode == 1 and "2048" in r.stderr
    assert_untouched(keep)


# ------------------------------------------------------------- revoke ----

def fetch_crl_der(ca):
    conn = http.client.HTTPConnection("127.0.0.1", ca.plain_port, timeout=10)
    try:
        conn.request("GET", "/crl")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        return body
    finally:
        conn.close()


def crl_json(ca, *args):
    return json.loads(p11ca("crl", "inspect", "--format", "json", "--home",
                            ca.home, *args).stdout)


def wait_listed(ca, serial, timeout=10):
    """The CRL is made again after each revocation: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        got = crl_json(ca)
        entries = {e["serial_number"]: e for e in got["revoked_certificates"]}
        if str(serial) in entries:
            return got, entries[str(serial)]
        assert time.monotonic() < deadline, f"{serial} not in CRL: {got}"
        time.sleep(0.05)


def assert_revoked_by_openssl(ca, crt, tmp_path):
    pem = p11ca("crl", "inspect", "--format", "pem",
                f"http://127.0.0.1:{ca.plain_port}/crl",
                "--home", ca.home).stdout
    assert pem.startswith("-----BEGIN X509 CRL-----")
    f = tmp_path / "crl.pem"
    f.write_text(pem)
    r = openssl_verify(ca, crt, "-crl_check", "-CRLfile", f)
    assert r.returncode != 0
    assert "certificate revoked" in r.stdout + r.stderr


def test_revoke_by_token(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    serial = leaf(crt).serial_number
    # Not revoked yet: openssl accepts it with the current CRL.
    f = tmp_path / "before.der"
    f.write_bytes(fetch_crl_der(ca))
    r = openssl_verify(ca, crt, "-crl_check", "-CRLfile", f)
    assert r.returncode == 0, r.stdout + r.stderr
    r = p11ca("ca", "revoke", str(serial), "--reasonCode", "keyCompromise",
              "--reason", "lost laptop", "--home", ca.home)
    assert r.stdout == \
        f"Certificate with Serial Number {serial} has been revoked.\n"
    got, entry = wait_listed(ca, serial)
    assert entry["reason_code"] == 1 and entry["reason"] == "keyCompromise"
    assert got["signature"]["valid"] is True
    assert_revoked_by_openssl(ca, crt, tmp_path)
    # A revoked certificate is renewed no more, and the files stay.
    keep = snapshot(crt, key)
    for mtls in ("--mtls=true", "--mtls=false"):
        r = p11ca("ca", "renew", mtls, crt, key, "--home", ca.home,
                  check=False)
        assert r.returncode == 1 and "401" in r.stderr, r.stderr
    assert_untouched(keep)
    # Twice: the CA says it is already revoked.
    r = p11ca("ca", "revoke", str(serial), "--home", ca.home, check=False)
    assert r.returncode == 1 and "already revoked" in r.stderr, r.stderr


def test_revoke_hex_serial_and_given_token(ca, tmp_path):
    crt, _ = issue(ca, tmp_path)
    serial = leaf(crt).serial_number
    r = p11ca("ca", "revoke", hex(serial), "--home", ca.home)
    assert f"Serial Number {serial} has" in r.stdout
    wait_listed(ca, serial)
    # A token made by `ca token --revoke` and given with --token.
    crt2, _ = issue(ca, tmp_path, "two")
    s2 = leaf(crt2).serial_number
    tok = p11ca("ca", "token", str(s2), "--revoke", "--home",
                ca.home).stdout.strip()
    r = p11ca("ca", "revoke", str(s2), "--token", tok, "--reasonCode", "4",
              "--ca-url", ca.url, "--root", ca.root_pem)
    assert f"Serial Number {s2} has" in r.stdout
    _, e = wait_listed(ca, s2)
    assert e["reason"] == "superseded"
    # The token names one serial only: not another's.
    crt3, _ = issue(ca, tmp_path, "three")
    s3 = leaf(crt3).serial_number
    tok = p11ca("ca", "token", str(s3), "--revoke", "--home",
                ca.home).stdout.strip()
    r = p11ca("ca", "revoke", str(s3 + 1), "--token", tok, "--home",
              ca.home, check=False)
    assert r.returncode == 1 and "401" in r.stderr


def test_revoke_by_mtls(ca, tmp_path):
    crt, key = issue(ca, tmp_path)
    serial = leaf(crt).serial_number
    r = p11ca("ca", "revoke", "--cert", crt, "--key", key, "--reason",
              "retired", "--ca-url", ca.url, "--root", ca.root_pem)
    assert r.stdout == \
        f"Certificate with Serial Number {serial} has been revoked.\n"
    _, entry = wait_listed(ca, serial)
    assert entry.get("reason_code", 0) == 0
    assert_revoked_by_openssl(ca, crt, tmp_path)


def test_revoke_mtls_errors(ca, tmp_path):
    crt, key = issue(ca, tmp_path, "one")
    _, other = issue(ca, tmp_path, "two")
    serial = leaf(crt).serial_number
    keep = snapshot(crt, key, other)
    r = p11ca("ca", "revoke", str(serial + 1), "--cert", crt, "--key", key,
              "--home", ca.home, check=False)
    assert r.returncode == 1
    assert f"is not the serial number of the certificate in {crt}" in \
        r.stderr
    r = p11ca("ca", "revoke", "--cert", crt, "--key", other, "--home",
              ca.home, check=False)
    assert r.returncode == 1 and "is not the key" in r.stderr
    dead = f"https://127.0.0.1:{free_port()}"
    r = p11ca("ca", "revoke", "--cert", crt, "--key", key, "--ca-url", dead,
              "--root", ca.root_pem, check=False)
    assert r.returncode == 1 and f"cannot reach {dead}" in r.stderr
    assert_untouched(keep)
    # None of that revoked it: it still renews.
    p11ca("ca", "renew", crt, key, "--home", ca.home)


def test_revoke_unknown_serial(ca):
    r = p11ca("ca", "revoke", "123456789", "--home", ca.home, check=False)
    assert r.returncode == 1 and "404" in r.stderr


# ------------------------------------------------------------- crl -------

def test_crl_inspect_sources_agree(ca, tmp_path):
    crt, _ = issue(ca, tmp_path)
    serial = leaf(crt).serial_number
    p11ca("ca", "revoke", str(serial), "--home", ca.home)
    wait_listed(ca, serial)
    der = fetch_crl_der(ca)
    crl = x509.load_der_x509_crl(der)
    (tmp_path / "crl.der").write_bytes(der)
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(PEM))
    views = [
        crl_json(ca),
        crl_json(ca, tmp_path / "crl.der"),
        crl_json(ca, tmp_path / "crl.pem"),
        crl_json(ca, f"http://127.0.0.1:{ca.plain_port}/crl"),
        crl_json(ca, f"{ca.url}/1.0/crl", "--root", ca.root_pem),
        crl_json(ca, f"{ca.url}/crl"),
    ]
    n = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    views = [v for v in views if v["crl_number"] == str(n.crl_number)]
    assert len(views) >= 3, "the CRL changed under the test too often"
    for v in views:
        assert v == views[0]
    v = views[0]
    assert v["version"] == 2
    assert v["signature"]["valid"] is True and "reason" not in v["signature"]
    assert v["signature_algorithm"] == "ECDSA-SHA256"
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    assert v["issuer"]["common_name"] == inter.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value
    assert v["this_update"] == crl.last_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert v["next_update"] == crl.next_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(e["serial_number"] for e in v["revoked_certificates"]) == \
        sorted(str(r.serial_number) for r in crl)
    for e in v["revoked_certificates"]:
        r = crl.get_revoked_certificate_by_serial_number(
            int(e["serial_number"]))
        assert e["revocation_time"] == r.revocation_date.strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    assert base64.b64decode(v["signature"]["value"]) == crl.signature
    # Text, as step prints it.
    t = p11ca("crl", "inspect", tmp_path / "crl.der", "--home",
              ca.home).stdout
    assert t.startswith("Certificate Revocation List (CRL):")
    assert "Valid: true" in t
    assert f"Serial Number: {serial} (0x{serial:X})" in t
    # PEM, which openssl reads and verifies.
    pem = p11ca("crl", "inspect", "--format", "pem", tmp_path / "crl.der",
                "--home", ca.home).stdout
    (tmp_path / "out.pem").write_text(pem)
    r = run(["openssl", "crl", "-in", tmp_path / "out.pem", "-CAfile",
             ca.inter_pem, "-noout"], check=False)
    assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr
    # Standard input.
    r = run(["sh", "-c", f"{_bin('p11ca')} crl inspect --format json "
             f"--home {ca.home} - < {tmp_path / 'crl.der'}"])
    assert json.loads(r.stdout) == crl_json(ca, tmp_path / "crl.der")


def test_crl_inspect_hex_serials_as_step(tmp_path):
    """Serials in hex as step (Go's %X) prints them: no leading zero, so
    an odd number of digits when the top nibble is 0 (BN_bn2hex pads)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hex crl")])
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
              .public_key(key.public_key()).serial_number(1)
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                             critical=True)
              .sign(key, hashes.SHA256()))
    b = (x509.CertificateRevocationListBuilder().issuer_name(name)
         .last_update(now).next_update(now + datetime.timedelta(hours=1)))
    serials = [0x0F12, 0xABCD, 0x0123456789ABCDEF]
    for n in serials:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(n)
            .revocation_date(now).build())
    (tmp_path / "crl.der").write_bytes(b.sign(key, hashes.SHA256())
                                       .public_bytes(DER))
    (tmp_path / "ca.pem").write_bytes(issuer.public_bytes(PEM))
    t = p11ca("crl", "inspect", tmp_path / "crl.der", "--ca",
              tmp_path / "ca.pem").stdout
    assert "Valid: true" in t
    for n in serials:
        assert f"Serial Number: {n} (0x{n:X})\n" in t, t
    assert "(0x0" not in t


def test_crl_inspect_invalid(ca, tmp_path):
    der = bytearray(fetch_crl_der(ca))
    good = tmp_path / "good.der"
    good.write_bytes(bytes(der))
    # Checked with the wrong certificate: not its issuer.
    r = p11ca("crl", "inspect", good, "--ca", ca.root_pem, check=False)
    assert r.returncode == 1 and "not valid" in r.stderr
    assert "Valid: false" in r.stdout
    r = p11ca("crl", "inspect", good, "--ca", ca.root_pem, "--insecure",
              "--format", "json")
    assert json.loads(r.stdout)["signature"]["valid"] is False
    # Its signature broken (the last byte of the BIT STRING).
    der[-1] ^= 0x01
    bad = tmp_path / "bad.der"
    bad.write_bytes(bytes(der))
    r = p11ca("crl", "inspect", bad, "--home", ca.home, check=False)
    assert r.returncode == 1 and "Signature does not match" in r.stderr
    r = p11ca("crl", "inspect", bad, "--home", ca.home, "--insecure")
    assert "Valid: false" in r.stdout
    # Not a CRL, not there, not served.
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    r = p11ca("crl", "inspect", junk, "--home", ca.home, check=False)
    assert r.returncode == 1 and "not a CRL" in r.stderr
    r = p11ca("crl", "inspect", good, "--home", ca.home, "--ca",
              tmp_path / "missing.crt", check=False)
    assert r.returncode == 1 and "missing.crt" in r.stderr
    dead = free_port()
    r = p11ca("crl", "inspect", f"http://127.0.0.1:{dead}/crl", "--home",
              ca.home, check=False)
    assert r.returncode == 1 and "cannot reach" in r.stderr
    r = p11ca("crl", "inspect", f"http://127.0.0.1:{ca.plain_port}/nope",
              "--home", ca.home, check=False)
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    # Trailing bytes after the DER.
    junk.write_bytes(bytes(good.read_bytes()) + b"\x00")
    r = p11ca("crl", "inspect", junk, "--home", ca.home, check=False)
    assert r.returncode == 1 and "not a CRL" in r.stderr
