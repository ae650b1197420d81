"""Helpers for the p11ca-api integration tests (test_api.py): a real CA made
by `p11ca init --create-token` on a free loopback port, its p11ca-signer
and its p11ca-api as child processes, an HTTPS client on the standard
library, one-time tokens minted with python3-jwcrypto from the JWK
provisioner's own (decrypted) key, and CSRs made with python3-cryptography.

Nothing here reads the product's C code: every expectation comes from
step-ca's wire behaviour and p11ca's documented decisions.
"""
import base64
import hashlib
import http.client
import ipaddress
import json
import secrets
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwe, jwk, jwt

from conftest import CA, SANITIZER_MARKS, _bin, run

DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
DELETE = object()   # a claim override that removes the claim


_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port nobody listens on right now, never handed out
    before in this run, and below the kernel's ephemeral range: a port
    from that range can be taken as the source port of any outgoing
    connection (ssh, curl, our own clients) between this call and the
    server's bind, which once made a CI run fail with EADDRINUSE."""
    low = min(_ephemeral_low(), 32768)
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, low) if low > 11000 else 0
        if port in _handed_out:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ------------------------------------------------------------- the CA ------

class ApiCA(CA):
    """A CA home, its signer (CA.start/stop) and its HTTPS front end."""

    def __init__(self, home, port, key_type="p256"):
        super().__init__(home, key_type)
        self.port = port
        self.ca_json = self.home / "config" / "ca.json"
        self.password_file = self.home / "secrets" / "password"
        self.api_stderr_path = self.home / "api.stderr"
        self.api_proc = None
        self._api_err = None

    def init(self, name="Test API"):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--key-type", self.key_type,
                 "--name", name, "--address", f"127.0.0.1:{self.port}"])
        self.init_output = r.stdout + r.stderr
        for p in (self.ca_json, self.conf, self.root_pem, self.inter_pem,
                  self.password_file):
            assert p.exists(), f"p11ca init did not write {p}"

    @property
    def config(self):
        return json.loads(self.ca_json.read_text())

    # --- the signer, killed the hard way ---------------------------------
    def kill_signer(self):
        """SIGKILL: a crash, not a shutdown (the socket file stays)."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None
        self._err.close()

    # --- the front end ---------------------------------------------------
    def start_api(self, timeout=20):
        assert self.api_proc is None
        start = self.api_stderr_text()
        self._api_err = open(self.api_stderr_path, "ab")
        self.api_proc = subprocess.Popen(
            [str(_bin("p11ca-api")), "-c", str(self.ca_json)],
            stdin=subprocess.DEVNULL, stdout=self._api_err,
            stderr=self._api_err)
        deadline = time.monotonic() + timeout
        while True:
            if self.api_proc.poll() is not None:
                raise AssertionError(
                    f"p11ca-api exited {self.api_proc.returncode} at "
                    "start:\n" + self.api_stderr_text())
            log = self.api_stderr_text()[len(start):]
            if "serving" in log:
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             timeout=2).close()
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("p11ca-api did not start serving:\n"
                                     + self.api_stderr_text())
            time.sleep(0.02)

    def stop_api(self):
        if self.api_proc is None:
            return
        if self.api_proc.poll() is None:
            self.api_proc.send_signal(signal.SIGTERM)
            try:
                self.api_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.api_proc.kill()
                self.api_proc.wait(5)
        self.api_proc = None
        self._api_err.close()

    def api_alive(self):
        return self.api_proc is not None and self.api_proc.poll() is None

    def api_stderr_text(self):
        try:
            return self.api_stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cleanup(self):
        self.stop_api()
        super().cleanup()

    def sanitizer_reports(self):
        out = []
        for path, text in ((self.api_stderr_path, self.api_stderr_text()),
                           (self.stderr_path, self.stderr_text())):
            for mark in SANITIZER_MARKS:
                if mark in text:
                    out.append(f"{path}: {mark}")
        return out


# ------------------------------------------------------------- HTTPS -------

class Resp:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status, self.reason, self.body = status, reason, body
        self.headers = {k.lower(): v for k, v in headers}
        self.elapsed = elapsed

    @property
    def ctype(self):
        return self.headers.get("content-type")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.ctype} {self.body[:300]!r}>"


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def https(port, method, path, body=None, headers=None, ctx=None,
          host="127.0.0.1", timeout=15):
    """One request on a fresh TLS connection; returns a Resp."""
    conn = http.client.HTTPSConnection(host, port, context=ctx,
                                       timeout=timeout)
    try:
        t0 = time.monotonic()
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, r.getheaders(), data,
                    time.monotonic() - t0)
    finally:
        conn.close()


# ------------------------------------------------------------- tokens ------

class Provisioner:
    """The first JWK provisioner of ca.json, with its private key."""

    def __init__(self, ca):
        p = ca.config["authority"]["provisioners"][0]
        self.name = p["name"]
        self.kid = p["key"]["kid"]
        self.public = p["key"]
        self.encrypted_key = p["encryptedKey"]
        password = ca.password_file.read_text().strip()
        e = jwe.JWE()
        e.deserialize(self.encrypted_key,
                      key=jwk.JWK.from_password(password))
        self.key = jwk.JWK.from_json(e.payload)
        assert self.key.has_private
        assert self.key.thumbprint() == self.kid
        self.port = ca.port
        self.root_fp = hashlib.sha256(x509.load_pem_x509_certificate(
            ca.root_pem.read_bytes()).public_bytes(DER)).hexdigest()

    def claims(self, sub="svc.example.com", sans=None, **over):
        now = int(time.time())
        c = {
            "aud": f"https://127.0.0.1:{self.port}/1.0/sign",
            "iss": self.name,
            "sub": sub,
            "sans": [sub] if sans is None else
                    sans if sans is DELETE else list(sans),
            "exp": now + 300,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(32),
            "sha": self.root_fp,
        }
        if c["sans"] is DELETE:
            del c["sans"]
        for k, v in over.items():
            if v is DELETE:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def sign_claims(self, claims, key=None, header=None):
        """A JWS compact made by jwcrypto (ES256 by default)."""
        h = {"alg": "ES256", "kid": self.kid, "typ": "JWT"}
        h.update(header or {})
        t = jwt.JWT(header=h, claims=claims)
        t.make_signed_token(key or self.key)
        return t.serialize()

    def token(self, sub="svc.example.com", sans=None, **over):
        return self.sign_claims(self.claims(sub, sans, **over))


def jti_of(token):
    return json.loads(b64url_decode(token.split(".")[1]))["jti"]


def raw_jws(header, claims, sig=b""):
    """A hand-made compact JWS (for alg none and other forgeries)."""
    return ".".join([b64url(json.dumps(header).encode()),
                     b64url(json.dumps(claims).encode()), b64url(sig)])


def tamper(token):
    """The token with one bit of its signature flipped."""
    h, p, s = token.split(".")
    sig = bytearray(b64url_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return ".".join([h, p, b64url(bytes(sig))])


# ------------------------------------------------------------- CSRs --------

KEYGEN = {
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
    "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def general_name(s):
    try:
        return x509.IPAddress(ipaddress.ip_address(s))
    except ValueError:
        pass
    if "://" in s:
        return x509.UniformResourceIdentifier(s)
    if "@" in s:
        return x509.RFC822Name(s)
    return x509.DNSName(s)


def make_csr(key, cn="svc.example.com", sans=None):
    """(PEM text, DER bytes) of a CSR for key; cn None: empty subject."""
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]
                  if cn is not None else []))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(
            [general_name(s) for s in sans]), critical=False)
    alg = None if isinstance(key, ed25519.Ed25519PrivateKey) else \
        hashes.SHA256()
    csr = b.sign(key, alg)
    return csr.public_bytes(PEM).decode(), csr.public_bytes(DER)


def cnf_of(csr_der):
    return {"x5rt#S256": b64url(hashlib.sha256(csr_der).digest())}


# ------------------------------------------------------------- DER ---------

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
    tag, start, end = der_read(b)
    assert end == len(b), "trailing bytes after DER value"
    out, off = [], start
    while off < end:
        _, _, e = der_read(b, off)
        out.append(b[off:e])
        off = e
    return out


def cert_serial_der(cert):
    """The raw INTEGER TLV of the certificate's serialNumber."""
    tbs = der_children(cert.tbs_certificate_bytes)
    # TBSCertificate: [0] version, serialNumber, ...
    assert tbs[0][0] == 0xa0, "no explicit v3 version"
    assert tbs[1][0] == 0x02, "serialNumber is not an INTEGER"
    return tbs[1]


# ------------------------------------------------------------- X.509 -------

def verify_issued_by(cert, issuer):
    """Raises unless issuer's key made cert's signature."""
    from cryptography.hazmat.primitives.asymmetric import padding
    pub = issuer.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(pub, rsa.RSAPublicKey):
        pub.verify(cert.signature, cert.tbs_certificate_bytes,
                   padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        pub.verify(cert.signature, cert.tbs_certificate_bytes)
    assert cert.issuer == issuer.subject


def split_pems(text):
    """The certificates of a PEM bundle, in order."""
    out, cur = [], None
    for line in text.splitlines():
        if line.strip() == "-----BEGIN CERTIFICATE-----":
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if line.strip() == "-----END CERTIFICATE-----":
                out.append(x509.load_pem_x509_certificate(
                    ("\n".join(cur) + "\n").encode()))
                cur = None
    return out


def openssl_verify(tmpdir, root_path, inter_path, leaf, purpose="sslserver"):
    """`openssl verify -x509_strict -purpose P` of leaf; CompletedProcess."""
    leaf_path = Path(tmpdir) / f"leaf-{secrets.token_hex(4)}.pem"
    leaf_path.write_bytes(leaf.public_bytes(PEM))
    return run(["openssl", "verify", "-x509_strict", "-CAfile", root_path,
                "-untrusted", inter_path, "-purpose", purpose, leaf_path],
               check=False)


def es_sign(key, header, claims, hash_alg=None, der=False):
    """A compact JWS made by hand with the EC JWK key: header as given
    (alg not checked), signature over the signing input with hash_alg
    (default: the curve's), raw r||s unless der."""
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature
    priv = serialization.load_pem_private_key(
        key.export_to_pem(private_key=True, password=None), None)
    size = (priv.curve.key_size + 7) // 8
    h = hash_alg or {256: hashes.SHA256, 384: hashes.SHA384,
                     521: hashes.SHA512}[priv.curve.key_size]()
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    sig = priv.sign(signing_input.encode(), ec.ECDSA(h))
    if not der:
        r, s = decode_dss_signature(sig)
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return signing_input + "." + b64url(sig)
