"""p11ca's SSH certificate authority against live processes: `p11ca init
--create-token --ssh [--ssh-key-type T] --insecure-address ...` into a
temporary home, a real p11ca-signer holding the SSH CA keys in SoftHSM2,
and p11ca-api on free loopback ports.

Every certificate is checked twice, independently: with the real
`ssh-keygen -L` (which verifies the CA's signature as it parses) and by
reading the wire format here (PROTOCOL.certkeys) and verifying the
signature with python3-cryptography against the CA key of the .pub file
`p11ca init` wrote. KRLs are checked with `ssh-keygen -Q`, known_hosts
lines with `ssh-keygen -F`. Tokens are minted here: JWK tokens from the
provisioner's own key (decrypted from ca.json), SSHPOP tokens (a JWS with
the certificate in its "sshpop" header) from the certified key, with
python3-jwcrypto.

Expectations are step-ca's wire behaviour (api/ssh.go, provisioner/jwk.go,
provisioner/sshpop.go) or one of p11ca's documented departures
(docs/decisions.md, docs/ssh.md).

Three CAs are made, one per SSH CA key type (p256, the main one, ed25519,
rsa2048); the tests that are about the CA key run on each, the rest on
the main one.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import struct
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (dsa, ec, ed25519,
                                                       padding, rsa)
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)
from jwcrypto import jwk, jws

from api_fixtures import (DELETE, PEM, ApiCA, Provisioner, b64url,
                          client_context, free_port, https, make_csr,
                          split_pems)
from conftest import _bin, run

UNAUTHORIZED = ("The request lacked necessary authorization to be "
                "completed. Please see the certificate authority logs for "
                "more info.")
BAD_REQUEST = "The request could not be completed: "
FORBIDDEN = "The request was forbidden by the certificate authority: "
USER, HOST = 1, 2
HOUR = 3600
DAY = 24 * HOUR
BACKDATE = 60
USER_EXTENSIONS = ["permit-X11-forwarding", "permit-agent-forwarding",
                   "permit-port-forwarding", "permit-pty", "permit-user-rc"]
CA_TYPES = ["p256", "ed25519", "rsa2048"]
NOPASS = serialization.NoEncryption()
OPENSSH = serialization.Encoding.OpenSSH
ENV_UTC = dict(os.environ, TZ="UTC")


# ------------------------------------------------------------ SSH wire -----

def pack_str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def pack_mpint(n):
    if n == 0:
        return pack_str(b"")
    b = n.to_bytes((n.bit_length() + 8) // 8, "big")
    return pack_str(b)


class Reader:
    def __init__(self, b):
        self.b, self.o = bytes(b), 0

    def take(self, n):
        assert self.o + n <= len(self.b), "truncated SSH wire data"
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def string(self):
        return self.take(self.u32())

    def mpint(self):
        b = self.string()
        if b:
            assert not (b[0] == 0 and (len(b) == 1 or b[1] < 0x80)), \
                "mpint not minimal"
            assert b[0] < 0x80, "negative mpint"
        return int.from_bytes(b, "big")

    def done(self):
        assert self.o == len(self.b), \
            f"{len(self.b) - self.o} bytes trail the SSH structure"


def strings_of(b):
    r, out = Reader(b), []
    while r.o < len(r.b):
        out.append(r.string())
    return out


def options_of(b):
    """A critical option or extension list: [(name, data)]."""
    r, out = Reader(b), []
    while r.o < len(r.b):
        out.append((r.string().decode(), r.string()))
    return out


def fingerprint(blob):
    return "SHA256:" + base64.b64encode(
        hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_cert(blob):
    """Every field of an OpenSSH certificate (PROTOCOL.certkeys)."""
    r = Reader(blob)
    name = r.string().decode()
    assert name.endswith("-cert-v01@openssh.com"), name
    plain = name[:-len("-cert-v01@openssh.com")]
    nonce = r.string()
    start = r.o
    if plain.startswith("ecdsa-sha2-"):
        curve = r.string().decode()
        assert plain == "ecdsa-sha2-" + curve
        r.string()
    elif plain == "ssh-ed25519":
        assert len(r.string()) == 32
    elif plain == "ssh-rsa":
        r.mpint()
        r.mpint()
    else:
        raise AssertionError(f"unexpected certificate type {name}")
    key_blob = pack_str(plain) + blob[start:r.o]
    c = {"name": name, "plain": plain, "nonce": nonce, "key": key_blob,
         "serial": r.u64(), "type": r.u32(), "key_id": r.string().decode(),
         "principals": [p.decode() for p in strings_of(r.string())],
         "valid_after": r.u64(), "valid_before": r.u64(),
         "critical": options_of(r.string()),
         "extensions": options_of(r.string()),
         "reserved": r.string(), "ca": r.string()}
    c["body"] = blob[:r.o]
    c["sig"] = r.string()
    r.done()
    return c


def public_key_of_blob(blob):
    name = Reader(blob).string().decode()
    return serialization.load_ssh_public_key(
        f"{name} {base64.b64encode(blob).decode()}".encode())


def verify_signature(c):
    """Verifies the certificate's signature with its own CA key; returns
    the signature algorithm's name."""
    r = Reader(c["sig"])
    alg = r.string().decode()
    sig = r.string()
    r.done()
    ca = public_key_of_blob(c["ca"])
    if isinstance(ca, ed25519.Ed25519PublicKey):
        assert alg == "ssh-ed25519", alg
        assert len(sig) == 64
        ca.verify(sig, c["body"])
    elif isinstance(ca, ec.EllipticCurvePublicKey):
        bits = ca.curve.key_size
        assert alg == {256: "ecdsa-sha2-nistp256", 384: "ecdsa-sha2-nistp384",
                       521: "ecdsa-sha2-nistp521"}[bits], alg
        h = {256: hashes.SHA256, 384: hashes.SHA384,
             521: hashes.SHA512}[bits]()
        rs = Reader(sig)
        der = encode_dss_signature(rs.mpint(), rs.mpint())
        rs.done()
        ca.verify(der, c["body"], ec.ECDSA(h))
    elif isinstance(ca, rsa.RSAPublicKey):
        assert alg == "rsa-sha2-512", alg
        assert len(sig) == (ca.key_size + 7) // 8
        ca.verify(sig, c["body"], padding.PKCS1v15(), hashes.SHA512())
    else:
        raise AssertionError(f"unexpected CA key {ca!r}")
    return alg


def keygen_L(path):
    """`ssh-keygen -L -f path`, parsed: {field: value}, lists for
    Principals, Critical Options and Extensions."""
    r = run(["ssh-keygen", "-L", "-f", path], env=ENV_UTC)
    lines = r.stdout.splitlines()
    assert lines[0].strip() == f"{path}:", r.stdout
    out, section = {}, None
    for line in lines[1:]:
        if line.startswith(" " * 16) and section is not None:
            out[section].append(line.strip())
            continue
        m = re.match(r"^\s+([A-Za-z ]+):\s?(.*)$", line)
        assert m, f"unexpected ssh-keygen -L line {line!r}\n{r.stdout}"
        k, v = m.group(1), m.group(2).strip()
        if k in ("Principals", "Critical Options", "Extensions"):
            out[k] = []
            section = k
            assert v in ("", "(none)"), line
        else:
            out[k] = v
            section = None
    return out


def keygen_time(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------ keys ---------

class Key:
    """A key pair to certify, its SSH wire blob and its JWS alg."""

    MAKE = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
        "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
    }
    ALG = {"p256": "ES256", "p384": "ES384", "p521": "ES512",
           "ed25519": "EdDSA", "rsa2048": "RS256", "rsa1024": "RS256"}

    def __init__(self, kind="p256", priv=None):
        self.kind = kind
        self.priv = priv or self.MAKE[kind]()
        self.line = self.priv.public_key().public_bytes(
            OPENSSH, serialization.PublicFormat.OpenSSH).decode()
        self.blob = base64.b64decode(self.line.split()[1])
        self.b64 = base64.b64encode(self.blob).decode()
        self.alg = self.ALG[kind]

    def jwk(self):
        return jwk.JWK.from_pyca(self.priv)


_KEYS = {}


def key_of(kind):
    """A cached key of each kind (RSA generation is slow)."""
    if kind not in _KEYS:
        _KEYS[kind] = Key(kind)
    return _KEYS[kind]


# ------------------------------------------------------------ the CA -------

class SshCA(ApiCA):
    """An ApiCA made with --ssh and --insecure-address; its front end can
    be reloaded (SIGHUP)."""

    def __init__(self, home, ssh_key_type):
        super().__init__(home, free_port())
        self.plain_port = free_port()
        self.ssh_key_type = ssh_key_type

    def init(self, name="Test SSH"):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--ssh", "--ssh-key-type",
                 self.ssh_key_type, "--name", name,
                 "--address", f"127.0.0.1:{self.port}",
                 "--insecure-address", f"127.0.0.1:{self.plain_port}"])
        self.init_output = r.stdout + r.stderr
        for p in (self.ca_json, self.conf, self.root_pem, self.inter_pem,
                  self.password_file, self.user_pub, self.host_pub):
            assert p.exists(), f"p11ca init --ssh did not write {p}"

    @property
    def user_pub(self):
        return self.home / "certs" / "ssh_user_ca_key.pub"

    @property
    def host_pub(self):
        return self.home / "certs" / "ssh_host_ca_key.pub"

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

    def reload(self, timeout=10):
        before = self.api_stderr_text().count("p11ca-api: reloaded")
        os.kill(self.api_proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.api_stderr_text().count("p11ca-api: reloaded") <= before:
            assert self.api_alive(), self.api_stderr_text()
            assert time.monotonic() < deadline, \
                "p11ca-api did not reload:\n" + self.api_stderr_text()
            time.sleep(0.02)

    def set_claims(self, name, claims):
        cfg = self.config
        for p in cfg["authority"]["provisioners"]:
            if p["name"] == name:
                p["claims"] = claims
                break
        else:
            raise AssertionError(f"no provisioner {name}")
        self.ca_json.write_text(json.dumps(cfg, indent="\t"))


class ExtraProvisioner(Provisioner):
    """A JWK provisioner added to ca.json here, its key kept here."""

    def __init__(self, ca, name, key):
        self.name = name
        self.key = key
        self.kid = key.thumbprint()
        self.port = ca.port
        self.root_fp = hashlib.sha256(x509.load_pem_x509_certificate(
            ca.root_pem.read_bytes()).public_bytes(
                serialization.Encoding.DER)).hexdigest()


def add_provisioner(ca, name, claims):
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = json.loads(key.export_public())
    pub.update(kid=key.thumbprint(), use="sig", alg="ES256")
    cfg = ca.config
    p = {"type": "JWK", "name": name, "key": pub}
    if claims is not None:
        p["claims"] = claims
    cfg["authority"]["provisioners"].append(p)
    ca.ca_json.write_text(json.dumps(cfg, indent="\t"))
    return key


@pytest.fixture(scope="module")
def ssh_cas(tmp_path_factory):
    """Factory: ssh_cas(key_type) -> a started SshCA (with an extra JWK
    provisioner 'nossh' without enableSSHCA), made once per module."""
    made = {}

    def make(key_type):
        if key_type in made:
            return made[key_type]
        home = tmp_path_factory.mktemp(f"ssh-{key_type}") / "home"
        c = SshCA(home, key_type)
        made[key_type] = c
        c.init(name=f"Test SSH {key_type}")
        c.nossh_key = add_provisioner(c, "nossh", None)
        c.start()
        c.start_api()
        return c

    make.made = made
    try:
        yield make
    finally:
        for c in made.values():
            c.cleanup()
    reports = [r for c in made.values() for r in c.sanitizer_reports()]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture(autouse=True)
def _running(request):
    """Restarts whichever process a failed earlier test left down."""
    if "ssh_cas" in request.fixturenames:
        for c in request.getfixturevalue("ssh_cas").made.values():
            if not c.alive():
                c.stop()
                c.start()
            if not c.api_alive():
                c.stop_api()
                c.start_api()
    yield


# ------------------------------------------------------------ client -------

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


class Cert:
    """An SSH certificate the CA issued, its key, and its -cert.pub."""

    def __init__(self, api, blob, key):
        self.blob, self.key = blob, key
        self.f = parse_cert(blob)
        self.b64 = base64.b64encode(blob).decode()
        self.path = api.dir / (f"c{self.f['serial']:x}-"
                               f"{secrets.token_hex(3)}-cert.pub")
        self.path.write_text(f"{self.f['name']} {self.b64} test\n")

    @property
    def serial(self):
        return self.f["serial"]

    def __getitem__(self, k):
        return self.f[k]


class SshApi:
    def __init__(self, ca, tmpdir):
        self.ca = ca
        self.port = ca.port
        self.plain = ca.plain_port
        self.dir = Path(tmpdir)
        self.ctx = client_context(ca.root_pem)
        self.prov = Provisioner(ca)
        self.nossh = ExtraProvisioner(ca, "nossh", ca.nossh_key)
        self.user_ca = base64.b64decode(ca.user_pub.read_text().split()[1])
        self.host_ca = base64.b64decode(ca.host_pub.read_text().split()[1])
        self.serials = set()
        self.nonces = set()
        self.n = 0

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def name(self, tag="h"):
        self.n += 1
        return f"{tag}{self.n}-{secrets.token_hex(3)}"

    # --- HTTP ------------------------------------------------------------
    def req(self, method, path, body=None, ctx=None, **kw):
        return https(self.port, method, path, body=body,
                     ctx=ctx or self.ctx, **kw)

    def plain_get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.plain,
                                          timeout=15)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return Resp2(r.status, {k.lower(): v for k, v in r.getheaders()},
                         r.read())
        finally:
            conn.close()

    # --- /ssh/sign -------------------------------------------------------
    def ssh_claims(self, sub, cert_type="user", key_id=None, principals=(),
                   prov=None, step=None, **over):
        """The claims `step ssh certificate` sends: step.ssh as step-ca
        reads it (validAfter/validBefore empty unless asked)."""
        prov = prov or self.prov
        ssh = {"certType": cert_type,
               "keyID": sub if key_id is None else key_id,
               "principals": list(principals),
               "validAfter": "", "validBefore": ""}
        if step is None:
            step = {"ssh": ssh}
        c = prov.claims(sub, sans=DELETE, aud=self.url("/1.0/ssh/sign"),
                        step=step)
        for k, v in over.items():
            if v is DELETE:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def ssh_token(self, sub, cert_type="user", key_id=None, principals=(),
                  prov=None, ssh=None, **over):
        prov = prov or self.prov
        c = self.ssh_claims(sub, cert_type, key_id, principals, prov, **over)
        if ssh is not None:
            c["step"]["ssh"].update(ssh)
        return prov.sign_claims(c)

    def sign(self, key, token, path="/1.0/ssh/sign", **body):
        b = {"publicKey": key.b64 if isinstance(key, Key) else key,
             "ott": token}
        for k, v in body.items():
            if v is DELETE:
                b.pop(k, None)
            else:
                b[k] = v
        return self.req("POST", path, b)

    def issue(self, key=None, cert_type="user", principals=None, key_id=None,
              body_extra=None, ssh=None):
        """A certificate from /ssh/sign (token and body agreeing), checked
        for shape; a Cert."""
        key = key or key_of("p256")
        key_id = key_id or self.name("id")
        if principals is None:
            principals = ([self.name("web") + ".example.com"]
                          if cert_type == "host" else [self.name("u")])
        ott = self.ssh_token(key_id, cert_type, key_id, principals, ssh=ssh)
        body = {"certType": cert_type, "keyID": key_id,
                "principals": list(principals)}
        body.update(body_extra or {})
        r = self.sign(key, ott, **body)
        return self.check_201(r, key)

    def check_201(self, r, key):
        """A 201 {"crt": base64 wire}: the certificate, checked by
        ssh-keygen -L and here."""
        assert r.status == 201, r
        assert r.ctype == "application/json", r
        o = r.json()
        assert set(o) == {"crt"}, o
        blob = base64.b64decode(o["crt"], validate=True)
        assert base64.b64encode(blob).decode() == o["crt"]
        c = Cert(self, blob, key)
        self.check_cert(c, key)
        return c

    def check_cert(self, c, key):
        f = c.f
        ca = self.host_ca if f["type"] == HOST else self.user_ca
        assert f["type"] in (USER, HOST)
        assert f["key"] == key.blob, "certified key is not the request's"
        assert f["ca"] == ca, "not signed by the CA key of its type"
        assert 0 < f["serial"] < 2 ** 64
        assert f["serial"] not in self.serials, "serial reused"
        self.serials.add(f["serial"])
        assert len(f["nonce"]) >= 16
        assert f["nonce"] not in self.nonces, "nonce reused"
        self.nonces.add(f["nonce"])
        assert f["critical"] == []
        assert f["reserved"] == b""
        names = [n for n, _ in f["extensions"]]
        assert names == sorted(names), "extensions not sorted"
        if f["type"] == USER:
            assert sorted(names) == sorted(USER_EXTENSIONS), names
            assert all(d == b"" for _, d in f["extensions"])
        else:
            assert names == []
        assert f["principals"], "a certificate for any principal"
        assert f["valid_after"] < f["valid_before"]
        alg = verify_signature(f)
        # And the real OpenSSH, which verifies the signature as it parses.
        L = keygen_L(c.path)
        kind = "host" if f["type"] == HOST else "user"
        assert L["Type"] == f"{f['name']} {kind} certificate", L
        assert L["Public key"].split()[1] == fingerprint(key.blob), L
        sca = L["Signing CA"].split()
        assert sca[1] == fingerprint(ca), L
        assert " ".join(sca[2:]) == f"(using {alg})", L
        assert L["Key ID"] == json.dumps(f["key_id"]), L
        assert L["Serial"] == str(f["serial"]), L
        assert L["Valid"] == (f"from {keygen_time(f['valid_after'])} to "
                              f"{keygen_time(f['valid_before'])}"), L
        assert L["Principals"] == f["principals"], L
        assert L["Critical Options"] == [], L
        assert L["Extensions"] == names, L

    # --- SSHPOP ----------------------------------------------------------
    def sshpop_token(self, cert, what="renew", key=None, sub=None,
                     header=None, cert_blob=None, alg=None, **over):
        """A JWS with the certificate in its "sshpop" header, signed by
        the certificate's key (or key), as step sends for /ssh/renew,
        /ssh/rekey and /ssh/revoke."""
        now = int(time.time())
        claims = {"iss": "sshpop",
                  "sub": cert["key_id"] if sub is None else sub,
                  "aud": self.url(f"/1.0/ssh/{what}"),
                  "iat": now, "nbf": now, "exp": now + 300,
                  "jti": secrets.token_hex(16)}
        for k, v in over.items():
            if v is DELETE:
                claims.pop(k, None)
            else:
                claims[k] = v
        key = key or cert.key
        hdr = {"alg": alg or key.alg, "typ": "JWT",
               "sshpop": base64.b64encode(
                   cert_blob if cert_blob is not None else cert.blob)
               .decode()}
        hdr.update(header or {})
        s = jws.JWS(json.dumps(claims).encode())
        s.add_signature(key.jwk(), None, protected=json.dumps(hdr))
        return s.serialize(compact=True)

    def renew(self, ott, path="/1.0/ssh/renew"):
        return self.req("POST", path, {"ott": ott})

    def rekey(self, ott, key, path="/1.0/ssh/rekey"):
        b = {"ott": ott}
        if key is not None:
            b["publicKey"] = key.b64 if isinstance(key, Key) else key
        return self.req("POST", path, b)

    # --- revoke ----------------------------------------------------------
    def revoke_token(self, serial, sub=None, prov=None,
                     aud="/1.0/ssh/revoke", **over):
        prov = prov or self.prov
        c = prov.claims(str(serial) if sub is None else sub, sans=DELETE,
                        aud=self.url(aud))
        c.update(over)
        return prov.sign_claims(c)

    def revoke(self, serial, ott=None, reasonCode=None, reason=None,
               passive=True, path="/1.0/ssh/revoke", **extra):
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
        return self.req("POST", path, body)

    def revoke_ok(self, cert, ott=None):
        r = self.revoke(cert.serial, ott or self.revoke_token(cert.serial),
                        reasonCode=1, reason="key compromise")
        assert r.status == 200, r
        assert r.ctype == "application/json", r
        assert r.json() == {"status": "ok"}, r
        return r

    # --- KRL -------------------------------------------------------------
    def krl(self, plain=False):
        r = self.plain_get("/ssh/krl") if plain else \
            self.req("GET", "/1.0/ssh/krl")
        assert r.status == 200, r
        assert r.ctype == "application/octet-stream", r
        assert r.body.startswith(b"SSHKRL\n\0"), r.body[:16]
        p = self.dir / f"krl-{secrets.token_hex(4)}"
        p.write_bytes(r.body)
        return p

    def krl_status(self, krl, *certs):
        """{serial: "ok" | "REVOKED"} by ssh-keygen -Q."""
        r = run(["ssh-keygen", "-Q", "-f", krl] + [c.path for c in certs],
                check=False)
        assert r.returncode in (0, 1), r
        out = {}
        for c in certs:
            m = re.search(rf"^{re.escape(str(c.path))} \(test\): (\S+)$",
                          r.stdout, re.M)
            assert m, (c.path, r.stdout, r.stderr)
            out[c.serial] = m.group(1)
        assert (r.returncode == 1) == ("REVOKED" in out.values()), r
        return out

    # --- mTLS ------------------------------------------------------------
    def client_ctx(self):
        """A TLS context presenting an X.509 certificate of this CA,
        issued by /1.0/sign."""
        cn = self.name("client") + ".example.com"
        key = ec.generate_private_key(ec.SECP256R1())
        pem, _ = make_csr(key, cn, [cn])
        r = self.req("POST", "/1.0/sign",
                     {"csr": pem, "ott": self.prov.token(cn, [cn])})
        assert r.status == 201, r
        o = r.json()
        d = self.dir / f"mtls-{secrets.token_hex(4)}"
        d.mkdir()
        (d / "key.pem").write_bytes(key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, NOPASS))
        (d / "chain.pem").write_text(o["crt"] + o["ca"])
        ctx = client_context(self.ca.root_pem)
        ctx.load_cert_chain(d / "chain.pem", d / "key.pem")
        return ctx


_APIS = {}


@pytest.fixture(scope="module")
def api(ssh_cas, tmp_path_factory):
    """The main CA (SSH CA keys P-256) as a client sees it."""
    return api_for(ssh_cas("p256"), tmp_path_factory)


def api_for(ca, tmp_path_factory):
    if ca.ssh_key_type not in _APIS or _APIS[ca.ssh_key_type].ca is not ca:
        _APIS[ca.ssh_key_type] = SshApi(
            ca, tmp_path_factory.mktemp(f"ssh-files-{ca.ssh_key_type}"))
    return _APIS[ca.ssh_key_type]


@pytest.fixture(scope="module", params=CA_TYPES)
def any_api(request, ssh_cas, tmp_path_factory):
    """Each of the three CAs in turn (SSH CA keys p256, ed25519,
    rsa2048)."""
    return api_for(ssh_cas(request.param), tmp_path_factory)


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


def near(a, b, tol=5):
    assert abs(a - b) <= tol, (a, b, a - b)


# ============================================================ set-up =======

def test_init_ssh_wrote_ca_json_and_signer_conf(api):
    ca = api.ca
    cfg = ca.config
    assert cfg["ssh"]["userPublicKey"] == str(ca.user_pub)
    assert cfg["ssh"]["hostPublicKey"] == str(ca.host_pub)
    assert cfg["signer"]["sshUserKey"] == "ssh-user"
    assert cfg["signer"]["sshHostKey"] == "ssh-host"
    provs = cfg["authority"]["provisioners"]
    assert provs[0]["type"] == "JWK"
    assert provs[0]["claims"]["enableSSHCA"] is True
    assert [p for p in provs if p["type"] == "SSHPOP"][0]["name"] == "sshpop"
    keys = [ln.split() for ln in ca.conf_lines() if ln.startswith("key ")]
    for name in ("ssh-user", "ssh-host"):
        assert any(k[1] == name and "role=ssh" in k for k in keys), keys
    # The two CA keys differ, and each .pub is a key ssh-keygen reads.
    assert api.user_ca != api.host_ca
    for p in (ca.user_pub, ca.host_pub):
        r = run(["ssh-keygen", "-l", "-f", p])
        assert fingerprint(base64.b64decode(p.read_text().split()[1])) \
            in r.stdout


@pytest.mark.parametrize("kind", CA_TYPES)
def test_init_ssh_key_type(ssh_cas, tmp_path_factory, kind):
    api = api_for(ssh_cas(kind), tmp_path_factory)
    want = {"p256": "ecdsa-sha2-nistp256", "ed25519": "ssh-ed25519",
            "rsa2048": "ssh-rsa"}[kind]
    for blob in (api.user_ca, api.host_ca):
        assert Reader(blob).string().decode() == want
        k = public_key_of_blob(blob)
        if kind == "rsa2048":
            assert k.key_size == 2048


# ============================================================ /ssh/sign ====

@pytest.mark.parametrize("cert_type", ["user", "host"])
def test_sign_each_ca_key_type(any_api, cert_type):
    """User and host certificates from each kind of CA key (ssh-keygen
    says "(using rsa-sha2-512)" for the RSA CA)."""
    api = any_api
    t0 = int(time.time())
    c = api.issue(cert_type=cert_type, principals=["a1", "b2.example.com"],
                  key_id="kid-" + cert_type)
    t1 = int(time.time())
    assert c["type"] == (HOST if cert_type == "host" else USER)
    assert c["key_id"] == "kid-" + cert_type
    assert c["principals"] == ["a1", "b2.example.com"]
    assert t0 - BACKDATE - 1 <= c["valid_after"] <= t1 - BACKDATE + 1
    dur = 30 * DAY if cert_type == "host" else 16 * HOUR
    assert t0 + dur - 1 <= c["valid_before"] <= t1 + dur + 1
    L = keygen_L(c.path)
    if api.ca.ssh_key_type == "rsa2048":
        assert L["Signing CA"].endswith("(using rsa-sha2-512)"), L
    if cert_type == "user":
        assert L["Extensions"] == USER_EXTENSIONS, L


@pytest.mark.parametrize("kind", ["p256", "p384", "ed25519", "rsa2048"])
@pytest.mark.parametrize("cert_type", ["user", "host"])
def test_sign_each_user_key_type(api, kind, cert_type):
    key = key_of(kind)
    c = api.issue(key, cert_type=cert_type)
    want = {"p256": "ecdsa-sha2-nistp256", "p384": "ecdsa-sha2-nistp384",
            "ed25519": "ssh-ed25519", "rsa2048": "ssh-rsa"}[kind]
    assert c["name"] == want + "-cert-v01@openssh.com"
    assert c["key"] == key.blob


def test_sign_key_made_by_ssh_keygen(api):
    """A key ssh-keygen made, sent as step does (base64 of the wire
    blob); the certificate fits that key file."""
    p = api.dir / "kg_ed25519"
    run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "384", "-N", "", "-C",
         "me@example", "-f", p])
    priv = serialization.load_ssh_private_key(p.read_bytes(), None)
    key = Key("p384", priv)
    assert key.line.split()[1] == Path(str(p) + ".pub").read_text().split()[1]
    c = api.issue(key)
    assert c["key"] == key.blob


def test_sign_public_key_as_pub_line(api):
    """p11ca also takes "type base64 comment" (docs/ssh.md)."""
    key = key_of("ed25519")
    kid = api.name("id")
    r = api.sign(key.line + " me@example", api.ssh_token(
        kid, principals=["alice"]), principals=["alice"])
    c = api.check_201(r, key)
    assert c["key_id"] == kid


def test_sign_serials_random_64_bit(api):
    serials = [api.issue(cert_type="user")["serial"] for _ in range(12)]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2 ** 64 for s in serials)
    # 12 random 64-bit numbers all below 2^48: about 2^-192.
    assert max(serials) >= 2 ** 48, serials


def test_sign_nonce(api):
    c1 = api.issue()
    c2 = api.issue()
    assert len(c1["nonce"]) == 32 and len(c2["nonce"]) == 32
    assert c1["nonce"] != c2["nonce"]


def test_sign_fields_from_token_only(api):
    """step sends them in both; a body that leaves them out gets the
    token's."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "host", kid, ["t1.example.com"])
    c = api.check_201(api.sign(key_of("p256"), ott), key_of("p256"))
    assert c["type"] == HOST
    assert c["key_id"] == kid
    assert c["principals"] == ["t1.example.com"]


def test_sign_fields_from_body_only(api):
    """A token whose step.ssh leaves them empty takes the body's."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "", "", [])
    c = api.check_201(api.sign(key_of("p256"), ott, certType="host",
                               keyID=kid, principals=["b.example.com"]),
                      key_of("p256"))
    assert c["type"] == HOST
    assert c["key_id"] == kid
    assert c["principals"] == ["b.example.com"]


def test_sign_default_type_is_user(api):
    kid = api.name("id")
    ott = api.ssh_token(kid, "", kid, ["bob"])
    c = api.check_201(api.sign(key_of("p256"), ott), key_of("p256"))
    assert c["type"] == USER


def test_sign_principals_in_another_order(api):
    """step-ca compares principals as sets (containsAllMembers); the same
    principals in another order are the same request."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice", "bob"])
    r = api.sign(key_of("p256"), ott, certType="user", keyID=kid,
                 principals=["bob", "alice"])
    c = api.check_201(r, key_of("p256"))
    assert sorted(c["principals"]) == ["alice", "bob"]


def test_sign_validity_rfc3339(api):
    now = int(time.time())
    va, vb = now + 600, now + 2 * HOUR
    ts = lambda t, off: (datetime.datetime.fromtimestamp(
        t, datetime.timezone(datetime.timedelta(hours=off)))
        .isoformat())
    c = api.issue(body_extra={"validAfter": ts(va, 0).replace(
        "+00:00", "Z"), "validBefore": ts(vb, 2)})
    assert c["valid_after"] == va
    assert c["valid_before"] == vb


def test_sign_validity_durations(api):
    t0 = int(time.time())
    c = api.issue(body_extra={"validAfter": "5m", "validBefore": "3h"})
    t1 = int(time.time())
    assert t0 + 300 <= c["valid_after"] <= t1 + 300
    assert t0 + 3 * HOUR <= c["valid_before"] <= t1 + 3 * HOUR


def test_sign_validity_before_only(api):
    t0 = int(time.time())
    c = api.issue(body_extra={"validBefore": "+1h"})
    near(c["valid_after"], t0 - BACKDATE)
    near(c["valid_before"], t0 + HOUR)


def test_sign_validity_from_token(api):
    """step.ssh's validAfter/validBefore, when the body gives none."""
    t0 = int(time.time())
    c = api.issue(ssh={"validAfter": "10m", "validBefore": "2h"})
    near(c["valid_after"], t0 + 600)
    near(c["valid_before"], t0 + 2 * HOUR)


def test_sign_validity_token_and_body_disagree(api):
    """step-ca (SignSSHOptions.match): a body validBefore other than the
    token's is refused with 403, as the other fields are."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"],
                        ssh={"validBefore": "1h"})
    r = api.sign(key_of("p256"), ott, certType="user", keyID=kid,
                 principals=["alice"], validBefore="20h")
    assert_error(r, 403)


def test_sign_max_user_duration(api):
    """The default maxUserSSHCertDuration is 24h; 24h from now passes
    (the minute of backdate is allowed), 48h does not."""
    c = api.issue(body_extra={"validBefore": "+24h"})
    near(c["valid_before"] - c["valid_after"], 24 * HOUR + BACKDATE)
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "user", kid, ["al"]),
                 certType="user", keyID=kid, principals=["al"],
                 validBefore="+48h")
    assert_error(r, 403, contains="duration")


def test_sign_max_host_duration(api):
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "host", kid,
                                               ["h.example.com"]),
                 certType="host", keyID=kid, principals=["h.example.com"],
                 validBefore="+800h")
    assert_error(r, 403, contains="duration")
    c = api.issue(cert_type="host", body_extra={"validBefore": "+720h"})
    near(c["valid_before"] - c["valid_after"], 30 * DAY + BACKDATE)


def test_sign_min_duration(api):
    """Default minimum 5m: validAfter now, validBefore in 2 minutes."""
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "user", kid, ["al"]),
                 certType="user", keyID=kid, principals=["al"],
                 validAfter="0s", validBefore="2m")
    assert_error(r, 403, contains="duration")


def test_sign_before_not_after_after(api):
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "user", kid, ["al"]),
                 certType="user", keyID=kid, principals=["al"],
                 validAfter="2h", validBefore="1h")
    assert r.status in (400, 403), r
    assert r.status != 201


def test_sign_valid_before_in_the_past(api):
    """step-ca (sshCertValidityValidator): "ssh certificate validBefore
    cannot be in the past"; an already expired certificate is never
    issued."""
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "user", kid, ["al"]),
                 certType="user", keyID=kid, principals=["al"],
                 validAfter="-3h", validBefore="-1h")
    assert r.status in (400, 403), r


@pytest.mark.parametrize("field,token_v,body_v", [
    ("principals", ["alice"], ["mallory"]),
    ("principals", ["alice"], ["alice", "root"]),
    ("certType", "user", "host"),
    ("keyID", "kid-a", "kid-b"),
])
def test_sign_body_differs_from_token(api, field, token_v, body_v):
    fields = {"certType": "user", "keyID": "kid-a", "principals": ["alice"]}
    tok = dict(fields, **{field: token_v})
    body = dict(fields, **{field: body_v})
    ott = api.ssh_token("kid-a", tok["certType"], tok["keyID"],
                        tok["principals"])
    r = api.sign(key_of("p256"), ott, **body)
    assert_error(r, 403, contains=FORBIDDEN)
    assert "does not match" in r.json()["message"], r


def test_sign_body_key_id_differs_from_token_sub(api):
    """step-ca (jwk.go AuthorizeSSHSign) also validates the body's keyID
    against the token's subject: sshCertOptionsValidator(
    SignSSHOptions{KeyID: claims.Subject}), a 403."""
    ott = api.ssh_token("someone-else", "user", "kid-x", ["alice"])
    r = api.sign(key_of("p256"), ott, certType="user", keyID="kid-x",
                 principals=["alice"])
    assert_error(r, 403)


def test_sign_refused_token_not_consumed(api):
    """A request refused after the token verified gives its jti back
    (docs/architecture.md): the same token then works."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"])
    assert_error(api.sign(key_of("p256"), ott, principals=["root"]), 403)
    c = api.check_201(api.sign(key_of("p256"), ott, principals=["alice"]),
                      key_of("p256"))
    assert c["principals"] == ["alice"]


def test_sign_no_principals_refused(api):
    """docs/decisions.md: a certificate for any principal is refused."""
    ott = api.ssh_token("kid-n", "user", "kid-n", [])
    assert_error(api.sign(key_of("p256"), ott), 403)


def test_sign_token_without_step_ssh(api):
    for step in ({}, {"ssh": None}, DELETE):
        c = api.ssh_claims("kid-s", principals=["alice"])
        if step is DELETE:
            del c["step"]
        else:
            c["step"] = step
        r = api.sign(key_of("p256"), api.prov.sign_claims(c),
                     principals=["alice"])
        assert_error(r, 401, message=UNAUTHORIZED)


def test_sign_provisioner_without_ssh_ca(api):
    ott = api.ssh_token("kid-p", "user", "kid-p", ["alice"], prov=api.nossh)
    assert_error(api.sign(key_of("p256"), ott, principals=["alice"]), 401,
                 message=UNAUTHORIZED)


def test_sign_ssh_ca_disabled_by_reload(api):
    """enableSSHCA taken away from the first provisioner by a SIGHUP
    reload: 401 from then on; given back: 201 again."""
    ca = api.ca
    claims = ca.config["authority"]["provisioners"][0]["claims"]
    try:
        ca.set_claims(api.prov.name, dict(claims, enableSSHCA=False))
        ca.reload()
        ott = api.ssh_token("kid-r", "user", "kid-r", ["alice"])
        assert_error(api.sign(key_of("p256"), ott, principals=["alice"]),
                     401, message=UNAUTHORIZED)
    finally:
        ca.set_claims(api.prov.name, claims)
        ca.reload()
    api.issue()


def test_sign_missing_public_key(api):
    ott = api.ssh_token("kid-m", "user", "kid-m", ["alice"])
    for pk in (DELETE, ""):
        r = api.sign(key_of("p256"), ott, publicKey=pk)
        assert_error(r, 400, contains="publicKey")


def sk_ed25519_blob():
    return (pack_str("sk-ssh-ed25519@openssh.com") +
            pack_str(os.urandom(32)) + pack_str("ssh:"))


def dsa_blob():
    k = dsa.generate_private_key(1024).public_key()
    return base64.b64decode(k.public_bytes(
        OPENSSH, serialization.PublicFormat.OpenSSH).split()[1])


@pytest.mark.parametrize("case", [
    "not-base64", "random", "truncated", "trailing", "rsa1024", "dsa",
    "sk-ed25519", "certificate", "unknown-type", "bad-point", "url-b64",
])
def test_sign_bad_public_key(api, case):
    key = key_of("p256")
    if case == "not-base64":
        pk = "this is not base64!!"
    elif case == "random":
        pk = base64.b64encode(os.urandom(100)).decode()
    elif case == "truncated":
        pk = base64.b64encode(key.blob[:-5]).decode()
    elif case == "trailing":
        pk = base64.b64encode(key.blob + b"\0").decode()
    elif case == "rsa1024":
        pk = Key("rsa1024").b64
    elif case == "dsa":
        pk = base64.b64encode(dsa_blob()).decode()
    elif case == "sk-ed25519":
        pk = base64.b64encode(sk_ed25519_blob()).decode()
    elif case == "certificate":
        pk = api.issue().b64
    elif case == "unknown-type":
        pk = base64.b64encode(pack_str("ssh-foo") + pack_str(b"x")).decode()
    elif case == "bad-point":
        r = Reader(key.blob)
        name, curve, q = r.string(), r.string(), bytearray(r.string())
        q[-1] ^= 1
        pk = base64.b64encode(pack_str(name) + pack_str(curve) +
                              pack_str(bytes(q))).decode()
    elif case == "url-b64":
        # Padded standard base64 only (Go's []byte): make one with - or _.
        for _ in range(200):
            k = Key("p256")
            s = base64.urlsafe_b64encode(k.blob).decode()
            if "-" in s or "_" in s:
                pk = s
                break
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"])
    r = api.sign(key, ott, publicKey=pk, principals=["alice"])
    assert_error(r, 400, contains=BAD_REQUEST)
    # The token was not used up by a request refused before it was read.
    api.check_201(api.sign(key, ott, principals=["alice"]), key)


def test_sign_missing_ott(api):
    for ott in (DELETE, ""):
        r = api.sign(key_of("p256"), "x", ott=ott)
        assert_error(r, 400, contains="ott")


def test_sign_bad_cert_type_in_body(api):
    """step-ca (SSHSignRequest.Validate): "unknown certType bogus", 400,
    before the token is read."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"])
    r = api.sign(key_of("p256"), ott, certType="bogus", principals=["alice"])
    assert_error(r, 400, contains="certType")


def test_sign_bad_validity_in_body(api):
    """step-ca reads validAfter/validBefore as TimeDuration while decoding
    the body: an unreadable one is 400 "error reading request body"."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"])
    r = api.sign(key_of("p256"), ott, principals=["alice"],
                 validBefore="next tuesday")
    assert_error(r, 400)


def test_sign_malformed_body(api):
    for body in (b"", b"[]", b"{", b'{"publicKey": 5, "ott": "x"}'):
        r = api.req("POST", "/1.0/ssh/sign", body,
                    headers={"Content-Type": "application/json"})
        assert_error(r, 400)


def test_sign_token_replayed(api):
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"])
    api.check_201(api.sign(key_of("p256"), ott, principals=["alice"]),
                  key_of("p256"))
    assert_error(api.sign(key_of("ed25519"), ott, principals=["alice"]), 401,
                 message=UNAUTHORIZED)


@pytest.mark.parametrize("aud", ["/1.0/sign", "/1.0/ssh/renew",
                                 "/1.0/ssh/revoke", "/1.0/ssh/signx"])
def test_sign_wrong_audience(api, aud):
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"], aud=api.url(aud))
    assert_error(api.sign(key_of("p256"), ott, principals=["alice"]), 401,
                 message=UNAUTHORIZED)


def test_sign_unprefixed_path_and_audience(api):
    """step-ca serves every route at / and /1.0/."""
    kid = api.name("id")
    ott = api.ssh_token(kid, "user", kid, ["alice"],
                        aud=api.url("/ssh/sign"))
    api.check_201(api.sign(key_of("p256"), ott, path="/ssh/sign",
                           principals=["alice"]), key_of("p256"))


def test_sign_expired_or_forged_token(api):
    kid = api.name("id")
    now = int(time.time())
    c = api.ssh_claims(kid, principals=["alice"], exp=now - 120,
                       nbf=now - 600, iat=now - 600)
    assert_error(api.sign(key_of("p256"), api.prov.sign_claims(c),
                          principals=["alice"]), 401)
    other = jwk.JWK.generate(kty="EC", crv="P-256")
    c = api.ssh_claims(kid, principals=["alice"])
    assert_error(api.sign(key_of("p256"), api.prov.sign_claims(c, key=other),
                          principals=["alice"]), 401)


# ============================================================ SSHPOP =======

def check_renewal(old, new, t0, t1, same_key=True):
    assert new["serial"] != old["serial"]
    assert new["type"] == old["type"]
    assert new["key_id"] == old["key_id"]
    assert new["principals"] == old["principals"]
    assert new["extensions"] == old["extensions"]
    assert new["ca"] == old["ca"]
    assert (new["valid_before"] - new["valid_after"] ==
            old["valid_before"] - old["valid_after"])
    assert t0 - BACKDATE - 1 <= new["valid_after"] <= t1 - BACKDATE + 1
    if same_key:
        assert new["key"] == old["key"]
    else:
        assert new["key"] != old["key"]


@pytest.mark.parametrize("kind", ["p256", "ed25519", "rsa2048"])
def test_renew_each_ca_and_key(any_api, kind):
    """Host certificate renewal by SSHPOP, the token signed ES256, EdDSA
    or RS256 by the certificate's key."""
    api = any_api
    key = key_of(kind)
    old = api.issue(key, "host", ["r1.example.com", "r2.example.com"],
                    body_extra={"validBefore": "+3h"})
    t0 = int(time.time())
    new = api.check_201(api.renew(api.sshpop_token(old, "renew")), key)
    check_renewal(old, new, t0, int(time.time()))
    # The renewal renews again.
    newer = api.check_201(api.renew(api.sshpop_token(new, "renew")), key)
    check_renewal(new, newer, t0, int(time.time()))


@pytest.mark.parametrize("kind,newkind", [("p256", "ed25519"),
                                          ("ed25519", "rsa2048"),
                                          ("rsa2048", "p384")])
def test_rekey_each_ca(any_api, kind, newkind):
    api = any_api
    old = api.issue(key_of(kind), "host", ["k1.example.com"])
    newkey = Key(newkind) if newkind != "rsa2048" else key_of(newkind)
    t0 = int(time.time())
    new = api.check_201(api.rekey(api.sshpop_token(old, "rekey"), newkey),
                        newkey)
    check_renewal(old, new, t0, int(time.time()), same_key=False)
    assert new["key"] == newkey.blob


def test_renew_unprefixed_path(api):
    old = api.issue(cert_type="host")
    ott = api.sshpop_token(old, "renew", aud=api.url("/ssh/renew"))
    api.check_201(api.renew(ott, path="/ssh/renew"), old.key)


def test_renew_user_certificate_refused(api):
    old = api.issue(cert_type="user")
    assert_error(api.renew(api.sshpop_token(old, "renew")), 401,
                 message=UNAUTHORIZED)
    assert_error(api.rekey(api.sshpop_token(old, "rekey"), Key("p256")),
                 401, message=UNAUTHORIZED)


def test_renew_replayed(api):
    old = api.issue(cert_type="host")
    ott = api.sshpop_token(old, "renew")
    api.check_201(api.renew(ott), old.key)
    assert_error(api.renew(ott), 401, message=UNAUTHORIZED)


def test_rekey_replayed(api):
    old = api.issue(cert_type="host")
    ott = api.sshpop_token(old, "rekey")
    k1 = Key("p256")
    api.check_201(api.rekey(ott, k1), k1)
    assert_error(api.rekey(ott, Key("p256")), 401, message=UNAUTHORIZED)


def test_renew_other_ca(api, tmp_path):
    """A host certificate from another CA (ssh-keygen -s), even with the
    serial and names of one this CA issued: 401."""
    real = api.issue(cert_type="host")
    ca = tmp_path / "fca"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca])
    key = Key("ed25519")
    pub = tmp_path / "host.pub"
    pub.write_text(key.line + "\n")
    run(["ssh-keygen", "-q", "-s", ca, "-h", "-I", real["key_id"], "-n",
         ",".join(real["principals"]), "-V", "-1m:+1h", "-z",
         str(real.serial), pub])
    line = (tmp_path / "host-cert.pub").read_text().split()
    fake = Cert(api, base64.b64decode(line[1]), key)
    assert fake.serial == real.serial
    for aud, call in (("renew", lambda t: api.renew(t)),
                      ("rekey", lambda t: api.rekey(t, Key("p256")))):
        assert_error(call(api.sshpop_token(fake, aud)), 401,
                     message=UNAUTHORIZED)
    # Nor may it revoke the real one.
    assert_error(api.revoke(real.serial, api.sshpop_token(fake, "revoke",
                                                          sub=str(
                                                              real.serial))),
                 401, message=UNAUTHORIZED)
    assert api.krl_status(api.krl(), real)[real.serial] == "ok"


def test_renew_not_yet_valid(api):
    """SSHPOP wants a certificate valid now (step-ca: "sshpop certificate
    validAfter is in the future")."""
    old = api.issue(cert_type="host", body_extra={"validAfter": "+1h",
                                                  "validBefore": "+3h"})
    assert_error(api.renew(api.sshpop_token(old, "renew")), 401,
                 message=UNAUTHORIZED)


def test_renew_revoked(api):
    old = api.issue(cert_type="host")
    api.revoke_ok(old)
    assert_error(api.renew(api.sshpop_token(old, "renew")), 401,
                 message=UNAUTHORIZED)
    assert_error(api.rekey(api.sshpop_token(old, "rekey"), Key("p256")),
                 401, message=UNAUTHORIZED)


def test_renew_renewal_of_revoked_still_works(api):
    """Revoking a certificate revokes that one, not its renewal."""
    old = api.issue(cert_type="host")
    new = api.check_201(api.renew(api.sshpop_token(old, "renew")), old.key)
    api.revoke_ok(old)
    api.check_201(api.renew(api.sshpop_token(new, "renew")), old.key)


@pytest.mark.parametrize("case", [
    "wrong-key", "tampered-cert", "wrong-iss", "jwk-provisioner-iss",
    "wrong-aud", "x509-aud", "exp-too-far", "expired", "no-sub",
    "alg-mismatch", "no-sshpop", "sshpop-not-b64", "sshpop-plain-key",
])
def test_renew_bad_token(api, case):
    old = api.issue(cert_type="host")
    t = None
    now = int(time.time())
    if case == "wrong-key":
        t = api.sshpop_token(old, "renew", key=Key("p256"))
    elif case == "tampered-cert":
        # Same length key id, one letter changed: the CA signature fails.
        blob = bytearray(old.blob)
        kid = old["key_id"].encode()
        i = bytes(blob).index(pack_str(kid)) + 4
        blob[i] ^= 0x01
        t = api.sshpop_token(old, "renew", cert_blob=bytes(blob))
    elif case == "wrong-iss":
        t = api.sshpop_token(old, "renew", iss="not-a-provisioner")
    elif case == "jwk-provisioner-iss":
        t = api.sshpop_token(old, "renew", iss=api.prov.name)
    elif case == "wrong-aud":
        t = api.sshpop_token(old, "rekey")
    elif case == "x509-aud":
        t = api.sshpop_token(old, "renew", aud=api.url("/1.0/renew"))
    elif case == "exp-too-far":
        t = api.sshpop_token(old, "renew", exp=now + 2 * HOUR)
    elif case == "expired":
        t = api.sshpop_token(old, "renew", iat=now - 900, nbf=now - 900,
                             exp=now - 300)
    elif case == "no-sub":
        t = api.sshpop_token(old, "renew", sub="")
    elif case == "alg-mismatch":
        # jwcrypto will not sign ES384 with a P-256 key: by hand.
        t = forge_alg(api, old)
    elif case == "no-sshpop":
        s = jws.JWS(json.dumps({"iss": "sshpop", "sub": "x",
                                "aud": api.url("/1.0/ssh/renew"),
                                "iat": now, "nbf": now, "exp": now + 60,
                                "jti": secrets.token_hex(8)}).encode())
        s.add_signature(old.key.jwk(), None,
                        protected=json.dumps({"alg": old.key.alg}))
        t = s.serialize(compact=True)
    elif case == "sshpop-not-b64":
        t = api.sshpop_token(old, "renew", header={"sshpop": "%%%%"})
    elif case == "sshpop-plain-key":
        t = api.sshpop_token(old, "renew", cert_blob=old.key.blob)
    assert_error(api.renew(t), 401, message=UNAUTHORIZED)
    # The certificate itself still renews.
    api.check_201(api.renew(api.sshpop_token(old, "renew")), old.key)


def forge_alg(api, old):
    """An SSHPOP token claiming ES384 but signed with the P-256 key."""
    now = int(time.time())
    hdr = {"alg": "ES384", "sshpop": old.b64}
    claims = {"iss": "sshpop", "sub": "x", "aud": api.url("/1.0/ssh/renew"),
              "iat": now, "nbf": now, "exp": now + 60,
              "jti": secrets.token_hex(8)}
    si = (b64url(json.dumps(hdr).encode()) + "." +
          b64url(json.dumps(claims).encode()))
    der = old.key.priv.sign(si.encode(), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    return si + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_rekey_bad_public_key(api):
    old = api.issue(cert_type="host")
    for pk in (None, "", "garbage", Key("rsa1024").b64):
        r = api.rekey(api.sshpop_token(old, "rekey"), pk)
        assert_error(r, 400)
    # None of those tokens burned the certificate's right to rekey.
    k = Key("ed25519")
    api.check_201(api.rekey(api.sshpop_token(old, "rekey"), k), k)


def test_renew_malformed_body(api):
    for body in (b"", b"[]", b'{"ott": 5}', b"{}", b'{"ott": ""}'):
        r = api.req("POST", "/1.0/ssh/renew", body,
                    headers={"Content-Type": "application/json"})
        assert_error(r, 400)


# ============================================================ revoke =======

def test_revoke_by_jwk_token(any_api):
    api = any_api
    c = api.issue(cert_type="user")
    other = api.issue(cert_type="host")
    r = api.revoke_ok(c)
    assert r.headers.get("content-type") == "application/json"
    assert api.krl_status(api.krl(), c, other) == {c.serial: "REVOKED",
                                                  other.serial: "ok"}


def test_revoke_by_sshpop(api):
    c = api.issue(cert_type="host")
    api.revoke_ok(c, api.sshpop_token(c, "revoke", sub=str(c.serial)))
    assert api.krl_status(api.krl(), c)[c.serial] == "REVOKED"


def test_revoke_by_sshpop_user_certificate(api):
    """Unlike renewal, revocation by SSHPOP is for user certificates too
    (step-ca's AuthorizeSSHRevoke does not look at the type)."""
    c = api.issue(cert_type="user")
    api.revoke_ok(c, api.sshpop_token(c, "revoke", sub=str(c.serial)))
    assert api.krl_status(api.krl(), c)[c.serial] == "REVOKED"


def test_revoke_by_sshpop_sub_not_serial(api):
    """step-ca (sshpop.go AuthorizeSSHRevoke): "sshpop token subject must
    be equivalent to sshpop certificate serial number", a 401 from the
    API; docs/decisions.md: the revoke token's sub must be the serial."""
    c = api.issue(cert_type="host")
    r = api.revoke(c.serial, api.sshpop_token(c, "revoke", sub=c["key_id"]))
    assert_error(r, 401, message=UNAUTHORIZED)
    assert api.krl_status(api.krl(), c)[c.serial] == "ok"


def test_revoke_sshpop_of_another_certificate(api):
    a = api.issue(cert_type="host")
    b = api.issue(cert_type="host")
    for sub in (str(a.serial), str(b.serial)):
        r = api.revoke(b.serial, api.sshpop_token(a, "revoke", sub=sub))
        assert_error(r, 401, message=UNAUTHORIZED)
    assert api.krl_status(api.krl(), a, b) == {a.serial: "ok",
                                              b.serial: "ok"}


def test_revoke_not_in_x509_crl(api):
    """An SSH revocation is in the KRL, not in the X.509 CRL."""
    c = api.issue()
    api.revoke_ok(c)
    r = api.plain_get("/crl")
    assert r.status == 200, r
    crl = x509.load_der_x509_crl(r.body)
    assert c.serial not in {e.serial_number for e in crl}


def test_revoke_sub_not_serial(api):
    a = api.issue()
    b = api.issue()
    r = api.revoke(b.serial, api.revoke_token(a.serial))
    assert_error(r, 401, message=UNAUTHORIZED)
    r = api.revoke(b.serial, api.revoke_token(b.serial, sub=b["key_id"]))
    assert_error(r, 401, message=UNAUTHORIZED)
    assert api.krl_status(api.krl(), b)[b.serial] == "ok"


@pytest.mark.parametrize("aud", ["/1.0/revoke", "/1.0/ssh/sign",
                                 "/1.0/ssh/renew"])
def test_revoke_wrong_audience(api, aud):
    c = api.issue()
    r = api.revoke(c.serial, api.revoke_token(c.serial, aud=aud))
    assert_error(r, 401, message=UNAUTHORIZED)


def test_revoke_token_replayed(api):
    a = api.issue()
    t = api.revoke_token(a.serial)
    api.revoke_ok(a, t)
    assert_error(api.revoke(a.serial, t), 401, message=UNAUTHORIZED)


def test_revoke_already_revoked(api):
    c = api.issue()
    api.revoke_ok(c)
    r = api.revoke(c.serial, api.revoke_token(c.serial))
    assert_error(r, 400, contains="is already revoked")


def test_revoke_unknown(api):
    while True:
        s = secrets.randbits(64)
        if s and s not in api.serials:
            break
    assert_error(api.revoke(s, api.revoke_token(s)), 404)


def test_revoke_x509_serial_is_not_ssh(api):
    """An X.509 certificate's serial (decimal) is not an SSH one."""
    cn = "x.example.com"
    key = ec.generate_private_key(ec.SECP256R1())
    pem, _ = make_csr(key, cn, [cn])
    r = api.req("POST", "/1.0/sign", {"csr": pem,
                                      "ott": api.prov.token(cn, [cn])})
    assert r.status == 201, r
    serial = split_pems(r.json()["crt"])[0].serial_number
    r = api.revoke(serial, api.revoke_token(serial))
    assert r.status in (400, 404), r


@pytest.mark.parametrize("passive", [None, False])
def test_revoke_not_passive(api, passive):
    c = api.issue()
    r = api.revoke(c.serial, api.revoke_token(c.serial), passive=passive)
    assert_error(r, 501)
    assert api.krl_status(api.krl(), c)[c.serial] == "ok"


@pytest.mark.parametrize("body,status", [
    ({"ott": "x", "passive": True}, 400),
    ({"serial": "", "ott": "x", "passive": True}, 400),
    ({"serial": "12ab", "ott": "x", "passive": True}, 400),
    ({"serial": "-5", "ott": "x", "passive": True}, 400),
    ({"serial": "5", "passive": True}, 400),
    ({"serial": "5", "ott": "", "passive": True}, 400),
    ({"serial": "5", "ott": "x", "passive": True, "reasonCode": 11}, 400),
    ({"serial": "5", "ott": "x", "passive": True, "reasonCode": -1}, 400),
    ({"serial": "5", "ott": "x", "passive": "yes"}, 400),
])
def test_revoke_bad_body(api, body, status):
    assert_error(api.req("POST", "/1.0/ssh/revoke", body), status)


def test_revoke_bad_token(api):
    c = api.issue()
    assert_error(api.revoke(c.serial, "not.a.token"), 401)
    t = api.revoke_token(c.serial, prov=ExtraProvisioner(
        api.ca, api.prov.name, jwk.JWK.generate(kty="EC", crv="P-256")))
    assert_error(api.revoke(c.serial, t), 401)


# ============================================================ roots ========

@pytest.mark.parametrize("path", ["/1.0/ssh/roots", "/ssh/roots",
                                  "/1.0/ssh/federation", "/ssh/federation"])
def test_roots_and_federation(any_api, path):
    api = any_api
    r = api.req("GET", path)
    assert r.status == 200, r
    assert r.ctype == "application/json", r
    o = r.json()
    assert set(o) == {"userKey", "hostKey"}, o
    assert o["userKey"] == [base64.b64encode(api.user_ca).decode()]
    assert o["hostKey"] == [base64.b64encode(api.host_ca).decode()]
    # The same bytes as the .pub files init wrote.
    assert api.ca.user_pub.read_text().split()[1] == o["userKey"][0]
    assert api.ca.host_pub.read_text().split()[1] == o["hostKey"][0]


def test_roots_not_on_plain_listener(api):
    assert api.plain_get("/ssh/roots").status == 404


# ============================================================ config =======

def templates(api, typ, data=None):
    body = {} if typ is None else {"type": typ}
    if data is not None:
        body["data"] = data
    r = api.req("POST", "/1.0/ssh/config", body)
    assert r.status == 200, r
    assert r.ctype == "application/json", r
    o = r.json()
    assert len(o) == 1, o
    key = list(o)[0]
    out = {}
    for t in o[key]:
        assert set(t) == {"name", "type", "path", "comment", "content"}, t
        out[t["name"]] = dict(t, text=base64.b64decode(
            t["content"], validate=True).decode())
    return key, out


@pytest.mark.parametrize("typ", ["user", None, ""])
def test_config_user(api, typ, tmp_path):
    key, t = templates(api, typ)
    assert key == "userTemplates"
    kh = [v for v in t.values() if "@cert-authority" in v["text"]]
    assert len(kh) == 1, t
    line = kh[0]["text"].strip().split()
    assert line[:2] == ["@cert-authority", "*"], line
    assert base64.b64decode(line[3]) == api.host_ca
    assert line[2] == Reader(api.host_ca).string().decode()
    # The real OpenSSH takes it as a CA for any host.
    f = tmp_path / "known_hosts"
    f.write_text(kh[0]["text"])
    r = run(["ssh-keygen", "-F", "anyhost.example.com", "-f", f])
    assert "found: line 1 CA" in r.stdout, r.stdout


def test_config_host(api, tmp_path):
    key, t = templates(api, "host")
    assert key == "hostTemplates"
    sshd = [v for v in t.values() if "TrustedUserCAKeys" in v["text"]]
    assert len(sshd) == 1, t
    m = re.search(r"TrustedUserCAKeys\s+(\S+)", sshd[0]["text"])
    ca_path = m.group(1)
    capub = [v for v in t.values() if v["path"] == ca_path]
    assert len(capub) == 1, (ca_path, t)
    words = capub[0]["text"].split()
    assert base64.b64decode(words[1]) == api.user_ca
    f = tmp_path / "ca.pub"
    f.write_text(capub[0]["text"])
    assert fingerprint(api.user_ca) in run(["ssh-keygen", "-l", "-f",
                                            f]).stdout
    assert "HostCertificate" in sshd[0]["text"]


@pytest.mark.parametrize("typ", ["bogus", "USER", 5])
def test_config_bad_type(api, typ):
    assert_error(api.req("POST", "/1.0/ssh/config", {"type": typ}), 400)


# ============================================================ check-host ===

def check_host(api, principal, typ="host"):
    r = api.req("POST", "/1.0/ssh/check-host",
                {"type": typ, "principal": principal})
    return r


def test_check_host(api):
    name = api.name("web") + ".example.com"
    assert check_host(api, name).json() == {"exists": False}
    c = api.issue(cert_type="host", principals=[name, "alias-" + name])
    for p in (name, "alias-" + name):
        r = check_host(api, p)
        assert r.status == 200 and r.ctype == "application/json", r
        assert r.json() == {"exists": True}, (p, r)
    # Not a prefix, a suffix or a part of it.
    for p in (name[:-1], name + "x", "web", "example.com",
              name + ",alias-" + name):
        assert check_host(api, p).json() == {"exists": False}, p
    api.revoke_ok(c)
    assert check_host(api, name).json() == {"exists": False}


def test_check_host_principal_with_comma(api):
    """A principal is one string; "a,b" names neither a nor b. Refusing
    such a principal is as good."""
    a = api.name("ca") + ".example.com"
    b = api.name("cb") + ".example.com"
    kid = api.name("id")
    r = api.sign(key_of("p256"), api.ssh_token(kid, "host", kid,
                                               [a + "," + b]),
                 certType="host", keyID=kid, principals=[a + "," + b])
    if r.status in (400, 403):
        return
    c = api.check_201(r, key_of("p256"))
    assert c["principals"] == [a + "," + b]
    assert check_host(api, b).json() == {"exists": False}
    assert check_host(api, a).json() == {"exists": False}
    hosts = api.req("GET", "/1.0/ssh/hosts", ctx=api.client_ctx()).json()
    names = [h["hostname"] for h in hosts["hosts"]]
    assert a not in names and b not in names, names


def test_check_host_many_long_principals(api):
    """Every principal of a host certificate counts, however many and
    long they are (64 of 100 characters here), and no shortened name
    appears."""
    tag = secrets.token_hex(3)
    names = [f"{i:02d}-{tag}-" + "x" * 80 + ".example.com"
             for i in range(64)]
    c = api.issue(cert_type="host", principals=names)
    assert c["principals"] == names
    missing = [n for n in names
               if check_host(api, n).json() != {"exists": True}]
    hosts = api.req("GET", "/1.0/ssh/hosts", ctx=api.client_ctx()).json()
    listed = {h["hostname"] for h in hosts["hosts"] if tag in h["hostname"]}
    unlisted = set(names) - listed
    bogus = listed - set(names)
    assert not missing and not unlisted and not bogus, (
        f"check-host: {len(missing)} of 64 principals not found; "
        f"/ssh/hosts: {len(unlisted)} not listed, {len(bogus)} listed "
        f"that are no principal: {sorted(bogus)}")


def test_check_host_user_principal_is_not_a_host(api):
    name = api.name("usr") + ".example.com"
    api.issue(cert_type="user", principals=[name])
    assert check_host(api, name).json() == {"exists": False}


@pytest.mark.parametrize("body", [
    {"type": "user", "principal": "x.example.com"},
    {"principal": "x.example.com"},
    {"type": "host"}, {"type": "host", "principal": ""},
])
def test_check_host_bad_request(api, body):
    assert_error(api.req("POST", "/1.0/ssh/check-host", body), 400)


# ============================================================ hosts ========

def test_hosts_with_client_certificate(api):
    name = api.name("hosts") + ".example.com"
    api.issue(cert_type="host", principals=[name])
    uname = api.name("huser")
    api.issue(cert_type="user", principals=[uname])
    gone = api.name("gone") + ".example.com"
    api.revoke_ok(api.issue(cert_type="host", principals=[gone]))
    r = api.req("GET", "/1.0/ssh/hosts", ctx=api.client_ctx())
    assert r.status == 200, r
    assert r.ctype == "application/json", r
    o = r.json()
    assert set(o) == {"hosts"}
    for h in o["hosts"]:
        assert set(h) == {"hid", "host_tags", "hostname"}, h
        assert h["hid"] == "" and h["host_tags"] == []
    names = [h["hostname"] for h in o["hosts"]]
    assert len(names) == len(set(names)), "a host listed twice"
    assert name in names
    assert uname not in names
    assert gone not in names


def test_hosts_without_client_certificate(api):
    assert_error(api.req("GET", "/1.0/ssh/hosts"), 401,
                 message=UNAUTHORIZED)


def test_hosts_client_certificate_of_another_ca(api, tmp_path):
    """A certificate this CA did not issue: the handshake fails or 401."""
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1234)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, NOPASS))
    ctx = client_context(api.ca.root_pem)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    try:
        r = api.req("GET", "/1.0/ssh/hosts", ctx=ctx)
    except (OSError, http.client.HTTPException):
        return      # refused in the handshake
    assert_error(r, 401, message=UNAUTHORIZED)


# ============================================================ KRL ==========

def parse_krl(b):
    r = Reader(b)
    assert r.take(8) == b"SSHKRL\n\0"
    assert r.u32() == 1
    version, generated, flags = r.u64(), r.u64(), r.u64()
    r.string()
    r.string()
    sections = []
    while r.o < len(r.b):
        t = r.take(1)[0]
        sections.append((t, r.string()))
    return version, generated, flags, sections


@pytest.mark.parametrize("plain", [False, True])
def test_krl_lists_revocations(any_api, plain):
    api = any_api
    a = api.issue(cert_type="user")
    b = api.issue(cert_type="host")
    c = api.issue(cert_type="host")
    assert api.krl_status(api.krl(plain), a, b, c) == {
        a.serial: "ok", b.serial: "ok", c.serial: "ok"}
    api.revoke_ok(a)
    api.revoke_ok(b, api.sshpop_token(b, "revoke", sub=str(b.serial)))
    krl = api.krl(plain)
    assert api.krl_status(krl, a, b, c) == {
        a.serial: "REVOKED", b.serial: "REVOKED", c.serial: "ok"}
    version, generated, flags, sections = parse_krl(krl.read_bytes())
    near(generated, time.time())
    assert flags == 0
    # KRL_SECTION_CERTIFICATES (1), one per CA key.
    assert {t for t, _ in sections} == {1}
    cas = {Reader(d).string() for _, d in sections}
    assert cas == {api.user_ca, api.host_ca}


def test_krl_both_prefixes(api):
    for path in ("/1.0/ssh/krl", "/ssh/krl"):
        assert api.req("GET", path).status == 200
        assert api.plain_get(path).status == 200


def test_krl_renewal_not_revoked(api):
    old = api.issue(cert_type="host")
    new = api.check_201(api.renew(api.sshpop_token(old, "renew")), old.key)
    api.revoke_ok(old)
    assert api.krl_status(api.krl(True), old, new) == {
        old.serial: "REVOKED", new.serial: "ok"}


def test_krl_foreign_certificate_same_serial_ok(api, tmp_path):
    """The KRL revokes serials under this CA's keys only."""
    real = api.issue(cert_type="user")
    api.revoke_ok(real)
    ca = tmp_path / "fca"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca])
    key = Key("ed25519")
    pub = tmp_path / "u.pub"
    pub.write_text(key.line + "\n")
    run(["ssh-keygen", "-q", "-s", ca, "-I", "x", "-n", "alice",
         "-V", "-1m:+1h", "-z", str(real.serial), pub])
    line = (tmp_path / "u-cert.pub").read_text().split()
    fake = Cert(api, base64.b64decode(line[1]), key)
    assert fake.serial == real.serial
    krl = api.krl()
    assert api.krl_status(krl, real)[real.serial] == "REVOKED"
    assert api.krl_status(krl, fake)[fake.serial] == "ok"
