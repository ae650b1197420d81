"""p11ca-api, the HTTPS front end, against a real CA: `p11ca init
--create-token` into a temporary home, a real p11ca-signer on a fresh
SoftHSM2 token, and p11ca-api on a free loopback port.

Every expectation is step-ca 0.19's wire behaviour (what step clients are
written against) or one of p11ca's documented departures from it
(docs/decisions.md). Tokens are minted with python3-jwcrypto from the JWK
provisioner's own key, decrypted from ca.json with its password; CSRs are
made with python3-cryptography; certificates are checked with
python3-cryptography and the OpenSSL CLI; curl is a second HTTP client.

Tests that stop the signer or the front end restart them before they end,
and an autouse fixture restarts whichever is down, so that one failure does
not cascade.
"""
import base64
import datetime
import hashlib
import http.client
import ipaddress
import json
import re
import signal
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from jwcrypto import jwe, jwk

from api_fixtures import (DELETE, DER, PEM, KEYGEN, ApiCA, Provisioner,
                          b64url, b64url_decode, cert_serial_der,
                          client_context, cnf_of, es_sign, free_port,
                          general_name, https, jti_of, make_csr,
                          openssl_verify, raw_jws, split_pems, tamper, tlv,
                          verify_issued_by)
from conftest import run

SUB = "svc.example.com"
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
PROV_EXT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
UNAUTHORIZED = ("The request lacked necessary authorization to be "
                "completed. Please see the certificate authority logs for "
                "more info.")
BAD_REQUEST = "The request could not be completed: "
FORBIDDEN = "The request was forbidden by the certificate authority: "
TLS_OPTIONS = {
    "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
    "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": False,
}
SECOND_PASSWORD = "second provisioner password"
N_BULK = 119            # provisioners without an encrypted key, for paging


# ------------------------------------------------------------ fixtures -----

def add_provisioners(ca):
    """Appends to ca.json a second JWK provisioner 'second' (own claims,
    encrypted key) and N_BULK key-only ones, so that paging and per-
    provisioner claims can be seen. Returns (second's private JWK, its
    entry)."""
    cfg = ca.config
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = json.loads(key.export_public())
    pub.update(kid=key.thumbprint(), use="sig", alg="ES256")
    e = jwe.JWE(key.export_private().encode(),
                json.dumps({"alg": "PBES2-HS256+A128KW", "enc": "A256GCM",
                            "cty": "jwk+json"}))
    e.add_recipient(jwk.JWK.from_password(SECOND_PASSWORD))
    second = {"type": "JWK", "name": "second", "key": pub,
              "encryptedKey": e.serialize(compact=True),
              "claims": {"minTLSCertDuration": "10m",
                         "maxTLSCertDuration": "2h",
                         "defaultTLSCertDuration": "1h"}}
    provs = cfg["authority"]["provisioners"]
    provs.append(second)
    for i in range(N_BULK):
        k = jwk.JWK.generate(kty="EC", crv="P-256")
        p = json.loads(k.export_public())
        p.update(kid=k.thumbprint(), use="sig", alg="ES256")
        provs.append({"type": "JWK", "name": f"bulk-{i:03d}", "key": p})
    ca.ca_json.write_text(json.dumps(cfg, indent="\t"))
    return key, second


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    home = tmp_path_factory.mktemp("api") / "home"
    c = ApiCA(home, free_port())
    try:
        c.init()
        c.second_key, c.second = add_provisioners(c)
        c.start()
        c.start_api()
        yield c
    finally:
        c.cleanup()
    reports = c.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


class Api:
    """The front end as a client sees it."""

    def __init__(self, ca):
        self.ca = ca
        self.port = ca.port
        self.ctx = client_context(ca.root_pem)
        self.prov = Provisioner(ca)
        self.root = x509.load_pem_x509_certificate(ca.root_pem.read_bytes())
        self.inter = x509.load_pem_x509_certificate(
            ca.inter_pem.read_bytes())
        self.serials = set()

    def get(self, path, **kw):
        return https(self.port, "GET", path, ctx=self.ctx, **kw)

    def req(self, method, path, body=None, **kw):
        return https(self.port, method, path, body=body, ctx=self.ctx, **kw)

    def sign(self, csr_pem, ott, path="/1.0/sign", **extra):
        body = {"csr": csr_pem, "ott": ott}
        body.update(extra)
        return self.req("POST", path, body)

    def issue(self, csr_pem, ott, **extra):
        """POST /sign that must succeed: the response checked for shape,
        the leaf returned parsed."""
        r = self.sign(csr_pem, ott, **extra)
        assert r.status == 201, r
        o = json_body(r)
        assert set(o) == {"crt", "ca", "certChain", "tlsOptions"}, o.keys()
        assert o["certChain"] == [o["crt"], o["ca"]]
        assert o["ca"] == self.ca.inter_pem.read_text()
        assert o["tlsOptions"] == TLS_OPTIONS
        assert o["crt"].startswith("-----BEGIN CERTIFICATE-----\n")
        assert o["crt"].endswith("\n-----END CERTIFICATE-----\n")
        certs = split_pems(o["crt"])
        assert len(certs) == 1
        leaf = certs[0]
        # step-ca's PEM exactly: 64-column base64, a final newline.
        assert o["crt"] == ssl.DER_cert_to_PEM_cert(
            leaf.public_bytes(serialization.Encoding.DER))
        assert leaf.serial_number not in self.serials, "serial reused"
        self.serials.add(leaf.serial_number)
        return leaf


@pytest.fixture(scope="module")
def api(ca):
    return Api(ca)


@pytest.fixture(autouse=True)
def _running(request):
    """Restarts whichever process a failed earlier test left down."""
    if "ca" in request.fixturenames:
        c = request.getfixturevalue("ca")
        if not c.alive():
            c.stop()
            c.start()
        if not c.api_alive():
            c.stop_api()
            c.start_api()
    yield


def json_body(r, ctype="application/json"):
    """The parsed body, after checking what every JSON reply must be:
    application/json, compact, one newline at the very end."""
    assert r.ctype == ctype, r
    assert r.body.endswith(b"\n"), r
    assert b"\n" not in r.body[:-1], r
    assert int(r.headers["content-length"]) == len(r.body)
    return json.loads(r.body)


def assert_error(r, status, message=None, contains=None):
    assert r.status == status, r
    o = json_body(r)
    assert set(o) == {"status", "message"}, o
    assert o["status"] == status
    assert isinstance(o["message"], str) and o["message"]
    if message is not None:
        assert o["message"] == message, o["message"]
    if contains is not None:
        assert contains in o["message"], o["message"]
    return o["message"]


def new_csr(kind="p256", cn=SUB, sans=(SUB,)):
    key = KEYGEN[kind]()
    pem, der = make_csr(key, cn, list(sans) if sans is not None else None)
    return key, pem, der


def ts(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


def rfc3339(t, offset_minutes=0):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    return datetime.datetime.fromtimestamp(t, tz).isoformat().replace(
        "+00:00", "Z")


PREFIXES = ["", "/1.0"]


# ---------------------------------------------------------- GET routes -----

@pytest.mark.parametrize("prefix", PREFIXES)
def test_health(api, prefix):
    r = api.get(prefix + "/health")
    assert r.status == 200
    assert json_body(r) == {"status": "ok"}
    assert r.body == b'{"status":"ok"}\n'


@pytest.mark.parametrize("prefix", PREFIXES)
def test_version(api, prefix):
    r = api.get(prefix + "/version")
    assert r.status == 200
    o = json_body(r)
    assert set(o) == {"version"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", o["version"]), o


@pytest.mark.parametrize("prefix", PREFIXES)
def test_roots(api, ca, prefix):
    r = api.get(prefix + "/roots")
    assert r.status == 201          # step-ca's status, which clients expect
    o = json_body(r)
    assert set(o) == {"crts"} and len(o["crts"]) == 1
    assert o["crts"][0] == ca.root_pem.read_text()
    assert split_pems(o["crts"][0]) == [api.root]
    assert o["crts"][0].endswith("-----END CERTIFICATE-----\n")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_roots_pem(api, prefix):
    r = api.get(prefix + "/roots.pem")
    assert r.status == 200
    assert r.ctype == "application/x-pem-file"
    assert split_pems(r.body.decode()) == [api.root]
    assert r.body.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert r.body.endswith(b"-----END CERTIFICATE-----\n")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_root_by_fingerprint(api, ca, prefix):
    fp = hashlib.sha256(api.root.public_bytes(DER)).hexdigest()
    dashed = "-".join(fp[i:i + 4] for i in range(0, 64, 4))
    for form in (fp, fp.upper(), dashed, dashed.upper()):
        r = api.get(f"{prefix}/root/{form}")
        assert r.status == 200, (form, r)
        assert json_body(r) == {"ca": ca.root_pem.read_text()}
    inter_fp = hashlib.sha256(api.inter.public_bytes(DER)).hexdigest()
    for bad in ("00" * 32, inter_fp, fp[:-2], fp + "00", fp[:-1] + "g",
                "nothex"):
        r = api.get(f"{prefix}/root/{bad}")
        assert_error(r, 404)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_federation(api, prefix):
    r = api.get(prefix + "/federation")
    assert r.status == 201
    o = json_body(r)
    assert set(o) == {"crts"}
    assert [c for p in o["crts"] for c in split_pems(p)] == [api.root]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_provisioners_first_page(api, ca, prefix):
    provs = ca.config["authority"]["provisioners"]
    assert len(provs) == 2 + N_BULK
    r = api.get(prefix + "/provisioners")
    assert r.status == 200
    o = json_body(r)
    assert set(o) == {"provisioners", "nextCursor"}
    # Full objects, in ca.json's order, encryptedKey and claims included.
    assert o["provisioners"] == provs[:20]
    assert o["provisioners"][0]["encryptedKey"] == provs[0]["encryptedKey"]
    assert o["provisioners"][1]["claims"] == ca.second["claims"]
    assert re.fullmatch(r"[0-9a-f]+", o["nextCursor"]), o["nextCursor"]


def test_provisioners_limits(api, ca):
    provs = ca.config["authority"]["provisioners"]
    for q, n in (("limit=0", 20), ("limit=-3", 20), ("limit=", 20),
                 ("limit=1", 1), ("limit=100", 100), ("limit=101", 100),
                 ("limit=1000", 100), ("cursor=&limit=5", 5)):
        r = api.get(f"/1.0/provisioners?{q}")
        assert r.status == 200, (q, r)
        o = json_body(r)
        assert o["provisioners"] == provs[:n], (q, len(o["provisioners"]))
        assert o["nextCursor"] != ""
    # An unknown cursor starts from the beginning, as step-ca.
    r = api.get("/provisioners?cursor=deadbeef&limit=2")
    assert json_body(r)["provisioners"] == provs[:2]


def test_provisioners_walk(api, ca):
    """Following nextCursor visits every provisioner once, in order; the
    last page says nextCursor ""."""
    provs = ca.config["authority"]["provisioners"]
    seen, cursor, pages = [], "", 0
    while True:
        r = api.get(f"/provisioners?cursor={cursor}&limit=7")
        assert r.status == 200, r
        o = json_body(r)
        seen += o["provisioners"]
        pages += 1
        assert pages <= 30, "nextCursor never ends"
        cursor = o["nextCursor"]
        if cursor == "":
            break
        assert len(o["provisioners"]) == 7
    assert seen == provs
    assert pages == -(-len(provs) // 7)
    # A page that ends exactly at the last provisioner has no next cursor.
    r = api.get(f"/provisioners?limit={len(provs)}")
    # (limit is capped at 100, so this one still has a next page.)
    assert json_body(r)["nextCursor"] != ""


@pytest.mark.parametrize("prefix", PREFIXES)
def test_provisioners_limit_not_integer(api, prefix):
    for bad in ("abc", "1x", "1.5"):
        r = api.get(f"{prefix}/provisioners?limit={bad}")
        assert_error(r, 400, f"limit '{bad}' is not an integer.")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_encrypted_key(api, ca, prefix):
    provs = ca.config["authority"]["provisioners"]
    for p, password in ((provs[0], ca.password_file.read_text().strip()),
                        (provs[1], SECOND_PASSWORD)):
        kid = p["key"]["kid"]
        r = api.get(f"{prefix}/provisioners/{kid}/encrypted-key")
        assert r.status == 200, r
        o = json_body(r)
        assert o == {"key": p["encryptedKey"]}
        e = jwe.JWE()
        e.deserialize(o["key"], key=jwk.JWK.from_password(password))
        assert jwk.JWK.from_json(e.payload).thumbprint() == kid
    # Unknown kid; a provisioner without an encrypted key; bad suffixes.
    bulk_kid = provs[5]["key"]["kid"]
    kid0 = provs[0]["key"]["kid"]
    for path in (f"/provisioners/{'A' * 43}/encrypted-key",
                 f"/provisioners/{bulk_kid}/encrypted-key",
                 f"/provisioners/{kid0[:-1]}/encrypted-key",
                 f"/provisioners/{kid0}/encrypted-keys",
                 f"/provisioners/{kid0}/encrypted-key/x",
                 f"/provisioners/{kid0}"):
        assert_error(api.get(prefix + path), 404)


# ------------------------------------------------- errors of the router ----

@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_path_404(api, prefix):
    for path in ("/nope", "/healthz", "/roots/", "/root", "/root/",
                 "/sign/x", "/1.0", "/2.0/health", "/1.0/1.0/health"):
        r = api.get(prefix + path)
        assert_error(r, 404)
    assert_error(api.req("POST", prefix + "/nope", b"{}"), 404)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_wrong_method_405(api, prefix):
    for method, path in (("POST", "/health"), ("GET", "/sign"),
                         ("PUT", "/roots"), ("DELETE", "/version"),
                         ("POST", "/provisioners"), ("PATCH", "/sign"),
                         ("POST", "/root/" + "00" * 32)):
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        r = api.req(method, prefix + path, body)
        assert_error(r, 405)


def test_body_too_large_413(api):
    # Exactly 1 MiB is read and answered on its merits ...
    body = b"{}" + b" " * ((1 << 20) - 2)
    assert len(body) == 1 << 20
    assert_error(api.req("POST", "/1.0/sign", body), 400,
                 BAD_REQUEST + "missing csr.")
    # ... one byte more is 413, at both prefixes.
    for path in ("/1.0/sign", "/sign"):
        r = api.req("POST", path, body + b" ")
        assert_error(r, 413)
    # The server is still there afterwards.
    assert api.get("/health").status == 200


@pytest.mark.parametrize("body", [b"{", b"", b"[]", b"null", b'"csr"',
                                  b"\xff\xfe", b'{"csr": 1, "ott": 2'])
def test_sign_malformed_json_400(api, body):
    assert_error(api.req("POST", "/1.0/sign", body), 400,
                 BAD_REQUEST + "error decoding json.")


def test_sign_missing_fields_400(api):
    _, pem, _ = new_csr()
    tok = api.prov.token()
    assert_error(api.req("POST", "/sign", {"ott": tok}), 400,
                 BAD_REQUEST + "missing csr.")
    assert_error(api.req("POST", "/sign", {"csr": "", "ott": tok}), 400,
                 BAD_REQUEST + "missing csr.")
    assert_error(api.req("POST", "/sign", {"csr": pem}), 400,
                 BAD_REQUEST + "missing ott.")
    assert_error(api.req("POST", "/sign", {"csr": pem, "ott": ""}), 400,
                 BAD_REQUEST + "missing ott.")
    # A csr that is not PEM is a JSON decoding error in step-ca.
    assert_error(api.req("POST", "/sign", {"csr": "not a csr", "ott": tok}),
                 400, BAD_REQUEST + "error decoding json.")
    # None of these consumed the token.
    api.issue(pem, tok)


# ------------------------------------------------------------------ TLS ----

def tls_connect(api, host="127.0.0.1", ctx=None):
    """A verified TLS connection to the front end (SNI/hostname host)."""
    ctx = ctx or client_context(api.ca.root_pem)
    raw = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=host)


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_versions_and_alpn(api, version):
    ctx = client_context(api.ca.root_pem)
    v = getattr(ssl.TLSVersion, version)
    ctx.minimum_version = ctx.maximum_version = v
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    s = tls_connect(api, ctx=ctx)
    try:
        assert s.version() == version.replace("_", ".")
        assert s.selected_alpn_protocol() == "http/1.1"
        name = s.cipher()[0]
        if version == "TLSv1_2":
            # ECDHE with an AEAD only, and the key is ECDSA.
            assert name.startswith("ECDHE-ECDSA-"), name
            assert "GCM" in name or "CHACHA20" in name, name
        else:
            # Go's order, as step-ca: AES-128-GCM before AES-256-GCM.
            assert name == "TLS_AES_128_GCM_SHA256", name
        s.sendall(b"GET /1.0/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.endswith(b'\r\n\r\n{"status":"ok"}\n')
    finally:
        s.close()


def test_tls_alpn_h2_only_not_negotiated(api):
    ctx = client_context(api.ca.root_pem)
    ctx.set_alpn_protocols(["h2"])
    s = tls_connect(api, ctx=ctx)
    try:
        assert s.selected_alpn_protocol() is None
    finally:
        s.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_old_versions_refused(api, version):
    """The server itself answers TLS 1.0/1.1 with a protocol_version
    alert (the client offers them, at security level 0)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        v = getattr(ssl.TLSVersion, version)
        ctx.minimum_version = ctx.maximum_version = v
    except (ValueError, ssl.SSLError):
        pytest.skip(f"this OpenSSL cannot even offer {version}")
    with pytest.raises(ssl.SSLError) as ei:
        tls_connect(api, ctx=ctx).close()
    if "NO_PROTOCOLS_AVAILABLE" in str(ei.value):
        pytest.skip(f"this OpenSSL cannot even offer {version}")
    assert "ALERT_PROTOCOL_VERSION" in str(ei.value), ei.value


def test_tls_server_certificate(api, ca, tmp_path):
    # Python's verification against root_ca.crt, by IP and by DNS name.
    for host in ("127.0.0.1", "localhost"):
        s = tls_connect(api, host=host)
        leaf_der = s.getpeercert(binary_form=True)
        s.close()
    leaf = x509.load_der_x509_certificate(leaf_der)
    # The chain as sent: leaf + intermediate, nothing else.
    r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{api.port}",
             "-showcerts", "-CAfile", ca.root_pem], input="", check=False,
            timeout=20)
    chain = split_pems(r.stdout)
    assert chain == [leaf, api.inter], r.stdout
    assert "Verify return code: 0 (ok)" in r.stdout
    assert leaf.subject == x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "p11ca Online CA")])
    assert leaf.issuer == api.inter.subject
    verify_issued_by(leaf, api.inter)
    san = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    want = set()
    for n in ca.config["dnsNames"]:
        try:
            want.add(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            want.add(x509.DNSName(n))
    assert set(san) == want and len(list(san)) == len(want)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH,
                               ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not ku.value.key_cert_sign
    assert (leaf.not_valid_after - leaf.not_valid_before ==
            datetime.timedelta(hours=24, minutes=1))
    v = openssl_verify(tmp_path, ca.root_pem, ca.inter_pem, leaf)
    assert v.returncode == 0 and v.stdout.strip().endswith(": OK"), v


def openssl_name(name):
    """A Name as `openssl s_client` prints it (RFC 2253 order reversed)."""
    return ", ".join(f"{a.rfc4514_attribute_name} = {a.value}"
                     for a in name)


def test_tls_client_certificate_acceptable_ca_names(api, ca):
    r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{api.port}",
             "-CAfile", ca.root_pem], input="", check=False, timeout=20)
    part = r.stdout.split("Acceptable client certificate CA names\n")
    assert len(part) == 2, "no client certificate was requested"
    names = []
    for line in part[1].splitlines():
        if not line.startswith(("O =", "CN =")):
            break
        names.append(line.strip())
    assert names == [openssl_name(api.root.subject),
                     openssl_name(api.inter.subject)], names
    assert names[0].endswith("CN = Test API Root CA")


def test_tls_client_certificate_optional(api, tmp_path):
    """No certificate: fine (every other test). One of ours: fine. A
    self-signed one: the handshake fails (verified if given)."""
    key, pem, _ = new_csr(cn="client.example.com",
                          sans=["client.example.com"])
    leaf = api.issue(pem, api.prov.token("client.example.com"))
    keyfile = tmp_path / "client.key"
    keyfile.write_bytes(key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    chain = tmp_path / "client.crt"
    chain.write_bytes(leaf.public_bytes(PEM) + api.inter.public_bytes(PEM))
    ctx = client_context(api.ca.root_pem)
    ctx.load_cert_chain(chain, keyfile)
    r = https(api.port, "GET", "/health", ctx=ctx)
    assert r.status == 200 and r.body == b'{"status":"ok"}\n'

    other = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
    now = datetime.datetime.utcnow()
    self_signed = (x509.CertificateBuilder().subject_name(name)
                   .issuer_name(name).public_key(other.public_key())
                   .serial_number(1).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .sign(other, hashes.SHA256()))
    (tmp_path / "bad.key").write_bytes(other.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "bad.crt").write_bytes(self_signed.public_bytes(PEM))
    ctx = client_context(api.ca.root_pem)
    ctx.load_cert_chain(tmp_path / "bad.crt", tmp_path / "bad.key")
    with pytest.raises((OSError, http.client.HTTPException)):
        https(api.port, "GET", "/health", ctx=ctx, timeout=5)
    assert api.get("/health").status == 200


def test_tls_client_certificate_leaf_only(api, tmp_path):
    key, pem, _ = new_csr(cn="leaf.example.com", sans=["leaf.example.com"])
    leaf = api.issue(pem, api.prov.token("leaf.example.com"))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(PEM))
    ctx = client_context(api.ca.root_pem)
    ctx.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "k.pem")
    r = https(api.port, "GET", "/health", ctx=ctx, timeout=5)
    assert r.status == 200


# ------------------------------------------------------- /sign profile -----

def check_leaf(api, leaf, key, sub, sans, t0, t1, prov_name=None,
               prov_kid=None, validity=datetime.timedelta(hours=24,
                                                          minutes=1)):
    """Every item of the issuing profile, against what was asked."""
    prov_name = prov_name or api.prov.name
    prov_kid = prov_kid or api.prov.kid
    assert leaf.version == x509.Version.v3
    assert leaf.subject == x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, sub)])
    assert leaf.issuer == api.inter.subject
    assert leaf.signature_algorithm_oid == \
        x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    verify_issued_by(leaf, api.inter)
    # The CSR's key, unchanged.
    assert leaf.public_key().public_bytes(DER, SPKI) == \
        key.public_key().public_bytes(DER, SPKI)
    # Serial: positive, 128 random bits (DER: 16 or 17 bytes, or fewer
    # only with vanishing probability), at most 20 octets.
    serial = cert_serial_der(leaf)
    assert serial[2] < 0x80, "negative serial"
    assert 2 + 15 <= len(serial) <= 2 + 17, serial.hex()
    assert leaf.serial_number.bit_length() > 96
    # Validity: now - 1 min, and the duration asked (24 h by default).
    nb = ts(leaf.not_valid_before)
    assert int(t0) - 60 - 1 <= nb <= int(t1) - 60 + 1, (nb, t0, t1)
    assert leaf.not_valid_after - leaf.not_valid_before == validity
    ext = leaf.extensions
    assert {e.oid for e in ext} == {
        ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME, PROV_EXT_OID}, \
        [e.oid for e in ext]
    assert len(list(ext)) == 6
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    assert ku.value.digital_signature
    assert ku.value.key_encipherment == is_rsa
    assert not (ku.value.content_commitment or ku.value.data_encipherment or
                ku.value.key_agreement or ku.value.key_cert_sign or
                ku.value.crl_sign)
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH,
                               ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value.digest == x509.SubjectKeyIdentifier.from_public_key(
        key.public_key()).digest
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == api.inter.extensions \
        .get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki.value.authority_cert_issuer is None
    san = ext.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical
    assert list(san.value) == [general_name(s) for s in sans]
    pe = ext.get_extension_for_oid(PROV_EXT_OID)
    assert not pe.critical
    assert pe.value.value == tlv(0x30, tlv(0x02, b"\x01") +
                                 tlv(0x04, prov_name.encode()) +
                                 tlv(0x04, prov_kid.encode()))
    # The chain: intermediate by root; root by itself.
    verify_issued_by(api.inter, api.root)
    verify_issued_by(api.root, api.root)


@pytest.mark.parametrize("kind", ["p256", "p384", "p521", "rsa2048",
                                  "ed25519"])
def test_sign_profile(api, ca, kind, tmp_path):
    sans = [SUB, "127.0.0.1", "www.example.com"]
    key, pem, _ = new_csr(kind, SUB, sans)
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, sans))
    t1 = time.time()
    check_leaf(api, leaf, key, SUB, sans, t0, t1)
    for purpose in ("sslserver", "sslclient"):
        v = openssl_verify(tmp_path, ca.root_pem, ca.inter_pem, leaf,
                           purpose)
        assert v.returncode == 0, v.stdout + v.stderr
        assert v.stdout.strip().endswith(": OK"), v.stdout
    # ... and not for what it was not issued for.
    v = openssl_verify(tmp_path, ca.root_pem, ca.inter_pem, leaf, "crlsign")
    assert v.returncode != 0


def test_sign_with_curl(api, ca, tmp_path):
    sans = [SUB, "localhost"]
    key, pem, _ = new_csr("p256", SUB, sans)
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"csr": pem, "ott": api.prov.token(SUB,
                                                                   sans)}))
    t0 = time.time()
    r = run(["curl", "-sS", "--cacert", ca.root_pem, "-o", tmp_path / "out",
             "-D", tmp_path / "headers", "-w", "%{http_code} %{http_version}",
             "-H", "Content-Type: application/json", "-d", f"@{body}",
             f"https://localhost:{api.port}/1.0/sign"], check=False)
    t1 = time.time()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "201 1.1", r.stdout
    headers = (tmp_path / "headers").read_text().lower()
    assert "\ncontent-type: application/json\n" in headers
    o = json.loads((tmp_path / "out").read_text())
    assert o["certChain"][1] == ca.inter_pem.read_text()
    leaf = split_pems(o["crt"])[0]
    check_leaf(api, leaf, key, SUB, sans, t0, t1)
    # curl, too, trusts the front end by root_ca.crt alone, and GETs.
    r = run(["curl", "-sS", "--cacert", ca.root_pem,
             f"https://127.0.0.1:{api.port}/roots.pem"])
    assert split_pems(r.stdout) == [api.root]


def test_sign_at_root_prefix_and_audiences(api):
    """POST /sign as well as /1.0/sign; every audience step-ca accepts."""
    port = api.port
    for path, aud in (
            ("/sign", f"https://127.0.0.1:{port}/sign"),
            ("/1.0/sign", f"https://127.0.0.1:{port}/sign"),
            ("/sign", f"https://127.0.0.1:{port}/1.0/sign"),
            ("/1.0/sign", "https://127.0.0.1:1/1.0/sign"),
            ("/1.0/sign", "https://127.0.0.1/1.0/sign"),
            ("/1.0/sign", f"https://localhost:{port}/1.0/sign"),
            ("/1.0/sign", ["https://other.example/1.0/sign",
                           f"https://127.0.0.1:{port}/1.0/sign"]),
            ("/1.0/sign", "step-certificate-authority")):
        _, pem, _ = new_csr()
        api.issue(pem, api.prov.token(aud=aud), path=path)


def test_sign_sans_of_every_type(api):
    sans = [SUB, "alt.example.com", "127.0.0.1", "::1", "10.1.2.3",
            "admin@example.com", "spiffe://example.com/svc"]
    key, pem, _ = new_csr("p256", SUB, sans)
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, sans))
    check_leaf(api, leaf, key, SUB, sans, t0, time.time())


def test_sign_without_sans_claim_uses_sub(api):
    key, pem, _ = new_csr("p256", SUB, [SUB])
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, sans=DELETE))
    check_leaf(api, leaf, key, SUB, [SUB], t0, time.time())


def test_sign_csr_without_names(api):
    """A CSR with no SANs and an empty subject passes; the certificate's
    names come from the token alone."""
    sans = [SUB, "192.0.2.7"]
    key, pem, _ = new_csr("p256", None, None)
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, sans))
    check_leaf(api, leaf, key, SUB, sans, t0, time.time())


def test_sign_csr_sans_in_another_order(api):
    sans = [SUB, "a.example.com", "127.0.0.1"]
    key, pem, _ = new_csr("p256", SUB, list(reversed(sans)))
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, sans))
    check_leaf(api, leaf, key, SUB, sans, t0, time.time())


def test_sign_optional_claims(api):
    """Without jti, nbf, iat, sha: accepted (exp alone is required). The
    reuse key is then the token itself: a replay is refused."""
    _, pem, _ = new_csr()
    tok = api.prov.token(jti=DELETE, nbf=DELETE, iat=DELETE, sha=DELETE)
    api.issue(pem, tok)
    assert_error(api.sign(pem, tok), 401, UNAUTHORIZED)


def test_sign_second_provisioner(api, ca):
    """The second provisioner's own key and claims (default 1h, max 2h,
    min 10m), and its name and kid in the provisioner extension."""
    kid = ca.second["key"]["kid"]

    def tok(**over):
        c = api.prov.claims(iss="second", **over)
        return api.prov.sign_claims(c, key=ca.second_key,
                                    header={"kid": kid})
    key, pem, _ = new_csr()
    t0 = time.time()
    leaf = api.issue(pem, tok())
    check_leaf(api, leaf, key, SUB, [SUB], t0, time.time(), "second", kid,
               validity=datetime.timedelta(hours=1, minutes=1))
    leaf = api.issue(pem, tok(), notAfter="2h")
    assert leaf.not_valid_after - leaf.not_valid_before == \
        datetime.timedelta(hours=2, minutes=1)
    t = tok()
    assert_error(api.sign(pem, t, notAfter="2h0m1s"), 403,
                 contains="more than the authorized maximum")
    assert_error(api.sign(pem, t, notAfter="8m"), 403,
                 contains="less than the authorized minimum")
    api.issue(pem, t, notAfter="9m")
    # Provisioner "admin" accepts 3h, "second" does not.
    api.issue(pem, api.prov.token(), notAfter="3h")
    assert_error(api.sign(pem, tok(), notAfter="3h"), 403)


# --------------------------------------------------------- token rules -----

def _other_key():
    return jwk.JWK.generate(kty="EC", crv="P-256")


def _hs256(p, c):
    # Classic confusion: HMAC keyed with the provisioner's public JWK.
    k = jwk.JWK(kty="oct", k=b64url(json.dumps(p.public).encode()))
    return p.sign_claims(c, key=k, header={"alg": "HS256"})


def _times(c, **t):
    now = int(time.time())
    out = {**c, **{k: now + v for k, v in t.items() if v is not None}}
    for k in [k for k, v in t.items() if v is None]:
        out.pop(k, None)
    return out


REFUSED = {
    "expired": lambda p, c: p.sign_claims(
        _times(c, exp=-120, nbf=-600, iat=-600)),
    "not_yet_valid": lambda p, c: p.sign_claims(
        _times(c, nbf=120, iat=0, exp=600)),
    "issued_in_future": lambda p, c: p.sign_claims(
        _times(c, iat=120, nbf=0, exp=600)),
    # As step-ca: a token minted before the CA (re)started is refused.
    "issued_before_ca_start": lambda p, c: p.sign_claims(
        _times(c, iat=-600, nbf=0, exp=600)),
    "wrong_aud_path": lambda p, c: p.sign_claims(
        {**c, "aud": c["aud"].replace("/sign", "/revoke")}),
    "wrong_aud_host": lambda p, c: p.sign_claims(
        {**c, "aud": "https://ca.example.com/1.0/sign"}),
    "wrong_aud_scheme": lambda p, c: p.sign_claims(
        {**c, "aud": c["aud"].replace("https:", "http:")}),
    "aud_missing": lambda p, c: p.sign_claims(
        {k: v for k, v in c.items() if k != "aud"}),
    "wrong_kid": lambda p, c: p.sign_claims(
        c, header={"kid": _other_key().thumbprint()}),
    "no_kid": lambda p, c: raw_jws({"alg": "ES256", "typ": "JWT"}, c,
                                   b"\x00" * 64),
    "wrong_key": lambda p, c: p.sign_claims(c, key=_other_key()),
    "wrong_iss": lambda p, c: p.sign_claims({**c, "iss": "nobody"}),
    "iss_of_other_provisioner": lambda p, c: p.sign_claims(
        {**c, "iss": "second"}),
    "alg_none": lambda p, c: raw_jws(
        {"alg": "none", "kid": p.kid, "typ": "JWT"}, c),
    "alg_none_with_sig": lambda p, c: raw_jws(
        {"alg": "none", "kid": p.kid, "typ": "JWT"}, c,
        b64url_sig_of(p, c)),
    "hs256": _hs256,
    "tampered_signature": lambda p, c: tamper(p.sign_claims(c)),
    "tampered_claims": lambda p, c: swap_payload(
        p.sign_claims({**c, "sub": "other.example.com",
                       "sans": ["other.example.com"]}), c),
    "lifetime_2h": lambda p, c: p.sign_claims(_times(c, nbf=0, iat=0,
                                                     exp=7200)),
    "lifetime_1h_1s": lambda p, c: p.sign_claims(_times(c, nbf=0, iat=0,
                                                        exp=3601)),
    "lifetime_from_iat": lambda p, c: p.sign_claims(
        {k: v for k, v in _times(c, iat=0, exp=7200).items() if k != "nbf"}),
    "missing_exp": lambda p, c: p.sign_claims(
        {k: v for k, v in c.items() if k != "exp"}),
    "exp_string": lambda p, c: p.sign_claims({**c, "exp": str(c["exp"])}),
    "sha_other_root": lambda p, c: p.sign_claims({**c, "sha": "ab" * 32}),
    "empty_sub": lambda p, c: p.sign_claims({**c, "sub": ""}),
    "exp_before_nbf": lambda p, c: p.sign_claims(
        _times(c, nbf=0, iat=0, exp=-10)),
    "empty_jti": lambda p, c: p.sign_claims({**c, "jti": ""}),
    "jti_not_string": lambda p, c: p.sign_claims({**c, "jti": 12345}),
    "sans_not_array": lambda p, c: p.sign_claims({**c, "sans": SUB}),
    "alg_es384_header_es256_sig": lambda p, c: es_sign(
        p.key, {"alg": "ES384", "kid": p.kid, "typ": "JWT"}, c,
        hashes.SHA256()),
    "alg_es384_on_p256_key": lambda p, c: es_sign(
        p.key, {"alg": "ES384", "kid": p.kid, "typ": "JWT"}, c,
        hashes.SHA384()),
    "alg_rs256": lambda p, c: raw_jws(
        {"alg": "RS256", "kid": p.kid, "typ": "JWT"}, c, b"\x01" * 256),
    "der_encoded_signature": lambda p, c: es_sign(
        p.key, {"alg": "ES256", "kid": p.kid, "typ": "JWT"}, c, der=True),
    "garbage": lambda p, c: "not-a-token",
    "two_parts": lambda p, c: ".".join(p.sign_claims(c).split(".")[:2]),
    "json_serialization": lambda p, c: json_jws(p.sign_claims(c)),
}


def b64url_sig_of(p, c):
    """The real ES256 signature bytes of c (to graft onto a none token)."""
    return b64url_decode(p.sign_claims(c).split(".")[2])


def swap_payload(token, claims):
    """The signature of one payload on another: must not verify."""
    h, _, s = token.split(".")
    return ".".join([h, b64url(json.dumps(claims).encode()), s])


def json_jws(token):
    h, p, s = token.split(".")
    return json.dumps({"protected": h, "payload": p, "signature": s})


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_token_refused_consumes_nothing(api, case):
    """Each bad token gets step-ca's generic 401; the genuine token with
    the same jti is still good afterwards (p11ca records a jti only after
    the token verified, docs/decisions.md)."""
    _, pem, _ = new_csr()
    claims = api.prov.claims()
    bad = REFUSED[case](api.prov, claims)
    r = api.sign(pem, bad)
    assert_error(r, 401, UNAUTHORIZED)
    # Twice: the first refusal did not turn into something else.
    assert_error(api.sign(pem, bad), 401, UNAUTHORIZED)
    api.issue(pem, api.prov.sign_claims(claims))


ACCEPTED = {
    # No iat: one 600 s back would predate this CA's start (refused below).
    "expired_within_leeway": dict(exp=-30, nbf=-600, iat=None),
    "nbf_within_leeway": dict(nbf=30, iat=0, exp=600),
    "iat_within_leeway": dict(iat=30, nbf=0, exp=600),
    "lifetime_exactly_1h": dict(nbf=0, iat=0, exp=3600),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_token_time_boundaries_accepted(api, case):
    _, pem, _ = new_csr()
    api.issue(pem, api.prov.sign_claims(_times(api.prov.claims(),
                                               **ACCEPTED[case])))


def test_token_made_by_hand_accepted(api):
    """es_sign (used for forgeries above) makes good tokens when honest,
    so those refusals are about what was changed, not about es_sign."""
    _, pem, _ = new_csr()
    c = api.prov.claims()
    api.issue(pem, es_sign(api.prov.key, {"alg": "ES256", "kid":
                                          api.prov.kid, "typ": "JWT"}, c))
    _, pem, _ = new_csr()
    c = api.prov.claims()
    api.issue(pem, es_sign(api.prov.key, {"alg": "ES256", "kid":
                                          api.prov.kid}, c))


def test_token_sha_claim_either_case(api):
    _, pem, _ = new_csr()
    api.issue(pem, api.prov.token(sha=api.prov.root_fp.upper()))


def test_token_replay_refused(api):
    _, pem, _ = new_csr()
    claims = api.prov.claims()
    tok = api.prov.sign_claims(claims)
    api.issue(pem, tok)
    assert_error(api.sign(pem, tok), 401, UNAUTHORIZED)
    # Reuse is keyed on the jti, not on the token's bytes.
    _, pem2, _ = new_csr(cn="other.example.com",
                         sans=["other.example.com"])
    other = api.prov.sign_claims({**api.prov.claims("other.example.com"),
                                  "jti": claims["jti"]})
    assert_error(api.sign(pem2, other), 401, UNAUTHORIZED)
    # ... across provisioners too: the jti is the CA's, not the key's.
    second = api.prov.sign_claims(
        {**api.prov.claims(iss="second"), "jti": claims["jti"]},
        key=api.ca.second_key, header={"kid": api.ca.second["key"]["kid"]})
    assert_error(api.sign(pem, second), 401, UNAUTHORIZED)
    # ... even on the other path and with a request that would fail later.
    assert_error(api.sign(pem, tok, path="/sign"), 401, UNAUTHORIZED)
    assert_error(api.sign(pem, tok, notAfter="25h"), 401, UNAUTHORIZED)


def test_token_replay_concurrent(api):
    """The same token sent 16 times at once: exactly one certificate."""
    _, pem, _ = new_csr()
    tok = api.prov.token()
    results = [None] * 16

    def go(i):
        results[i] = api.sign(pem, tok)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status for r in results)
    assert statuses == [201] + [401] * 15, statuses


def test_sign_concurrent_distinct(api):
    """32 different tokens at once: 32 certificates, 32 serials."""
    jobs = []
    for i in range(32):
        sub = f"host{i}.example.com"
        key, pem, _ = new_csr("p256", sub, [sub])
        jobs.append((sub, key, pem, api.prov.token(sub)))
    results = [None] * len(jobs)

    def go(i):
        results[i] = api.sign(jobs[i][2], jobs[i][3])
    threads = [threading.Thread(target=go, args=(i,))
               for i in range(len(jobs))]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    t1 = time.time()
    serials = set()
    for (sub, key, _, _), r in zip(jobs, results):
        assert r.status == 201, r
        leaf = split_pems(json_body(r)["crt"])[0]
        check_leaf(api, leaf, key, sub, [sub], t0, t1)
        serials.add(leaf.serial_number)
    assert len(serials) == len(jobs)


def test_token_replay_across_restart(api, ca):
    """A used jti is refused by the next p11ca-api too; a jti that was
    only refused (403) before the restart is still good after it."""
    _, pem, _ = new_csr()
    used = api.prov.token()
    api.issue(pem, used)
    kept = api.prov.token()
    assert_error(api.sign(pem, kept, notAfter="25h"), 403)
    ca.stop_api()
    ca.start_api()
    assert_error(api.sign(pem, used), 401, UNAUTHORIZED)
    reused_jti = api.prov.sign_claims({**api.prov.claims(),
                                       "jti": jti_of(used)})
    assert_error(api.sign(pem, reused_jti), 401, UNAUTHORIZED)
    # The refused token's jti, in a token minted now (step-ca refuses
    # tokens issued before the CA started, so "kept" itself might be).
    kept = api.prov.sign_claims({**api.prov.claims(), "jti": jti_of(kept)})
    api.issue(pem, kept)
    api.issue(pem, api.prov.token())
    # And once more, for the jti used by the previous process' successor.
    ca.stop_api()
    ca.start_api()
    assert_error(api.sign(pem, kept), 401, UNAUTHORIZED)


# -------------------------------------------------- CSR against token ------

CSR_MISMATCH = {
    # name: (csr cn, csr sans, token sans, message part)
    "extra_dns_in_csr": (SUB, [SUB, "extra.example.com"], [SUB],
                         "names do not match"),
    "csr_subset_of_token": (SUB, [SUB], [SUB, "alt.example.com"],
                            "names do not match"),
    "extra_ip_in_csr": (SUB, [SUB, "127.0.0.1", "10.9.9.9"],
                        [SUB, "127.0.0.1"], "names do not match"),
    "other_ip_in_csr": (SUB, [SUB, "10.9.9.9"], [SUB, "127.0.0.1"],
                        "names do not match"),
    "extra_email_in_csr": (SUB, [SUB, "a@example.com"], [SUB],
                           "names do not match"),
    "cn_not_sub": ("other.example.com", [SUB], [SUB],
                   "certificate request does not contain the valid common "
                   "name - got other.example.com, want svc.example.com"),
}


@pytest.mark.parametrize("case", sorted(CSR_MISMATCH))
def test_csr_token_mismatch_403(api, case):
    cn, csr_sans, tok_sans, msg = CSR_MISMATCH[case]
    _, bad_pem, _ = new_csr("p256", cn, csr_sans)
    tok = api.prov.token(SUB, tok_sans)
    m = assert_error(api.sign(bad_pem, tok), 403, contains=msg)
    assert m.startswith(FORBIDDEN) and m.endswith(".")
    # The token was not used up: with a matching CSR it works.
    key, pem, _ = new_csr("p256", SUB, tok_sans)
    t0 = time.time()
    leaf = api.issue(pem, tok)
    check_leaf(api, leaf, key, SUB, tok_sans, t0, time.time())


def test_cnf_binding(api):
    key, pem, der = new_csr()
    _, other_pem, other_der = new_csr()
    tok = api.prov.token(cnf=cnf_of(der))
    assert_error(api.sign(other_pem, tok), 403, contains="cnf")
    t0 = time.time()
    leaf = api.issue(pem, tok)
    check_leaf(api, leaf, key, SUB, [SUB], t0, time.time())
    # A cnf that is not a SHA-256 fingerprint, or another kind: refused.
    for cnf in ({"x5rt#S256": b64url(b"x" * 20)}, {"jkt": "abc"},
                {"x5rt#S256": cnf_of(der)["x5rt#S256"], "kid": "x"}):
        assert_error(api.sign(pem, api.prov.token(cnf=cnf)), 401,
                     UNAUTHORIZED)


def test_csr_rsa1024_400(api):
    _, pem, _ = new_csr("rsa1024")
    tok = api.prov.token()
    assert_error(api.sign(pem, tok), 400, BAD_REQUEST + "invalid csr.")
    _, pem, _ = new_csr()
    api.issue(pem, tok)


def test_csr_pem_variants_accepted(api):
    """CRLF line ends, the old "NEW CERTIFICATE REQUEST" label, no final
    newline: all read as Go's pem.Decode reads them."""
    key, pem, _ = new_csr()
    for variant in (pem.replace("\n", "\r\n"),
                    pem.replace("CERTIFICATE REQUEST",
                                "NEW CERTIFICATE REQUEST"),
                    pem.rstrip("\n")):
        t0 = time.time()
        leaf = api.issue(variant, api.prov.token())
        check_leaf(api, leaf, key, SUB, [SUB], t0, time.time())


def test_csr_not_a_csr_400(api):
    tok = api.prov.token()
    # A certificate where the CSR should be: not a CSR.
    assert_error(api.sign(api.ca.root_pem.read_text(), tok), 400)
    _, pem, _ = new_csr()
    api.issue(pem, tok)


def test_csr_bad_signature_400(api):
    _, pem, der = new_csr()
    bad = bytearray(der)
    bad[-3] ^= 0x01                 # inside the signature
    bad_pem = ("-----BEGIN CERTIFICATE REQUEST-----\n" +
               base64.encodebytes(bytes(bad)).decode() +
               "-----END CERTIFICATE REQUEST-----\n")
    tok = api.prov.token()
    assert_error(api.sign(bad_pem, tok), 400, BAD_REQUEST + "invalid csr.")
    api.issue(pem, tok)


# ------------------------------------------------------------ durations ----

def test_duration_too_long_and_too_short_403(api):
    _, pem, _ = new_csr()
    tok = api.prov.token()
    m = assert_error(api.sign(pem, tok, notAfter="25h"), 403,
                     contains="more than the authorized maximum")
    assert m.startswith(FORBIDDEN)
    assert_error(api.sign(pem, tok, notAfter="24h0m1s"), 403,
                 contains="more than the authorized maximum")
    m = assert_error(api.sign(pem, tok, notAfter="1m"), 403,
                     contains="less than the authorized minimum")
    assert m.startswith(FORBIDDEN)
    assert_error(api.sign(pem, tok, notAfter="3m59s"), 403,
                 contains="less than the authorized minimum")
    past = rfc3339(int(time.time()) - 3600)
    assert_error(api.sign(pem, tok, notAfter=past), 403)
    # Refusals used nothing up; the boundaries are inclusive.
    leaf = api.issue(pem, tok, notAfter="24h")
    assert leaf.not_valid_after - leaf.not_valid_before == \
        datetime.timedelta(hours=24, minutes=1)
    leaf = api.issue(pem, api.prov.token(), notAfter="4m")
    assert leaf.not_valid_after - leaf.not_valid_before == \
        datetime.timedelta(minutes=5)


def test_duration_1h(api):
    key, pem, _ = new_csr()
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(), notAfter="1h")
    check_leaf(api, leaf, key, SUB, [SUB], t0, time.time(),
               validity=datetime.timedelta(hours=1, minutes=1))
    leaf = api.issue(pem, api.prov.token(), notAfter="1h30m")
    assert leaf.not_valid_after - leaf.not_valid_before == \
        datetime.timedelta(hours=1, minutes=31)


def test_duration_rfc3339_exact(api):
    _, pem, _ = new_csr()
    now = int(time.time())
    for na, off in ((now + 7200, 0), (now + 5400, 330), (now + 3600, -300)):
        t0 = time.time()
        leaf = api.issue(pem, api.prov.token(), notAfter=rfc3339(na, off))
        assert ts(leaf.not_valid_after) == na, (rfc3339(na, off),
                                                leaf.not_valid_after)
        nb = ts(leaf.not_valid_before)
        assert int(t0) - 61 <= nb <= int(time.time()) - 59
    # notBefore given: used exactly, without the backdate.
    nb, na = now + 600, now + 7200
    leaf = api.issue(pem, api.prov.token(), notBefore=rfc3339(nb),
                     notAfter=rfc3339(na))
    assert (ts(leaf.not_valid_before), ts(leaf.not_valid_after)) == (nb, na)


def test_duration_invalid_refused_without_consuming(api):
    _, pem, _ = new_csr()
    tok = api.prov.token()
    for bad in ("tomorrow", "1y", "2026-13-01T00:00:00Z", "12"):
        r = api.sign(pem, tok, notAfter=bad)
        assert r.status in (400, 403), (bad, r)
        assert_error(r, r.status)
    api.issue(pem, tok)


def test_duration_relative_to_not_before(api):
    """step-ca: notBefore "1h", notAfter "2h" -> valid from now+1h for 2h
    (the CLI's --not-before/--not-after send exactly these strings)."""
    _, pem, _ = new_csr()
    t0 = int(time.time())
    r = api.sign(pem, api.prov.token(), notBefore="1h", notAfter="2h")
    assert r.status == 201, r
    leaf = split_pems(json_body(r)["crt"])[0]
    nb, na = ts(leaf.not_valid_before), ts(leaf.not_valid_after)
    assert t0 + 3600 - 1 <= nb <= int(time.time()) + 3600 + 1
    assert na - nb == 7200, (nb, na)


def test_default_duration_from_not_before(api):
    _, pem, _ = new_csr()
    nb = int(time.time()) + 7200
    r = api.sign(pem, api.prov.token(), notBefore=rfc3339(nb))
    assert r.status == 201, r
    leaf = split_pems(json_body(r)["crt"])[0]
    assert ts(leaf.not_valid_before) == nb
    assert ts(leaf.not_valid_after) == nb + 24 * 3600


# ----------------------------------------------------------- signer down ---

def timed_503(api, pem, tok):
    r = api.sign(pem, tok)
    assert_error(r, 503)
    assert r.elapsed < 1.0, f"503 took {r.elapsed:.3f} s"
    return r


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_signer_down_503_then_resumes(api, ca, how):
    key, pem, _ = new_csr()
    tok = api.prov.token()
    try:
        if how == "SIGKILL":
            ca.kill_signer()
        else:
            ca.stop()
        for _ in range(3):
            timed_503(api, pem, tok)
        time.sleep(0.3)             # past any reconnect back-off
        timed_503(api, pem, tok)
        assert ca.api_alive()
        # Unrelated routes are unaffected.
        assert api.get("/1.0/roots").status == 201
    finally:
        if not ca.alive():
            ca.stop()
            ca.start()
    # No restart of the front end: it reconnects by itself, and the very
    # same token (its jti given back after each 503) now works. The link
    # waits 200 ms after a failed connect before it tries again, so a
    # request in that window may still get a (fast) 503; none may get
    # anything else, and service must be back well within half a second.
    up = time.monotonic()
    while True:
        t0 = time.time()
        r = api.sign(pem, tok)
        if r.status != 503:
            break
        assert r.elapsed < 1.0
        assert time.monotonic() - up < 0.5, "no service 0.5 s after restart"
        time.sleep(0.02)
    assert r.status == 201, r
    leaf = split_pems(json_body(r)["crt"])[0]
    check_leaf(api, leaf, key, SUB, [SUB], t0, time.time())
    assert_error(api.sign(pem, tok), 401, UNAUTHORIZED)


def test_signer_hung_503_within_deadline(api, ca):
    """A signer that accepts but never answers (SIGSTOP) costs the
    request its deadline, not a hang; after SIGCONT service resumes."""
    key, pem, _ = new_csr()
    tok = api.prov.token()
    ca.proc.send_signal(signal.SIGSTOP)
    try:
        r = api.sign(pem, tok)
        assert_error(r, 503)
        assert r.elapsed < 2.5, f"503 took {r.elapsed:.3f} s"
    finally:
        ca.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 5
    while True:
        r = api.sign(pem, tok)
        if r.status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 201, r
    leaf = split_pems(json_body(r)["crt"])[0]
    verify_issued_by(leaf, api.inter)


def test_front_end_logs_no_secret(ca, api):
    """The front end's log names refusals but never carries a token or the
    provisioner password."""
    log = ca.api_stderr_text()
    assert "serving" in log
    assert ca.password_file.read_text().strip() not in log
    assert "eyJ" not in log                 # no JOSE header of any token
    assert api.prov.key.export_private(as_dict=True)["d"] not in log


# ------------------------------------------------ names, long and twice ----

LONG_LABEL = "a" * 63


@pytest.mark.parametrize("kind,name", [
    ("dns", "b" * 51 + ".example.com"),                      # 63 chars
    pytest.param("dns", "b" * 52 + ".example.com"),
    pytest.param("dns", ".".join([LONG_LABEL] * 3) + ".example.com",
                 ),
    pytest.param("uri", "spiffe://cluster.example.com/ns/production/sa/"
                 "payments-service-account"),
    pytest.param("email", "a-rather-long-mailbox-name-for-the-tests@"
                 "the-department.example.com"),
])
def test_sign_long_san_in_csr_and_token(api, kind, name):
    """The step CLI puts the token's SANs in its CSR; names up to 253
    characters (DNS) or longer (URI) are ordinary."""
    sans = [SUB, name]
    key, pem, _ = new_csr("p256", SUB, sans)
    r = api.sign(pem, api.prov.token(SUB, sans))
    assert r.status == 201, (len(name), r)
    leaf = split_pems(json_body(r)["crt"])[0]
    check_leaf(api, leaf, key, SUB, sans, time.time() - 5, time.time())


def test_sign_long_san_in_token_only(api):
    """The same long names without them in the CSR: issued (the failure
    above is the CSR comparison, not the certificate)."""
    names = [SUB, ".".join([LONG_LABEL] * 3) + ".example.com",
             "spiffe://cluster.example.com/ns/production/sa/payments-service-"
             "account"]
    key, pem, _ = new_csr("p256", SUB, None)
    t0 = time.time()
    leaf = api.issue(pem, api.prov.token(SUB, names))
    check_leaf(api, leaf, key, SUB, names, t0, time.time())


@pytest.mark.parametrize("csr_sans,tok_sans", [
    ([SUB], [SUB, SUB]),
    ([SUB, SUB], [SUB]),
], ids=["token_twice", "csr_twice"])
def test_sign_duplicate_sans_are_a_set(api, csr_sans, tok_sans):
    _, pem, _ = new_csr("p256", SUB, csr_sans)
    r = api.sign(pem, api.prov.token(SUB, tok_sans))
    assert r.status == 201, r


@pytest.mark.parametrize("name", ["\u00fcn\u00efcode.example.com",
                                  "user@ex\u00e4mple.com",
                                  "https://ex\u00e4mple.com/x"])
def test_sign_non_ascii_san_not_issued_as_ia5(api, name):
    _, pem, _ = new_csr("p256", None, None)
    r = api.sign(pem, api.prov.token(SUB, [SUB, name]))
    if r.status == 201:
        # Issued at all, it may not carry the UTF-8 bytes in an IA5String
        # (an IDNA / percent-encoded form would be another matter).
        leaf = split_pems(json_body(r)["crt"])[0]
        assert name.encode() not in leaf.tbs_certificate_bytes, \
            "UTF-8 bytes in an IA5String SAN"
    else:
        assert r.status in (400, 401, 403), r


# --------------------------------------------- request fields, strictly ----

@pytest.mark.parametrize("field,value", [("notAfter", 3600),
                                         ("notBefore", True),
                                         ("notAfter", {"d": "1h"})])
def test_sign_validity_field_not_a_string_400(api, field, value):
    _, pem, _ = new_csr()
    tok = api.prov.token()
    r = api.sign(pem, tok, **{field: value})
    assert r.status == 400, r
    api.issue(pem, tok)


def _normalised_times():
    """RFC 3339 look-alikes that timegm() would normalise to a time about
    two hours from now (well inside 5 min .. 24 h): minute 60, hour 24."""
    top = (int(time.time()) + 2 * 3600) // 3600 * 3600
    prev = datetime.datetime.utcfromtimestamp(top - 3600)
    day_before = datetime.datetime.utcfromtimestamp(top - 86400)
    out = [prev.strftime("%Y-%m-%dT%H:60:00Z")]
    if datetime.datetime.utcfromtimestamp(top).hour == 0:
        out.append(day_before.strftime("%Y-%m-%dT24:00:00Z"))
    else:
        out.append(prev.strftime("%Y-%m-%dT%H:59:60Z").replace(
            ":59:60Z", ":59:75Z"))
    return out


def test_sign_out_of_range_rfc3339_refused(api):
    _, pem, _ = new_csr()
    tok = api.prov.token()
    for bad in _normalised_times():
        r = api.sign(pem, tok, notAfter=bad)
        assert r.status in (400, 403), (bad, r)
    api.issue(pem, tok)


def test_sign_not_before_before_the_ca_refused_not_consumed(api):
    """A notBefore before the intermediate's own is not signed (the
    signer's guard refuses it); the token survives."""
    _, pem, _ = new_csr()
    tok = api.prov.token()
    before = ts(api.inter.not_valid_before) - 3600
    r = api.sign(pem, tok, notBefore=rfc3339(before), notAfter="1h")
    assert r.status in (400, 403), r
    assert_error(r, r.status)
    api.issue(pem, tok)


# ------------------------------------------------------ HTTP connections ---

def test_keep_alive_and_errors_on_one_connection(api):
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ctx,
                                    timeout=10)
    try:
        for i in range(3):
            key, pem, _ = new_csr()
            c.request("POST", "/1.0/sign", body=json.dumps(
                {"csr": pem, "ott": api.prov.token()}),
                headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            assert r.status == 201, body
            c.request("GET", "/nope")
            r = c.getresponse()
            assert r.status == 404 and r.read().endswith(b"}\n")
            c.request("POST", "/1.0/sign", body=b"{")
            r = c.getresponse()
            assert r.status == 400 and r.read().endswith(b"}\n")
            c.request("GET", "/health")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, b'{"status":"ok"}\n')
    finally:
        c.close()


def _read_responses(s, n, timeout=10):
    """n HTTP/1.1 responses (with Content-Length) read off socket s."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            assert d, f"connection closed after {len(out)} responses"
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = [int(l.split(b":", 1)[1]) for l in lines[1:]
                  if l.lower().startswith(b"content-length:")][0]
        while len(buf) < length:
            d = s.recv(65536)
            assert d, "connection closed inside a body"
            buf += d
        out.append((status, buf[:length]))
        buf = buf[length:]
    return out


def test_pipelined_requests_answered_in_order(api):
    _, pem, _ = new_csr()

    def post(tok):
        body = json.dumps({"csr": pem, "ott": tok}).encode()
        return (b"POST /1.0/sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n" +
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    get = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    s = tls_connect(api)
    try:
        s.sendall(post(api.prov.token()) + get + post("garbage") +
                  post(api.prov.token()) + get)
        res = _read_responses(s, 5)
    finally:
        s.close()
    assert [st for st, _ in res] == [201, 200, 401, 201, 200]
    assert res[1][1] == res[4][1] == b'{"status":"ok"}\n'
    a, b = (split_pems(json.loads(res[i][1])["crt"])[0] for i in (0, 3))
    assert a.serial_number != b.serial_number


def test_client_gone_before_reply(api, ca):
    """Clients that hang up while their certificate is being signed (the
    signer held still, so the reply comes after the hang-up) cost the
    front end nothing."""
    _, pem, _ = new_csr()
    body = json.dumps({"csr": pem, "ott": api.prov.token()}).encode()
    req = (b"POST /1.0/sign HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    ca.proc.send_signal(signal.SIGSTOP)
    try:
        socks = []
        for _ in range(4):
            s = tls_connect(api)
            s.sendall(req)
            socks.append(s)
        time.sleep(0.1)
        for s in socks:
            s.close()
        for _ in range(8):          # and some that hang up at once
            s = tls_connect(api)
            s.sendall(req)
            s.close()
        time.sleep(1.3)             # past the signer deadline
    finally:
        ca.proc.send_signal(signal.SIGCONT)
    assert ca.api_alive()
    assert api.get("/health").status == 200
    deadline = time.monotonic() + 3
    while True:
        _, pem, _ = new_csr()
        r = api.sign(pem, api.prov.token())
        if r.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 201, r


# ------------------------------------------------ other CA key types -------

@pytest.mark.parametrize("key_type,sigalg", [
    ("p384", x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384),
    ("rsa2048", x509.SignatureAlgorithmOID.RSA_WITH_SHA256),
    ("ed25519", x509.SignatureAlgorithmOID.ED25519),
])
def test_other_ca_key_types(tmp_path_factory, key_type, sigalg):
    """A CA whose root and intermediate are p384, rsa2048 or ed25519: the
    front end's TLS certificate and /sign's leaf are signed with the
    intermediate's algorithm and verify (python ssl, cryptography,
    openssl verify)."""
    home = tmp_path_factory.mktemp(f"api-{key_type}") / "home"
    c = ApiCA(home, free_port(), key_type)
    try:
        c.init(name=f"KT {key_type}")
        c.start()
        c.start_api()
        a = Api(c)
        assert a.inter.signature_algorithm_oid == sigalg
        s = tls_connect(a, host="localhost")
        tls_leaf = x509.load_der_x509_certificate(
            s.getpeercert(binary_form=True))
        s.close()
        assert tls_leaf.signature_algorithm_oid == sigalg
        verify_issued_by(tls_leaf, a.inter)
        for kind in ("p256", "rsa2048"):
            key, pem, _ = new_csr(kind, SUB, [SUB, "127.0.0.1"])
            t0 = time.time()
            r = a.sign(pem, a.prov.token(SUB, [SUB, "127.0.0.1"]))
            assert r.status == 201, r
            leaf = split_pems(json_body(r)["crt"])[0]
            assert leaf.signature_algorithm_oid == sigalg
            verify_issued_by(leaf, a.inter)
            nb = ts(leaf.not_valid_before)
            assert int(t0) - 61 <= nb <= int(time.time()) - 59
            v = openssl_verify(home.parent, c.root_pem, c.inter_pem, leaf)
            assert v.returncode == 0, v.stdout + v.stderr
    finally:
        c.cleanup()
    reports = c.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)
