"""Certificate lifecycle against a real CA: renew, rekey, revoke, the CRL
and OCSP, served by p11ca-api (HTTPS, and plain HTTP on insecureAddress)
over a real p11ca-signer on a fresh SoftHSM2 token.

The CA is made by `p11ca init --insecure-address 127.0.0.1:PORT2`, which
writes insecureAddress, crl, ocsp and aia into ca.json. Three provisioners
are added before the front end starts: the init one (admin, with
minTLSCertDuration 1s so that a 2-second certificate can be issued and let
expire), "afterexpiry" (allowRenewalAfterExpiry) and "norenew"
(disableRenewal).

Every answer is checked independently: certificates, CRLs and OCSP
responses with python3-cryptography (signatures verified with the
intermediate's key), and again with the real openssl command (`openssl
verify -crl_check`, `openssl ocsp`, which checks the response signature
and the nonce). Renewal tokens (x5cInsecure / x5c) are made with
python3-jwcrypto from the leaf's own key, revocation tokens from the JWK
provisioner's key. The store's file is read (read-only, sqlite3) only in
the crash test, to see that a certificate exists for a token whose answer
was lost.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import secrets
import signal
import socket
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import (AuthorityInformationAccessOID,
                                   ExtensionOID, NameOID)
from jwcrypto import jwk, jws

from api_fixtures import (DELETE, DER, PEM, KEYGEN, ApiCA, Provisioner,
                          client_context, free_port, https, jti_of,
                          make_csr, openssl_verify, split_pems,
                          verify_issued_by)
from conftest import _bin, run

PROV_EXT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
UNAUTHORIZED = ("The request lacked necessary authorization to be "
                "completed. Please see the certificate authority logs for "
                "more info.")
BAD_REQUEST = "The request could not be completed: "
KEY_COMPROMISE = 1
NOPASS = serialization.NoEncryption()
PKCS8 = serialization.PrivateFormat.PKCS8


# ------------------------------------------------------------- the CA ------

class LifecycleCA(ApiCA):
    """An ApiCA whose init passes --insecure-address, and whose front end
    can be killed (SIGKILL) and reloaded (SIGHUP)."""

    def __init__(self, home, port, plain_port):
        super().__init__(home, port)
        self.plain_port = plain_port
        self.db_path = None

    def init(self, name="Test Lifecycle"):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--key-type", self.key_type,
                 "--name", name, "--address", f"127.0.0.1:{self.port}",
                 "--insecure-address", f"127.0.0.1:{self.plain_port}"])
        self.init_output = r.stdout + r.stderr
        for p in (self.ca_json, self.conf, self.root_pem, self.inter_pem,
                  self.password_file):
            assert p.exists(), f"p11ca init did not write {p}"
        self.db_path = Path(self.config["db"]["dataSource"])

    def start_api(self, timeout=20):
        super().start_api(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.plain_port),
                                         timeout=2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, \
                    "plain listener never opened:\n" + self.api_stderr_text()
                assert self.api_alive(), self.api_stderr_text()
                time.sleep(0.02)

    def kill_api(self):
        """SIGKILL: a crash, not a shutdown."""
        assert self.api_alive()
        self.api_proc.send_signal(signal.SIGKILL)
        self.api_proc.wait(10)
        self.api_proc = None
        self._api_err.close()

    def restart_api(self):
        self.stop_api()
        self.start_api()

    def reload(self, timeout=10):
        """SIGHUP, then waits for the front end to say it reloaded."""
        before = self.api_stderr_text().count("p11ca-api: reloaded")
        os.kill(self.api_proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.api_stderr_text().count("p11ca-api: reloaded") <= before:
            assert self.api_alive(), self.api_stderr_text()
            assert time.monotonic() < deadline, \
                "p11ca-api did not reload:\n" + self.api_stderr_text()
            time.sleep(0.02)

    def edit_claims(self, name, claims):
        """Sets provisioner `name`'s claims in ca.json (None: removes)."""
        cfg = self.config
        for p in cfg["authority"]["provisioners"]:
            if p["name"] == name:
                if claims is None:
                    p.pop("claims", None)
                else:
                    p["claims"] = claims
                break
        else:
            raise AssertionError(f"no provisioner {name}")
        self.ca_json.write_text(json.dumps(cfg, indent="\t"))


class ExtraProvisioner(Provisioner):
    """A JWK provisioner this file adds to ca.json, key kept here."""

    def __init__(self, ca, name, key):
        self.name = name
        self.key = key
        self.kid = key.thumbprint()
        self.port = ca.port
        self.root_fp = hashlib.sha256(x509.load_pem_x509_certificate(
            ca.root_pem.read_bytes()).public_bytes(DER)).hexdigest()


def add_provisioner(ca, name, claims):
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = json.loads(key.export_public())
    pub.update(kid=key.thumbprint(), use="sig", alg="ES256")
    cfg = ca.config
    cfg["authority"]["provisioners"].append(
        {"type": "JWK", "name": name, "key": pub, "claims": claims})
    ca.ca_json.write_text(json.dumps(cfg, indent="\t"))
    return key


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    home = tmp_path_factory.mktemp("lifecycle") / "home"
    c = LifecycleCA(home, free_port(), free_port())
    try:
        c.init()
        c.edit_claims("admin", {"minTLSCertDuration": "1s"})
        c.after_key = add_provisioner(c, "afterexpiry", {
            "allowRenewalAfterExpiry": True, "minTLSCertDuration": "1s"})
        c.norenew_key = add_provisioner(c, "norenew",
                                        {"disableRenewal": True})
        c.start()
        c.start_api()
        yield c
    finally:
        c.cleanup()
    reports = c.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


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


# ------------------------------------------------------------- client ------

class Leaf:
    """An issued certificate, its key, and files for mTLS and openssl."""

    def __init__(self, api, key, cert, body=None):
        self.key, self.cert, self.body = key, cert, body
        d = api.dir / f"leaf-{cert.serial_number:x}"
        d.mkdir(exist_ok=True)
        self.key_path = d / "key.pem"
        self.key_path.write_bytes(key.private_bytes(PEM, PKCS8, NOPASS))
        self.cert_path = d / "cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(PEM))
        self.chain_path = d / "chain.pem"
        self.chain_path.write_bytes(cert.public_bytes(PEM) +
                                    api.inter.public_bytes(PEM))
        self.api = api

    @property
    def serial(self):
        return self.cert.serial_number

    @property
    def cn(self):
        return self.cert.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value

    def ctx(self):
        c = client_context(self.api.ca.root_pem)
        c.load_cert_chain(self.chain_path, self.key_path)
        return c

    def with_cert(self, cert):
        """The same key with another (renewed) certificate."""
        return Leaf(self.api, self.key, cert)


class Api:
    def __init__(self, ca, tmpdir):
        self.ca = ca
        self.port = ca.port
        self.plain = ca.plain_port
        self.dir = Path(tmpdir)
        self.ctx = client_context(ca.root_pem)
        self.prov = Provisioner(ca)
        self.after = ExtraProvisioner(ca, "afterexpiry", ca.after_key)
        self.norenew = ExtraProvisioner(ca, "norenew", ca.norenew_key)
        self.root = x509.load_pem_x509_certificate(ca.root_pem.read_bytes())
        self.inter = x509.load_pem_x509_certificate(
            ca.inter_pem.read_bytes())
        self.chain_path = self.dir / "cas.pem"     # root + intermediate
        self.chain_path.write_bytes(self.root.public_bytes(PEM) +
                                    self.inter.public_bytes(PEM))
        self.inter_path = self.dir / "intermediate.pem"
        self.inter_path.write_bytes(self.inter.public_bytes(PEM))
        self.serials = set()
        self.n = 0

    # --- HTTP ------------------------------------------------------------
    def req(self, method, path, body=None, ctx=None, **kw):
        return https(self.port, method, path, body=body,
                     ctx=ctx or self.ctx, **kw)

    def plain_req(self, method, path, body=None, headers=None, timeout=15):
        conn = http.client.HTTPConnection("127.0.0.1", self.plain,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return Resp2(r.status, dict((k.lower(), v)
                                        for k, v in r.getheaders()), data)
        finally:
            conn.close()

    # --- issuing ---------------------------------------------------------
    def name(self, tag="svc"):
        self.n += 1
        return f"{tag}{self.n}-{secrets.token_hex(3)}.example.com"

    def issue(self, cn=None, sans=None, prov=None, kind="p256", **extra):
        """A certificate from /sign, checked for shape; a Leaf."""
        cn = cn or self.name()
        sans = [cn, "10.9.8.7"] if sans is None else sans
        prov = prov or self.prov
        key = KEYGEN[kind]()
        pem, _ = make_csr(key, cn, sans)
        r = self.req("POST", "/1.0/sign",
                     {"csr": pem, "ott": prov.token(cn, sans), **extra})
        return Leaf(self, key, self.check_201(r), r.json())

    def check_201(self, r):
        """A 201 {crt, ca, certChain, tlsOptions}: the new leaf."""
        assert r.status == 201, r
        assert r.ctype == "application/json", r
        o = r.json()
        assert set(o) == {"crt", "ca", "certChain", "tlsOptions"}, o.keys()
        assert o["certChain"] == [o["crt"], o["ca"]]
        assert o["ca"] == self.ca.inter_pem.read_text()
        certs = split_pems(o["crt"])
        assert len(certs) == 1
        leaf = certs[0]
        verify_issued_by(leaf, self.inter)
        assert leaf.serial_number not in self.serials, "serial reused"
        self.serials.add(leaf.serial_number)
        return leaf

    # --- renew / rekey ---------------------------------------------------
    def renew_mtls(self, leaf, path="/1.0/renew", **kw):
        return self.req("POST", path, b"", ctx=leaf.ctx(), **kw)

    def renew_token(self, token, path="/1.0/renew", ctx=None):
        return self.req("POST", path, b"", ctx=ctx,
                        headers={"Authorization": "Bearer " + token})

    def x5c_token(self, leaf, header="x5cInsecure", chain=None, signer=None,
                  alg=None, **over):
        """A renewal token as step sends it: the leaf (and optionally the
        intermediate) in the protected header, signed by the leaf key."""
        now = int(time.time())
        claims = {"aud": f"https://127.0.0.1:{self.port}/1.0/renew",
                  "sub": leaf.cn, "iss": "step-ca-client/1.0",
                  "iat": now, "nbf": now, "exp": now + 300,
                  "jti": secrets.token_hex(16)}
        for k, v in over.items():
            if v is DELETE:
                claims.pop(k, None)
            else:
                claims[k] = v
        key = signer or leaf.key
        if alg is None:
            alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else {
                256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
        certs = chain if chain is not None else [leaf.cert]
        hdr = {"alg": alg, "typ": "JWT",
               header: [base64.b64encode(c.public_bytes(DER)).decode()
                        for c in certs]}
        s = jws.JWS(json.dumps(claims).encode())
        s.add_signature(jwk.JWK.from_pyca(key), None,
                        protected=json.dumps(hdr))
        return s.serialize(compact=True)

    def rekey(self, leaf, csr_pem, path="/1.0/rekey"):
        return self.req("POST", path, {"csr": csr_pem}, ctx=leaf.ctx())

    # --- revoke ----------------------------------------------------------
    def revoke_token(self, serial, prov=None, **over):
        prov = prov or self.prov
        c = prov.claims(str(serial), sans=DELETE,
                        aud=f"https://127.0.0.1:{self.port}/1.0/revoke")
        c.update(over)
        return prov.sign_claims(c)

    def revoke(self, serial, ott=None, ctx=None, reasonCode=None,
               reason=None, passive=True, path="/1.0/revoke", **extra):
        body = {"serial": str(serial)}
        if ott is not None:
            body["ott"] = ott
        if reasonCode is not None:
            body["reasonCode"] = reasonCode
        if reason is not None:
            body["reason"] = reason
        if passive is not None:
            body["passive"] = passive
        body.update(extra)
        return self.req("POST", path, body, ctx=ctx)

    def revoke_ok(self, leaf, reasonCode=KEY_COMPROMISE, reason="test"):
        r = self.revoke(leaf.serial, ott=self.revoke_token(leaf.serial),
                        reasonCode=reasonCode, reason=reason)
        assert r.status == 200, r
        assert r.json() == {"status": "ok"}, r
        return r

    # --- CRL -------------------------------------------------------------
    def crl(self, plain=True, path="/crl"):
        r = (self.plain_req("GET", path) if plain
             else self.req("GET", path))
        assert r.status == 200, r
        assert r.ctype == "application/pkix-crl", r
        crl = x509.load_der_x509_crl(r.body)
        assert crl.is_signature_valid(self.inter.public_key())
        assert crl.issuer == self.inter.subject
        return crl

    def wait_crl(self, pred, timeout=3):
        """Polls the plain /crl until pred(crl); the last one otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            crl = self.crl()
            if pred(crl) or time.monotonic() > deadline:
                return crl
            time.sleep(0.02)

    # --- OCSP ------------------------------------------------------------
    def ocsp_request(self, certs, nonce=None):
        b = ocsp.OCSPRequestBuilder()
        for c in certs:
            b = b.add_certificate(c, self.inter, hashes.SHA1())
        if nonce is not None:
            b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
        return b.build().public_bytes(DER)

    def ocsp_post(self, der, plain=True, path="/ocsp"):
        h = {"Content-Type": "application/ocsp-request"}
        if plain:
            r = self.plain_req("POST", path, der, headers=h)
        else:
            r = self.req("POST", path, der, headers=h)
        return r

    def ocsp_get(self, der, plain=True):
        path = "/ocsp/" + urllib.parse.quote(
            base64.b64encode(der).decode(), safe="")
        return self.plain_req("GET", path) if plain else self.req("GET", path)

    def ocsp_parse(self, r):
        """An OCSP answer: HTTP 200, application/ocsp-response, signed by
        the intermediate (responderID byKey) when successful."""
        assert r.status == 200, r
        assert r.ctype == "application/ocsp-response", r
        o = ocsp.load_der_ocsp_response(r.body)
        if o.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
            pub = self.inter.public_key()
            pub.verify(o.signature, o.tbs_response_bytes,
                       ec.ECDSA(o.signature_hash_algorithm))
            assert o.responder_key_hash == x509.SubjectKeyIdentifier \
                .from_public_key(pub).digest
        return o

    def ocsp_status(self, cert, nonce=None, plain=True):
        o = self.ocsp_parse(self.ocsp_post(
            self.ocsp_request([cert], nonce), plain))
        assert o.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, \
            o.response_status
        assert o.serial_number == cert.serial_number
        return o

    def openssl_ocsp(self, leaves=(), serials=(), nonce=True, plain=True,
                     check=True):
        args = ["openssl", "ocsp", "-issuer", self.inter_path,
                "-url", f"http://127.0.0.1:{self.plain}/ocsp" if plain
                else f"https://127.0.0.1:{self.port}/ocsp",
                "-CAfile", self.chain_path]
        for lf in leaves:
            args += ["-cert", lf.cert_path]
        for s in serials:
            args += ["-serial", s]
        if not nonce:
            args.append("-no_nonce")
        r = run(args, check=check, timeout=20)
        return r


class Resp2:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def ctype(self):
        return self.headers.get("content-type")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.ctype} {self.body[:300]!r}>"


@pytest.fixture(scope="module")
def api(ca, tmp_path_factory):
    return Api(ca, tmp_path_factory.mktemp("lc-files"))


def assert_error(r, status, contains=None, message=None):
    assert r.status == status, r
    assert r.ctype == "application/json", r
    o = r.json()
    assert set(o) == {"status", "message"}, o
    assert o["status"] == status, o
    if contains is not None:
        assert contains in o["message"], o["message"]
    if message is not None:
        assert o["message"] == message, o["message"]
    return o["message"]


def exts(cert, skip=()):
    """The extensions as (oid, critical, DER value), in order."""
    return [(e.oid.dotted_string, e.critical, e.value.public_bytes())
            for e in cert.extensions if e.oid not in skip]


def utc(dt):
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def openssl_status(r, path):
    """The status openssl ocsp printed for one -cert path (or serial)."""
    for line in r.stdout.splitlines():
        if line.startswith(f"{path}: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no status for {path}:\n{r.stdout}\n{r.stderr}")


def assert_same_identity(old, new):
    assert new.subject == old.subject
    assert new.issuer == old.issuer
    for cls in (x509.SubjectAlternativeName, x509.KeyUsage,
                x509.ExtendedKeyUsage):
        a = old.extensions.get_extension_for_class(cls)
        b = new.extensions.get_extension_for_class(cls)
        assert a == b, (cls, a, b)
    a = old.extensions.get_extension_for_oid(PROV_EXT_OID)
    b = new.extensions.get_extension_for_oid(PROV_EXT_OID)
    assert a.value.public_bytes() == b.value.public_bytes()
    assert a.critical == b.critical


def assert_renewal(old, new, t0, t1):
    """new renews old (same key), asked for between t0 and t1."""
    assert new.serial_number != old.serial_number
    assert_same_identity(old, new)
    assert new.public_key().public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        old.public_key().public_bytes(
            DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Every extension, byte for byte (same key: same SKI), each once.
    assert sorted(exts(new)) == sorted(exts(old))
    assert len({e[0] for e in exts(new)}) == len(exts(new))
    # Same duration, starting a minute back from now.
    assert (new.not_valid_after - new.not_valid_before ==
            old.not_valid_after - old.not_valid_before)
    nb = utc(new.not_valid_before)
    assert t0 - 62 <= nb <= t1 - 58, (t0, nb, t1)


# ------------------------------------------------------------- AIA/CDP -----

def assert_revocation_pointers(api, cert):
    plain = f"http://127.0.0.1:{api.plain}"
    cdp = cert.extensions.get_extension_for_class(
        x509.CRLDistributionPoints)
    assert not cdp.critical
    assert len(cdp.value) == 1
    dp = cdp.value[0]
    assert dp.full_name == [x509.UniformResourceIdentifier(plain + "/crl")]
    assert dp.relative_name is None and dp.reasons is None
    assert dp.crl_issuer is None
    aia = cert.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess)
    assert not aia.critical
    got = {(d.access_method, d.access_location) for d in aia.value}
    assert got == {
        (AuthorityInformationAccessOID.OCSP,
         x509.UniformResourceIdentifier(plain + "/ocsp")),
        (AuthorityInformationAccessOID.CA_ISSUERS,
         x509.UniformResourceIdentifier(plain + "/intermediate.crt"))}
    assert len(aia.value) == 2


def openssl_ext_text(path):
    return run(["openssl", "x509", "-in", path, "-noout", "-ext",
                "crlDistributionPoints,authorityInfoAccess"]).stdout


def test_ca_json_has_revocation_settings(ca):
    c = ca.config
    plain = f"127.0.0.1:{ca.plain_port}"
    assert c["insecureAddress"] == plain
    assert c["crl"]["enabled"] is True
    assert c["crl"]["idpURL"] == f"http://{plain}/crl"
    assert c["ocsp"]["url"] == f"http://{plain}/ocsp"
    assert c["aia"]["caIssuers"] == f"http://{plain}/intermediate.crt"
    # Go durations: 24h and 16h, 1h.
    assert c["crl"]["cacheDuration"] in ("24h", "24h0m0s")
    assert c["crl"]["renewPeriod"] in ("16h", "16h0m0s")
    assert c["ocsp"]["cacheDuration"] in ("1h", "1h0m0s")


def test_issued_certificate_names_crl_and_ocsp(api):
    lf = api.issue()
    assert_revocation_pointers(api, lf.cert)
    text = openssl_ext_text(lf.cert_path)
    assert f"URI:http://127.0.0.1:{api.plain}/crl" in text, text
    assert f"OCSP - URI:http://127.0.0.1:{api.plain}/ocsp" in text, text
    assert (f"CA Issuers - URI:http://127.0.0.1:{api.plain}"
            "/intermediate.crt") in text, text


def test_server_certificate_names_crl_and_ocsp(api, tmp_path):
    ctx = client_context(api.ca.root_pem)
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(True)
    cert = x509.load_der_x509_certificate(der)
    assert_revocation_pointers(api, cert)
    p = tmp_path / "server.pem"
    p.write_bytes(cert.public_bytes(PEM))
    assert f"URI:http://127.0.0.1:{api.plain}/crl" in openssl_ext_text(p)


def test_server_certificate_known_to_ocsp(api, tmp_path):
    """The front end's own certificate names this OCSP responder, so the
    responder must know it (an 'unknown' is a hard failure for clients
    that check OCSP)."""
    ctx = client_context(api.ca.root_pem)
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(True)
    cert = x509.load_der_x509_certificate(der)
    o = api.ocsp_status(cert)
    assert o.certificate_status == ocsp.OCSPCertStatus.GOOD, \
        f"OCSP says {o.certificate_status} for the API's own certificate"


@pytest.mark.parametrize("prefix", ["", "/1.0"])
def test_intermediate_crt_both_listeners(api, prefix):
    want = api.inter.public_bytes(DER)
    for r in (api.plain_req("GET", prefix + "/intermediate.crt"),
              api.req("GET", prefix + "/intermediate.crt")):
        assert r.status == 200, r
        assert r.body == want
        # RFC 5280 4.2.2.1: a single DER certificate is application/
        # pkix-cert.
        assert r.ctype == "application/pkix-cert", r


def test_plain_listener_serves_nothing_else(api):
    """Tokens and keys never travel over plain HTTP."""
    lf = api.issue()
    for method, path, body in (
            ("GET", "/health", None), ("GET", "/roots", None),
            ("GET", "/provisioners", None),
            ("POST", "/1.0/sign", json.dumps(
                {"csr": "x", "ott": api.prov.token()})),
            ("POST", "/1.0/revoke", json.dumps(
                {"serial": str(lf.serial),
                 "ott": api.revoke_token(lf.serial), "passive": True})),
            ("POST", "/1.0/renew", b"")):
        r = api.plain_req(method, path, body)
        assert r.status == 404, (path, r)
    # The revocation above did not happen.
    assert api.ocsp_status(lf.cert).certificate_status == \
        ocsp.OCSPCertStatus.GOOD


# ------------------------------------------------------------- renew -------

@pytest.mark.parametrize("path", ["/1.0/renew", "/renew"])
def test_renew_mtls(api, tmp_path, path):
    lf = api.issue(notAfter="1h")
    t0 = time.time()
    r = api.renew_mtls(lf, path)
    t1 = time.time()
    new = api.check_201(r)
    assert_renewal(lf.cert, new, t0, t1)
    assert r.json()["tlsOptions"] == lf.body["tlsOptions"]
    assert_revocation_pointers(api, new)
    v = openssl_verify(tmp_path, api.ca.root_pem, api.ca.inter_pem, new)
    assert v.returncode == 0, v.stdout + v.stderr
    # Both are good certificates of this CA now.
    for c in (lf.cert, new):
        assert api.ocsp_status(c).certificate_status == \
            ocsp.OCSPCertStatus.GOOD


def test_renew_rsa_leaf_by_token(api):
    lf = api.issue(kind="rsa2048")
    t0 = time.time()
    r = api.renew_token(api.x5c_token(lf))
    new = api.check_201(r)
    assert_renewal(lf.cert, new, t0, time.time())
    ku = new.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment and ku.digital_signature


@pytest.mark.parametrize("header,with_inter,aud_path", [
    ("x5cInsecure", False, "/1.0/renew"),
    ("x5cInsecure", True, "/renew"),
    ("x5c", False, "/1.0/renew"),
    ("x5c", True, "/1.0/renew"),
])
def test_renew_token(api, header, with_inter, aud_path):
    lf = api.issue(notAfter="30m")
    chain = [lf.cert, api.inter] if with_inter else [lf.cert]
    tok = api.x5c_token(lf, header=header, chain=chain,
                        aud=f"https://127.0.0.1:{api.port}{aud_path}")
    t0 = time.time()
    new = api.check_201(api.renew_token(tok))
    assert_renewal(lf.cert, new, t0, time.time())
    # The token is single use.
    assert_error(api.renew_token(tok), 401, message=UNAUTHORIZED)


def test_renew_chain_of_renewals(api):
    """A renewed certificate renews in its turn, by either form, with the
    first one's identity and duration."""
    lf = api.issue(notAfter="2h")
    cur = lf
    for i in range(4):
        t0 = time.time()
        r = (api.renew_mtls(cur) if i % 2 == 0
             else api.renew_token(api.x5c_token(cur)))
        new = api.check_201(r)
        assert_renewal(lf.cert, new, t0, time.time())
        cur = cur.with_cert(new)


def test_renew_without_credentials(api):
    for path in ("/1.0/renew", "/renew"):
        assert_error(api.req("POST", path, b""), 400,
                     contains="missing client certificate")


REFUSED_TOKENS = {
    "other_key": lambda api, lf: api.x5c_token(
        lf, signer=ec.generate_private_key(ec.SECP256R1())),
    "sub_not_cn": lambda api, lf: api.x5c_token(lf, sub="other.example.com"),
    "no_exp": lambda api, lf: api.x5c_token(lf, exp=DELETE),
    "lifetime_over_1h": lambda api, lf: api.x5c_token(
        lf, exp=int(time.time()) + 3700),
    "expired": lambda api, lf: api.x5c_token(
        lf, exp=int(time.time()) - 120, nbf=int(time.time()) - 200,
        iat=DELETE),
    "not_yet_valid": lambda api, lf: api.x5c_token(
        lf, nbf=int(time.time()) + 300, exp=int(time.time()) + 600),
    "iat_before_api_start": lambda api, lf: api.x5c_token(
        lf, iat=int(time.time()) - 3000, nbf=int(time.time()) - 10),
    "aud_sign": lambda api, lf: api.x5c_token(
        lf, aud=f"https://127.0.0.1:{api.port}/1.0/sign"),
    "aud_other_host": lambda api, lf: api.x5c_token(
        lf, aud=f"https://ca.example.com:{api.port}/1.0/renew"),
    "alg_none": lambda api, lf: ".".join([
        base64.urlsafe_b64encode(json.dumps(
            {"alg": "none", "x5cInsecure": [base64.b64encode(
                lf.cert.public_bytes(DER)).decode()]}).encode()).decode()
        .rstrip("="),
        api.x5c_token(lf).split(".")[1], ""]),
    "intermediate_first": lambda api, lf: api.x5c_token(
        lf, chain=[api.inter, lf.cert]),
    "empty_x5c": lambda api, lf: api.x5c_token(lf, chain=[]),
}


@pytest.mark.parametrize("case", sorted(REFUSED_TOKENS))
def test_renew_token_refused(api, case):
    lf = api.issue()
    tok = REFUSED_TOKENS[case](api, lf)
    assert_error(api.renew_token(tok), 401, message=UNAUTHORIZED)
    # Still renewable the right way.
    api.check_201(api.renew_token(api.x5c_token(lf)))


def test_renew_token_without_jti_is_single_use(api):
    """As step-ca: a token without jti is used up under its own hash."""
    lf = api.issue()
    tok = api.x5c_token(lf, jti=DELETE)
    api.check_201(api.renew_token(tok))
    assert_error(api.renew_token(tok), 401, message=UNAUTHORIZED)


def test_renew_token_wrong_scheme(api):
    lf = api.issue()
    tok = api.x5c_token(lf)
    r = api.req("POST", "/1.0/renew", b"",
                headers={"Authorization": "Basic " + tok})
    assert_error(r, 401)
    # A refused token is not consumed.
    api.check_201(api.renew_token(tok))


def test_renew_token_replayed_across_restart(api, ca):
    lf = api.issue()
    tok = api.x5c_token(lf)
    api.check_201(api.renew_token(tok))
    ca.restart_api()
    # (A token made before the restart is refused anyway for its iat; a
    # fresh one with the same jti shows the jti itself is remembered.)
    again = api.x5c_token(lf, jti=jti_of(tok))
    assert_error(api.renew_token(again), 401, message=UNAUTHORIZED)
    api.check_201(api.renew_token(api.x5c_token(lf)))


def make_foreign_ca(subject_of=None):
    """A CA made here in python; its subject is copied from subject_of
    (to impersonate our intermediate by name) when given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = subject_of.subject if subject_of is not None else x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Foreign CA")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(True, 0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def foreign_leaf(api, ca_key, ca_cert, like):
    """A leaf of the foreign CA copying `like`: serial, subject, SANs,
    validity; its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(like.cert.subject)
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(like.serial)
         .not_valid_before(like.cert.not_valid_before)
         .not_valid_after(like.cert.not_valid_after))
    for e in like.cert.extensions:
        if e.oid in (ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                     ExtensionOID.SUBJECT_KEY_IDENTIFIER):
            continue
        b = b.add_extension(e.value, e.critical)
    cert = b.sign(ca_key, hashes.SHA256())
    return Leaf(api, key, cert)


@pytest.mark.parametrize("impersonate", [False, True])
def test_renew_leaf_of_another_ca(api, impersonate):
    """A leaf of another CA, even one named like ours and carrying the
    serial of one of our certificates, renews nothing: not by token
    (401) and not by mTLS (the handshake refuses it)."""
    ours = api.issue()
    ca_key, ca_cert = make_foreign_ca(api.inter if impersonate else None)
    fake = foreign_leaf(api, ca_key, ca_cert, ours)
    for header in ("x5cInsecure", "x5c"):
        tok = api.x5c_token(fake, header=header,
                            chain=[fake.cert, ca_cert])
        assert_error(api.renew_token(tok), 401, message=UNAUTHORIZED)
    with pytest.raises((OSError, http.client.HTTPException)):
        api.renew_mtls(fake, timeout=5)
    # Ours is untouched.
    assert api.ocsp_status(ours.cert).certificate_status == \
        ocsp.OCSPCertStatus.GOOD


def test_renew_revoked_refused(api):
    lf = api.issue()
    api.revoke_ok(lf)
    assert_error(api.renew_mtls(lf), 401, message=UNAUTHORIZED)
    assert_error(api.renew_token(api.x5c_token(lf)), 401,
                 message=UNAUTHORIZED)


def test_renew_disabled_by_provisioner(api):
    lf = api.issue(prov=api.norenew)
    assert_error(api.renew_mtls(lf), 401, message=UNAUTHORIZED)
    assert_error(api.renew_token(api.x5c_token(lf)), 401,
                 message=UNAUTHORIZED)
    # Nor rekeyed.
    pem, _ = make_csr(KEYGEN["p256"](), lf.cn, [lf.cn])
    assert_error(api.rekey(lf, pem), 401, message=UNAUTHORIZED)


def test_renew_disabled_by_reload(api, ca):
    """disableRenewal is the provisioner's claim at renewal time: a
    SIGHUP that sets it stops renewals of certificates issued before."""
    lf = api.issue()
    api.check_201(api.renew_mtls(lf))
    try:
        ca.edit_claims("admin", {"minTLSCertDuration": "1s",
                                 "disableRenewal": True})
        ca.reload()
        assert_error(api.renew_mtls(lf), 401, message=UNAUTHORIZED)
        assert_error(api.renew_token(api.x5c_token(lf)), 401,
                     message=UNAUTHORIZED)
    finally:
        ca.edit_claims("admin", {"minTLSCertDuration": "1s"})
        ca.reload()
    api.check_201(api.renew_mtls(lf))


@pytest.fixture(scope="module")
def expired(api):
    """Two 2-second certificates (admin's and afterexpiry's), expired."""
    a = api.issue(notAfter="2s")
    b = api.issue(prov=api.after, notAfter="2s")
    for lf in (a, b):
        assert (lf.cert.not_valid_after - datetime.datetime.utcnow() <
                datetime.timedelta(seconds=3)), lf.cert.not_valid_after
    end = max(utc(a.cert.not_valid_after), utc(b.cert.not_valid_after))
    time.sleep(max(0, end - time.time()) + 1.2)
    return a, b


def test_renew_expired_refused(api, expired):
    lf, _ = expired
    assert_error(api.renew_token(api.x5c_token(lf)), 401,
                 message=UNAUTHORIZED)
    # x5c (not insecure) wants a leaf valid now anyway.
    assert_error(api.renew_token(api.x5c_token(lf, header="x5c")), 401,
                 message=UNAUTHORIZED)
    # mTLS with an expired certificate does not get past the handshake.
    with pytest.raises((OSError, http.client.HTTPException)):
        api.renew_mtls(lf, timeout=5)


def test_renew_expired_allowed_by_claim(api, expired):
    _, lf = expired
    t0 = time.time()
    new = api.check_201(api.renew_token(api.x5c_token(lf)))
    assert_renewal(lf.cert, new, t0, time.time())
    assert utc(new.not_valid_after) > t0
    # x5c (not insecure) still wants a leaf valid now.
    assert_error(api.renew_token(api.x5c_token(lf, header="x5c")), 401,
                 message=UNAUTHORIZED)


# ------------------------------------------------------------- rekey -------

@pytest.mark.parametrize("kind", ["p256", "p384", "rsa2048"])
def test_rekey(api, tmp_path, kind):
    lf = api.issue(notAfter="1h")
    newkey = KEYGEN[kind]()
    # The CSR's names do not matter: the stored certificate's do.
    pem, _ = make_csr(newkey, "whatever.example.org",
                      ["whatever.example.org"])
    t0 = time.time()
    r = api.rekey(lf, pem)
    new = api.check_201(r)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert new.public_key().public_bytes(DER, spki) == \
        newkey.public_key().public_bytes(DER, spki)
    assert new.subject == lf.cert.subject
    assert new.extensions.get_extension_for_class(
        x509.SubjectAlternativeName) == lf.cert.extensions \
        .get_extension_for_class(x509.SubjectAlternativeName)
    assert new.extensions.get_extension_for_oid(PROV_EXT_OID).value \
        .public_bytes() == lf.cert.extensions.get_extension_for_oid(
            PROV_EXT_OID).value.public_bytes()
    assert (new.not_valid_after - new.not_valid_before ==
            lf.cert.not_valid_after - lf.cert.not_valid_before)
    assert t0 - 62 <= utc(new.not_valid_before) <= time.time() - 58
    v = openssl_verify(tmp_path, api.ca.root_pem, api.ca.inter_pem, new)
    assert v.returncode == 0, v.stdout + v.stderr
    # The new key and certificate work for mTLS (renew with them).
    nlf = Leaf(api, newkey, new)
    t0 = time.time()
    again = api.check_201(api.renew_mtls(nlf))
    assert_renewal(new, again, t0, time.time())


def test_rekey_refusals(api):
    lf = api.issue()
    newkey = KEYGEN["p256"]()
    pem, der = make_csr(newkey, lf.cn, [lf.cn])
    # mTLS only: no client certificate, even with a renewal token.
    r = api.req("POST", "/1.0/rekey", {"csr": pem},
                headers={"Authorization": "Bearer " + api.x5c_token(lf)})
    assert_error(r, 400, contains="missing client certificate")
    assert_error(api.req("POST", "/rekey", {"csr": pem}), 400,
                 contains="missing client certificate")
    assert_error(api.rekey(lf, ""), 400)
    assert_error(api.req("POST", "/1.0/rekey", {}, ctx=lf.ctx()), 400)
    assert_error(api.req("POST", "/1.0/rekey", b"{", ctx=lf.ctx()), 400)
    # A CSR whose signature does not verify.
    bad = bytearray(der)
    bad[-5] ^= 0x40
    bad_pem = ("-----BEGIN CERTIFICATE REQUEST-----\n" +
               base64.encodebytes(bytes(bad)).decode() +
               "-----END CERTIFICATE REQUEST-----\n")
    assert_error(api.rekey(lf, bad_pem), 400)
    # Revoked: 401.
    api.revoke_ok(lf)
    assert_error(api.rekey(lf, pem), 401, message=UNAUTHORIZED)


# ------------------------------------------------------------- revoke ------

def test_revoke_by_token(api, tmp_path):
    good = api.issue()
    lf = api.issue()
    crl0 = api.crl()
    n0 = crl0.extensions.get_extension_for_class(x509.CRLNumber).value \
        .crl_number
    t0 = time.time()
    api.revoke_ok(lf, reasonCode=KEY_COMPROMISE, reason="lost laptop")
    t1 = time.time()
    # OCSP (python): revoked, at about now, keyCompromise.
    o = api.ocsp_status(lf.cert)
    assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert int(t0) - 1 <= utc(o.revocation_time) <= t1 + 1
    assert o.revocation_reason == x509.ReasonFlags.key_compromise
    assert api.ocsp_status(good.cert).certificate_status == \
        ocsp.OCSPCertStatus.GOOD
    # CRL: listed, a higher number, soon.
    crl = api.wait_crl(lambda c: c.get_revoked_certificate_by_serial_number(
        lf.serial) is not None)
    rc = crl.get_revoked_certificate_by_serial_number(lf.serial)
    assert rc is not None, "revoked serial not in the CRL within 3s"
    assert int(t0) - 1 <= utc(rc.revocation_date) <= t1 + 1
    assert rc.extensions.get_extension_for_class(x509.CRLReason).value \
        .reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(good.serial) is None
    n1 = crl.extensions.get_extension_for_class(x509.CRLNumber).value \
        .crl_number
    assert n1 > n0
    # The CRL and OCSP tell the same time.
    assert rc.revocation_date == o.revocation_time
    # openssl verify -crl_check: revoked fails, good passes.
    crl_pem = tmp_path / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(PEM))
    bad = run(["openssl", "verify", "-crl_check", "-CAfile", api.chain_path,
               "-CRLfile", crl_pem, lf.cert_path], check=False)
    assert bad.returncode != 0
    assert "certificate revoked" in bad.stdout + bad.stderr, bad
    ok = run(["openssl", "verify", "-crl_check", "-CAfile", api.chain_path,
              "-CRLfile", crl_pem, good.cert_path], check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith(": OK")
    # openssl ocsp: revoked with time and reason.
    r = api.openssl_ocsp([lf, good])
    assert "Response verify OK" in r.stderr + r.stdout, r
    assert openssl_status(r, lf.cert_path) == "revoked"
    assert openssl_status(r, good.cert_path) == "good"
    assert "Reason: keyCompromise" in r.stdout, r.stdout
    assert "Revocation Time:" in r.stdout, r.stdout


@pytest.mark.parametrize("code,flag", [
    (0, None), (2, x509.ReasonFlags.ca_compromise),
    (4, x509.ReasonFlags.superseded),
    (5, x509.ReasonFlags.cessation_of_operation),
    (6, x509.ReasonFlags.certificate_hold),
    (8, x509.ReasonFlags.remove_from_crl),
    (9, x509.ReasonFlags.privilege_withdrawn),
    (10, x509.ReasonFlags.aa_compromise)])
def test_revoke_reason_codes(api, code, flag):
    lf = api.issue()
    api.revoke_ok(lf, reasonCode=code)
    o = api.ocsp_status(lf.cert)
    assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
    if flag is not None:
        assert o.revocation_reason == flag
    else:
        assert o.revocation_reason in (None, x509.ReasonFlags.unspecified)
    crl = api.wait_crl(lambda c: c.get_revoked_certificate_by_serial_number(
        lf.serial) is not None)
    rc = crl.get_revoked_certificate_by_serial_number(lf.serial)
    assert rc is not None
    if flag is not None:
        assert rc.extensions.get_extension_for_class(x509.CRLReason) \
            .value.reason == flag


def test_revoke_by_mtls(api):
    lf = api.issue()
    other = api.issue()
    # Another serial than the client certificate's: 400.
    r = api.revoke(other.serial, ctx=lf.ctx())
    assert_error(r, 400)
    assert api.ocsp_status(other.cert).certificate_status == \
        ocsp.OCSPCertStatus.GOOD
    r = api.revoke(lf.serial, ctx=lf.ctx(), reasonCode=4, path="/revoke")
    assert r.status == 200 and r.json() == {"status": "ok"}, r
    o = api.ocsp_status(lf.cert)
    assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert o.revocation_reason == x509.ReasonFlags.superseded
    # Again, by the same means: already revoked.
    assert_error(api.revoke(lf.serial, ctx=lf.ctx()), 400,
                 contains="is already revoked")


def test_revoke_errors(api):
    lf = api.issue()
    tok = api.revoke_token(lf.serial)
    # Bad requests, all before the token is looked at.
    assert_error(api.req("POST", "/1.0/revoke", {"ott": tok}), 400)
    assert_error(api.req("POST", "/1.0/revoke", b"{"), 400)
    for code in (7, 11, -1):
        assert_error(api.revoke(lf.serial, ott=tok, reasonCode=code), 400)
    r = api.revoke(lf.serial, ott=tok, passive=False)
    assert r.status == 501, r
    assert_error(api.revoke(lf.serial), 400)               # no ott, no cert
    assert_error(api.revoke(lf.serial, ott=""), 400)
    # A token for another serial, another audience, a tampered one: 401.
    other = api.issue()
    assert_error(api.revoke(lf.serial, ott=api.revoke_token(other.serial)),
                 401, message=UNAUTHORIZED)
    assert_error(api.revoke(lf.serial, ott=api.prov.token(
        str(lf.serial), sans=DELETE)), 401, message=UNAUTHORIZED)
    # None of that revoked anything or consumed tok.
    for c in (lf.cert, other.cert):
        assert api.ocsp_status(c).certificate_status == \
            ocsp.OCSPCertStatus.GOOD
    r = api.revoke(lf.serial, ott=tok, reasonCode=1)
    assert r.status == 200 and r.json() == {"status": "ok"}, r
    # Replayed: 401.
    assert_error(api.revoke(lf.serial, ott=tok), 401, message=UNAUTHORIZED)
    # Already revoked: 400 that says so, with a fresh token.
    assert_error(api.revoke(lf.serial, ott=api.revoke_token(lf.serial)),
                 400, contains="is already revoked")
    # Unknown serial: 404.
    unknown = 0x1234567890abcdef1234567890abcdef
    assert_error(api.revoke(unknown, ott=api.revoke_token(unknown)), 404)


def test_revoke_refused_token_not_consumed(api):
    """A revoke token that is refused is not used up: 404 and 'already
    revoked' answers leave it good for a retry."""
    unknown = 0x7edcba9876543210fedcba9876543210
    tok = api.revoke_token(unknown)
    assert_error(api.revoke(unknown, ott=tok), 404)
    assert_error(api.revoke(unknown, ott=tok), 404)     # not 401
    lf = api.issue()
    api.revoke_ok(lf)
    tok = api.revoke_token(lf.serial)
    assert_error(api.revoke(lf.serial, ott=tok), 400,
                 contains="is already revoked")
    assert_error(api.revoke(lf.serial, ott=tok), 400,
                 contains="is already revoked")        # not 401
    # Refused for a wrong serial in the body, then used rightly.
    lf2 = api.issue()
    tok = api.revoke_token(lf2.serial)
    assert_error(api.revoke(lf.serial, ott=tok), 401)
    r = api.revoke(lf2.serial, ott=tok)
    assert r.status == 200, r


# ------------------------------------------------------------- CRL ---------

def crl_number(crl):
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value \
        .crl_number


@pytest.mark.parametrize("path", ["/crl", "/1.0/crl"])
def test_crl_formats(api, tmp_path, path):
    # Both listeners serve the same CRL (once no revocation of an earlier
    # test is still being folded in: unchanged for 0.3 s).
    last, since = None, time.monotonic()
    while time.monotonic() - since < 0.3:
        cur = api.crl(True, path).public_bytes(DER)
        if cur != last:
            last, since = cur, time.monotonic()
        time.sleep(0.02)
    assert api.crl(False, path).public_bytes(DER) == last
    der = {}
    for plain in (True, False):
        crl = api.crl(plain=plain, path=path)
        der[plain] = crl.public_bytes(DER)
        assert crl.next_update - crl.last_update == \
            datetime.timedelta(hours=24)
        # Made at most renewPeriod (16 h) ago, not in the future.
        assert time.time() - 16 * 3600 <= utc(crl.last_update) <= \
            time.time() + 5
        aki = crl.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier).value
        ski = api.inter.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        crl_number(crl)
    assert der[True] == der[False]
    # PEM by ?pem=true or by Accept, on both listeners.
    for r in (api.plain_req("GET", path + "?pem=true"),
              api.req("GET", path + "?pem=true"),
              api.plain_req("GET", path,
                            headers={"Accept": "application/x-pem-file"}),
              api.req("GET", path,
                      headers={"Accept": "application/x-pem-file"})):
        assert r.status == 200, r
        assert r.ctype == "application/x-pem-file", r
        assert r.body.startswith(b"-----BEGIN X509 CRL-----\n"), r
        assert r.body.endswith(b"-----END X509 CRL-----\n"), r
        pem_crl = x509.load_pem_x509_crl(r.body)
        assert pem_crl.public_bytes(DER) in der.values()
        p = tmp_path / "crl.pem"
        p.write_bytes(r.body)
        v = run(["openssl", "crl", "-in", p, "-noout", "-CAfile",
                 api.chain_path], check=False)
        assert "verify OK" in v.stdout + v.stderr, v


def test_crl_issuing_distribution_point(api):
    """crl.idpURL is, as in step-ca, the CRL's own Issuing Distribution
    Point (RFC 5280 5.2.5, critical): the URL the certificates name."""
    crl = api.crl()
    try:
        idp = crl.extensions.get_extension_for_class(
            x509.IssuingDistributionPoint)
    except x509.ExtensionNotFound:
        raise AssertionError("CRL has no IssuingDistributionPoint though "
                             "ca.json sets crl.idpURL") from None
    assert idp.critical
    assert idp.value.full_name == [x509.UniformResourceIdentifier(
        api.ca.config["crl"]["idpURL"])]
    assert not idp.value.only_contains_ca_certs
    assert not idp.value.indirect_crl


def test_crl_number_increases_with_each_revocation(api):
    n = crl_number(api.crl())
    leaves = [api.issue() for _ in range(3)]
    for lf in leaves:
        api.revoke_ok(lf)
        crl = api.wait_crl(
            lambda c: c.get_revoked_certificate_by_serial_number(lf.serial)
            is not None)
        assert crl.get_revoked_certificate_by_serial_number(lf.serial), \
            "revocation not in the CRL after 3s"
        m = crl_number(crl)
        assert m > n, (m, n)
        n = m
    # Three at once: all listed in the end, with a still higher number.
    more = [api.issue() for _ in range(3)]
    threads = [threading.Thread(target=api.revoke_ok, args=(lf,))
               for lf in more]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    crl = api.wait_crl(lambda c: all(
        c.get_revoked_certificate_by_serial_number(lf.serial)
        for lf in leaves + more))
    for lf in leaves + more:
        assert crl.get_revoked_certificate_by_serial_number(lf.serial)
    assert crl_number(crl) > n


def test_crl_number_persists_across_restart(api, ca):
    lf = api.issue()
    api.revoke_ok(lf)
    crl = api.wait_crl(lambda c: c.get_revoked_certificate_by_serial_number(
        lf.serial) is not None)
    n = crl_number(crl)
    ca.restart_api()
    after = api.crl()
    assert crl_number(after) >= n
    assert after.get_revoked_certificate_by_serial_number(lf.serial)
    lf2 = api.issue()
    api.revoke_ok(lf2)
    crl2 = api.wait_crl(
        lambda c: c.get_revoked_certificate_by_serial_number(lf2.serial)
        is not None)
    assert crl2.get_revoked_certificate_by_serial_number(lf2.serial)
    assert crl_number(crl2) > crl_number(after)
    assert crl2.get_revoked_certificate_by_serial_number(lf.serial)


def test_crl_after_restart_lists_revocation_made_while_signer_down(api, ca):
    """A revocation is durable (200) even when the CRL cannot be signed
    at that moment; the CRL served once the front end runs again lists
    it: the revocation, not the clock, makes the CRL stale."""
    lf = api.issue()
    ca.stop()                       # the signer
    try:
        api.revoke_ok(lf)
    finally:
        ca.start()
    # OCSP needs the signer, which is back (once the link is up again).
    o = wait_signing(api, lf.cert)
    assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
    ca.restart_api()
    crl = api.wait_crl(lambda c: c.get_revoked_certificate_by_serial_number(
        lf.serial) is not None)
    assert crl.get_revoked_certificate_by_serial_number(lf.serial), \
        "CRL served after restart omits a revocation OCSP reports"


def wait_signing(api, cert, timeout=15):
    """Polls OCSP for cert until the front end can sign again (after the
    signer came back); the successful answer."""
    deadline = time.monotonic() + timeout
    while True:
        o = api.ocsp_parse(api.ocsp_post(api.ocsp_request([cert])))
        if o.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
            return o
        assert o.response_status == ocsp.OCSPResponseStatus.TRY_LATER
        assert time.monotonic() < deadline, "the signer link never came back"
        time.sleep(0.05)


# ------------------------------------------------------------- OCSP --------

def test_ocsp_openssl_good_revoked_unknown(api):
    good = api.issue()
    bad = api.issue()
    api.revoke_ok(bad, reasonCode=KEY_COMPROMISE)
    for plain in (True, False):
        for nonce in (True, False):
            r = api.openssl_ocsp([good, bad], serials=["0x1234"],
                                 nonce=nonce, plain=plain)
            out = r.stdout + r.stderr
            assert "Response verify OK" in out, out
            assert "WARNING" not in out, out        # nonce echoed
            assert openssl_status(r, good.cert_path) == "good"
            assert openssl_status(r, bad.cert_path) == "revoked"
            assert openssl_status(r, "0x1234") == "unknown"
            assert "Reason: keyCompromise" in r.stdout
            assert "Revocation Time:" in r.stdout
            assert "This Update:" in r.stdout and "Next Update:" in r.stdout


def test_ocsp_python_nonce_and_fields(api):
    lf = api.issue()
    for plain in (True, False):
        nonce = secrets.token_bytes(16)
        t0 = time.time()
        o = api.ocsp_status(lf.cert, nonce=nonce, plain=plain)
        assert o.certificate_status == ocsp.OCSPCertStatus.GOOD
        got = o.extensions.get_extension_for_class(x509.OCSPNonce).value
        assert got.nonce == nonce
        assert o.next_update - o.this_update == datetime.timedelta(hours=1)
        assert abs(utc(o.this_update) - t0) < 5
        assert abs(utc(o.produced_at) - t0) < 5
        assert o.issuer_key_hash == hashlib.sha1(
            api.inter.public_key().public_bytes(
                DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            [-65:]).digest()


def test_ocsp_sha256_certid(api):
    good = api.issue()
    bad = api.issue()
    api.revoke_ok(bad)
    for lf, st in ((good, ocsp.OCSPCertStatus.GOOD),
                   (bad, ocsp.OCSPCertStatus.REVOKED)):
        der = (ocsp.OCSPRequestBuilder()
               .add_certificate(lf.cert, api.inter, hashes.SHA256())
               .build().public_bytes(DER))
        o = api.ocsp_parse(api.ocsp_post(der))
        assert o.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert isinstance(o.hash_algorithm, hashes.SHA256)
        assert o.serial_number == lf.serial
        assert o.certificate_status == st


def test_ocsp_get(api):
    good = api.issue()
    bad = api.issue()
    api.revoke_ok(bad)
    for plain in (True, False):
        for lf, st in ((good, ocsp.OCSPCertStatus.GOOD),
                       (bad, ocsp.OCSPCertStatus.REVOKED)):
            o = api.ocsp_parse(api.ocsp_get(api.ocsp_request([lf.cert]),
                                            plain))
            assert o.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
            assert o.serial_number == lf.serial
            assert o.certificate_status == st


def test_ocsp_high_bit_serials(api):
    """Serials whose top bit is set (a 17-octet DER INTEGER) are looked
    up like the others."""
    seen = 0
    for _ in range(40):
        lf = api.issue()
        if lf.serial.bit_length() == 128:
            seen += 1
            assert api.ocsp_status(lf.cert).certificate_status == \
                ocsp.OCSPCertStatus.GOOD
            r = api.openssl_ocsp([lf])
            assert openssl_status(r, lf.cert_path) == "good"
            if seen == 2:
                break
    assert seen, "no high-bit serial in 40 certificates"


def test_ocsp_cached_answer_dropped_on_revocation(api):
    lf = api.issue()
    der = api.ocsp_request([lf.cert])           # no nonce: cacheable
    first = api.ocsp_parse(api.ocsp_post(der))
    second = api.ocsp_parse(api.ocsp_post(der))
    assert first.certificate_status == second.certificate_status == \
        ocsp.OCSPCertStatus.GOOD
    api.revoke_ok(lf)
    # At once, no polling: the very next answer says revoked.
    for plain in (True, False):
        o = api.ocsp_parse(api.ocsp_post(der, plain))
        assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
        o = api.ocsp_parse(api.ocsp_get(der, plain))
        assert o.certificate_status == ocsp.OCSPCertStatus.REVOKED
    r = api.openssl_ocsp([lf], nonce=False)
    assert openssl_status(r, lf.cert_path) == "revoked"


@pytest.mark.parametrize("plain", [True, False])
def test_ocsp_malformed(api, plain):
    lf = api.issue()
    good = api.ocsp_request([lf.cert])
    bodies = [b"\x30\x03\x02\x01\x01", b"not der at all", good[:-3],
              good + b"\x00", b"\x30\x00"]
    for body in bodies:
        o = api.ocsp_parse(api.ocsp_post(body, plain))
        assert o.response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST, body
    for path in ("/ocsp/!!!!", "/ocsp/" + urllib.parse.quote(
            base64.b64encode(b"junk").decode(), safe="")):
        r = api.plain_req("GET", path) if plain else api.req("GET", path)
        o = api.ocsp_parse(r)
        assert o.response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST, path
    # Only another issuer's certificate: not ours to answer.
    ca_key, ca_cert = make_foreign_ca()
    foreign = foreign_leaf(api, ca_key, ca_cert, lf)
    der = (ocsp.OCSPRequestBuilder()
           .add_certificate(foreign.cert, ca_cert, hashes.SHA1()).build()
           .public_bytes(DER))
    o = api.ocsp_parse(api.ocsp_post(der, plain))
    assert o.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    # The responder is still fine.
    assert api.ocsp_status(lf.cert, plain=plain).certificate_status == \
        ocsp.OCSPCertStatus.GOOD


# ------------------------------------------------------------- races -------

class Call:
    """One request on a connection made (TLS handshake done) in advance,
    fired by fire(); the answer or the exception is kept."""

    def __init__(self, api, method, path, body=b"", ctx=None, headers=None):
        self.api, self.method, self.path = api, method, path
        self.body = json.dumps(body).encode() if isinstance(body, dict) \
            else body
        self.headers = dict(headers or {})
        if isinstance(body, dict):
            self.headers["Content-Type"] = "application/json"
        self.conn = http.client.HTTPSConnection(
            "127.0.0.1", api.port, context=ctx or api.ctx, timeout=20)
        self.conn.connect()
        self.status = self.data = self.error = None
        self.sent = self.done = None

    def fire(self, barrier=None, started=None):
        try:
            if barrier is not None:
                barrier.wait()
            if getattr(self, "delay", 0):
                time.sleep(self.delay)
            self.sent = time.monotonic()
            self.conn.request(self.method, self.path, body=self.body,
                              headers=self.headers)
            r = self.conn.getresponse()
            self.data = r.read()
            self.status = r.status
        except Exception as e:     # noqa: BLE001 (kept and looked at)
            self.error = e
        finally:
            self.done = time.monotonic()
            self.conn.close()
            if started is not None:
                started.set()

    def json(self):
        return json.loads(self.data)


def run_all(calls, on_first=None):
    barrier = threading.Barrier(len(calls))
    first = threading.Event()
    threads = [threading.Thread(target=c.fire, args=(barrier, first))
               for c in calls]
    for t in threads:
        t.start()
    if on_first is not None:
        first.wait(20)
        on_first()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a request never ended"


def cert_of(api, call):
    """The leaf of a 201 a Call got (kept for the audit check)."""
    cert = split_pems(call.json()["crt"])[0]
    api.serials.add(cert.serial_number)
    return cert


def test_revocation_racing_renewal(api):
    """For each of N certificates a renewal (mTLS) and a revocation are
    fired at the same moment. Whatever the order, the revocation wins
    for good: the old certificate is revoked, a renewal that got 201
    holds a good certificate of the same identity that was asked for
    before the revocation was answered, every other renewal got 401, and
    any renewal asked after the revocation's answer is 401."""
    N = 24
    leaves = [api.issue() for _ in range(N)]
    renews, revokes = [], []
    for i, lf in enumerate(leaves):
        # Half by mTLS, half by token; the revocations sent 0 to 7 ms
        # after the renewals, so that some land while a renewal is being
        # signed (past its first look at the store, before its commit).
        if i % 2:
            renews.append(Call(api, "POST", "/1.0/renew", b"", headers={
                "Authorization": "Bearer " + api.x5c_token(lf)}))
        else:
            renews.append(Call(api, "POST", "/1.0/renew", b"",
                               ctx=lf.ctx()))
        c = Call(api, "POST", "/1.0/revoke",
                 {"serial": str(lf.serial),
                  "ott": api.revoke_token(lf.serial),
                  "reasonCode": KEY_COMPROMISE, "passive": True})
        c.delay = (i // 2 % 8) / 1000
        revokes.append(c)
    calls = [c for pair in zip(renews, revokes) for c in pair]
    run_all(calls)
    won = 0
    for lf, rn, rv in zip(leaves, renews, revokes):
        assert rv.error is None and rv.status == 200, (rv.status, rv.data,
                                                       rv.error)
        assert rn.error is None, rn.error
        assert rn.status in (201, 401), (rn.status, rn.data)
        if rn.status == 201:
            won += 1
            new = cert_of(api, rn)
            verify_issued_by(new, api.inter)
            assert_same_identity(lf.cert, new)
            # Asked for before the revocation was answered.
            assert rn.sent < rv.done, "renewal of a revoked certificate"
            assert api.ocsp_status(new).certificate_status == \
                ocsp.OCSPCertStatus.GOOD
        else:
            assert json.loads(rn.data)["message"] == UNAUTHORIZED
        assert api.ocsp_status(lf.cert).certificate_status == \
            ocsp.OCSPCertStatus.REVOKED
    # After every revocation has been answered: no renewal, either form.
    late = [Call(api, "POST", "/1.0/renew", b"", ctx=lf.ctx())
            for lf in leaves]
    late += [Call(api, "POST", "/1.0/renew", b"", headers={
        "Authorization": "Bearer " + api.x5c_token(lf)}) for lf in leaves]
    run_all(late)
    for c in late:
        assert c.error is None and c.status == 401, (c.status, c.data,
                                                     c.error)
    # The CRL lists every old serial and no new one.
    olds = {lf.serial for lf in leaves}
    crl = api.wait_crl(lambda c: all(
        c.get_revoked_certificate_by_serial_number(s) for s in olds))
    for s in olds:
        assert crl.get_revoked_certificate_by_serial_number(s), hex(s)
    for rn in renews:
        if rn.status == 201:
            assert crl.get_revoked_certificate_by_serial_number(
                cert_of(api, rn).serial_number) is None
    print(f"race: {won} of {N} renewals landed before their revocation")


def test_revocation_racing_many_renewals_of_one_certificate(api):
    """Many renewals of one certificate in flight while it is revoked:
    each got 201 (and a good certificate) or 401, and none asked for
    after the revocation's answer got 201."""
    lf = api.issue()
    renews = [Call(api, "POST", "/1.0/renew", b"", ctx=lf.ctx())
              for _ in range(16)]
    rv = Call(api, "POST", "/1.0/revoke",
              {"serial": str(lf.serial), "ott": api.revoke_token(lf.serial),
               "passive": True})
    calls = renews[:8] + [rv] + renews[8:]
    run_all(calls)
    assert rv.status == 200, (rv.status, rv.data, rv.error)
    for rn in renews:
        assert rn.error is None and rn.status in (201, 401), \
            (rn.status, rn.data, rn.error)
        if rn.status == 201:
            assert rn.sent < rv.done
            new = cert_of(api, rn)
            assert api.ocsp_status(new).certificate_status == \
                ocsp.OCSPCertStatus.GOOD
    assert_error(api.renew_mtls(lf), 401)


# ------------------------------------------------------------- crash -------

def db_certs_with_jti(ca, jti):
    con = sqlite3.connect(f"file:{ca.db_path}?mode=ro", uri=True,
                          timeout=10)
    try:
        return [r[0] for r in con.execute(
            "SELECT serial FROM certs WHERE jti = ?", (jti,))]
    finally:
        con.close()


class Crash:
    pass


@pytest.fixture(scope="module")
def crash(api, ca):
    """SIGKILL the front end while signings, renewals and revocations are
    in flight (at the first answer), then start it again. The tests below
    check that the store is consistent with every answer a client got and
    that unanswered requests can be retried; they run in this order (the
    CRL one before any retried revocation makes a new CRL)."""
    k = Crash()
    k.crl_before = crl_number(api.crl())
    # Tokens made before a restart are refused for their iat (as step-ca
    # does): these say iat 20 s ahead (within the leeway), so that after
    # the restart only their jti can refuse them.
    iat = int(time.time()) + 20
    k.renew_leaves = [api.issue() for _ in range(12)]
    k.revoke_leaves = [api.issue() for _ in range(12)]
    k.signs = []
    for _ in range(40):
        cn = api.name("crash")
        key = KEYGEN["p256"]()
        pem, _ = make_csr(key, cn, [cn])
        tok = api.prov.token(cn, [cn], iat=iat)
        c = Call(api, "POST", "/1.0/sign", {"csr": pem, "ott": tok})
        c.key, c.csr, c.tok, c.cn = key, pem, tok, cn
        k.signs.append(c)
    k.renews = [Call(api, "POST", "/1.0/renew", b"", ctx=lf.ctx())
                for lf in k.renew_leaves]
    k.revokes = []
    for lf in k.revoke_leaves:
        tok = api.revoke_token(lf.serial, iat=iat)
        c = Call(api, "POST", "/1.0/revoke",
                 {"serial": str(lf.serial), "ott": tok, "reasonCode": 1,
                  "passive": True})
        c.tok = tok
        k.revokes.append(c)
    k.calls = []
    for i in range(40):
        k.calls.append(k.signs[i])
        if i < 12:
            k.calls += [k.renews[i], k.revokes[i]]
    def kill():
        # The signer's monitor stops first, so that what is still being
        # signed stays unanswered however fast this machine is; then the
        # front end dies, and the signer goes on.
        os.kill(ca.proc.pid, signal.SIGSTOP)
        try:
            ca.kill_api()
        finally:
            os.kill(ca.proc.pid, signal.SIGCONT)
    run_all(k.calls, on_first=kill)
    print("crash: unanswered sign %d/40, renew %d/12, revoke %d/12" % (
        sum(c.status is None for c in k.signs),
        sum(c.status is None for c in k.renews),
        sum(c.status is None for c in k.revokes)))
    ca.start_api()
    return k


def test_crash_answers_before_it(crash):
    k = crash
    lost = [c for c in k.calls if c.status is None]
    assert lost, "every request was answered before the kill"
    for c in k.calls:
        assert c.status in (None, 200, 201), (c.path, c.status, c.data)


def test_crash_every_answer_is_durable(api, crash):
    k = crash
    # Every 201 is a certificate the store knows, good.
    for c in k.signs + k.renews:
        if c.status == 201:
            cert = cert_of(api, c)
            assert api.ocsp_status(cert).certificate_status == \
                ocsp.OCSPCertStatus.GOOD, c.path
    # Every 200 revocation is revoked.
    for lf, c in zip(k.revoke_leaves, k.revokes):
        if c.status == 200:
            assert api.ocsp_status(lf.cert).certificate_status == \
                ocsp.OCSPCertStatus.REVOKED


def test_crash_crl_lists_every_revocation(api, crash):
    """The CRL served after the restart lists every revocation OCSP
    reports (revocations committed before the kill whose new CRL was not
    yet stored included), its number not lower than before."""
    k = crash
    revoked = [lf.serial for lf in k.revoke_leaves
               if api.ocsp_status(lf.cert).certificate_status ==
               ocsp.OCSPCertStatus.REVOKED]
    crl = api.wait_crl(lambda c: all(
        c.get_revoked_certificate_by_serial_number(s) for s in revoked))
    assert crl_number(crl) >= k.crl_before
    missing = [hex(s) for s in revoked
               if crl.get_revoked_certificate_by_serial_number(s) is None]
    assert not missing, (f"CRL #{crl_number(crl)} served after the crash "
                         f"omits {len(missing)} of the {len(revoked)} "
                         f"revocations OCSP reports: {missing}")


def test_crash_sign_retry(api, ca, crash):
    """An unanswered /sign retried with its token succeeds, or is refused
    as used, and then the first attempt's certificate exists: one
    certificate per token in either case."""
    k = crash
    for c in k.signs:
        if c.status is not None:
            continue
        r = api.req("POST", "/1.0/sign", {"csr": c.csr, "ott": c.tok})
        assert r.status in (201, 401), r
        stored = db_certs_with_jti(ca, jti_of(c.tok))
        assert len(stored) == 1, (r, stored)
        if r.status == 201:
            cert = api.check_201(r)
            assert int(stored[0], 16) == cert.serial_number
        cert = x509.load_der_x509_certificate(bytes(sqlite_der(ca,
                                                               stored[0])))
        assert cert.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value == c.cn
        assert api.ocsp_status(cert).certificate_status == \
            ocsp.OCSPCertStatus.GOOD


def test_crash_renew_retry(api, crash):
    """Every renewal, answered or not, works again by mTLS."""
    for lf in crash.renew_leaves:
        t0 = time.time()
        new = api.check_201(api.renew_mtls(lf))
        assert_renewal(lf.cert, new, t0, time.time())


def test_crash_revoke_retry(api, crash):
    """An unanswered revocation retried with its token revokes, or finds
    its token used (and then the certificate is revoked); the CRL then
    lists them all."""
    k = crash
    retried = 0
    for lf, c in zip(k.revoke_leaves, k.revokes):
        if c.status is not None:
            continue
        r = api.revoke(lf.serial, ott=c.tok, reasonCode=1)
        assert r.status in (200, 401), r
        retried += r.status == 200
        assert api.ocsp_status(lf.cert).certificate_status == \
            ocsp.OCSPCertStatus.REVOKED
    if not retried:
        return
    # A retry revoked something: the CRL it made lists every revocation.
    crl = api.wait_crl(lambda c: all(
        c.get_revoked_certificate_by_serial_number(lf.serial)
        for lf in k.revoke_leaves))
    missing = [hex(lf.serial) for lf in k.revoke_leaves
               if crl.get_revoked_certificate_by_serial_number(lf.serial)
               is None]
    assert not missing, f"CRL omits revoked {missing}"


def sqlite_der(ca, serial):
    con = sqlite3.connect(f"file:{ca.db_path}?mode=ro", uri=True,
                          timeout=10)
    try:
        return con.execute("SELECT der FROM certs WHERE serial = ?",
                           (serial,)).fetchone()[0]
    finally:
        con.close()


# ------------------------------------------------------------- audit -------

def test_audit_log_covers_every_certificate(api, ca):
    """Last: the signer's audit chain is intact after all of the above
    (crash included) and names every certificate a client received, and
    the CRLs."""
    r = run([_bin("p11ca"), "audit", "verify", ca.audit], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    x509_serials, crls = set(), 0
    for line in ca.audit.read_text().splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if f.get("kind") == "x509" and f.get("result") == "signed":
            # (The INTEGER's content octets: 00 first for a high bit.)
            x509_serials.add(int(f["serial"], 16))
        crls += f.get("kind") == "crl" and f.get("result") == "signed"
    missing = [s for s in api.serials if s not in x509_serials]
    assert not missing, [hex(s) for s in missing]
    assert crls >= 1
