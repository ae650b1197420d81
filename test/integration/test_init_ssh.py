"""`p11ca init --ssh`: SSH user and host CA keys generated in the token.

For each SSH key type a fresh CA is made with `p11ca init --create-token
--ssh`; its files are read by OpenSSH's own tools (ssh-keygen -l, -L) and
by python3-cryptography, its signer is started on the written
config/signer.conf and asked, over its wire protocol, for the keys'
public halves and for signatures: an ssh-user key signs OpenSSH
certificate bodies that name it as signature key, and nothing else.
Without --ssh none of it appears.
"""
import base64
import datetime
import json
import os
import re
import shutil
import stat
import struct
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

import p11ca_proto as pp
from conftest import CA, SANITIZER_MARKS, _bin, run

SSH_TYPES = {
    # --ssh-key-type: (ssh-keygen -l's bits and name, wire type, SSH alg,
    #                  signature algorithm name in the blob)
    None: ("256", "ECDSA", b"ecdsa-sha2-nistp256", "ecdsa-sha256",
           b"ecdsa-sha2-nistp256"),
    "p384": ("384", "ECDSA", b"ecdsa-sha2-nistp384", "ecdsa-sha384",
             b"ecdsa-sha2-nistp384"),
    "ed25519": ("256", "ED25519", b"ssh-ed25519", "ed25519",
                b"ssh-ed25519"),
    "rsa2048": ("2048", "RSA", b"ssh-rsa", "rsa-pkcs1-sha512",
                b"rsa-sha2-512"),
}
IDS = ["p256-default" if t is None else t for t in SSH_TYPES]

PUBS = {"ssh-user": "certs/ssh_user_ca_key.pub",
        "ssh-host": "certs/ssh_host_ca_key.pub"}

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                      reason="ssh-keygen is not installed")

# ------------------------------------------------------------------ SSH ----


def sshstr(b):
    return struct.pack(">I", len(b)) + b


def ssh_read(b, off):
    (n,) = struct.unpack(">I", b[off:off + 4])
    assert off + 4 + n <= len(b), "SSH string runs past the end"
    return b[off + 4:off + 4 + n], off + 4 + n


def ssh_wire(spki_der):
    """The SSH wire form of a public key given as SPKI DER, as
    python3-cryptography writes it."""
    pub = serialization.load_der_public_key(spki_der)
    line = pub.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


LEAF = ed25519.Ed25519PrivateKey.generate()


def cert_body(ca_wire, ctype=1, keyid=b"alice@init-ssh",
              principal=b"alice"):
    """An Ed25519 certificate (PROTOCOL.certkeys) up to, not including,
    the signature, whose signature key is ca_wire: type 1 user, 2 host."""
    leaf = LEAF.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)
    t = int(time.time())
    exts = (sshstr(b"permit-pty") + sshstr(b"")) if ctype == 1 else b""
    return (sshstr(b"ssh-ed25519-cert-v01@openssh.com") +
            sshstr(os.urandom(32)) + sshstr(leaf) +
            struct.pack(">QI", 42, ctype) + sshstr(keyid) +
            sshstr(sshstr(principal)) +
            struct.pack(">QQ", t - 60, t + 3600) +
            sshstr(b"") +            # critical options
            sshstr(exts) +           # extensions
            sshstr(b"") +            # reserved
            sshstr(ca_wire))         # signature key


def cert_line(cert):
    return ("ssh-ed25519-cert-v01@openssh.com " +
            base64.b64encode(cert).decode() + "\n")


# ------------------------------------------------------------- helpers -----

def init(home, *extra, check=True):
    return run([_bin("p11ca"), "init", "--home", home, "--create-token",
                "--name", "InitSSH"] + list(extra), check=check)


def no_sanitizer_report(text):
    for mark in SANITIZER_MARKS:
        assert mark not in text, text


def read_pub(ca, name):
    """The .pub file's line split: (type, blob, comment)."""
    text = (ca.home / PUBS[name]).read_text()
    assert text.endswith("\n") and text.count("\n") == 1, text
    typ, b64, comment = text.rstrip("\n").split(" ", 2)
    return typ, base64.b64decode(b64, validate=True), comment


def conf_keys(ca):
    """signer.conf's key lines: name -> {role, label, id, ...}."""
    out = {}
    for line in ca.conf_lines():
        parts = line.split()
        if parts and parts[0] == "key":
            out[parts[1]] = dict(p.split("=", 1) for p in parts[2:])
    return out


def ca_json(ca):
    return json.loads((ca.home / "config" / "ca.json").read_text())


def public_key(ca, key):
    c = ca.client()
    try:
        r = c.public_key(key)
    finally:
        c.close()
    assert r.status == pp.OK, r.message
    return r


def sign(ca, key, kind, alg, payload):
    c = ca.client()
    try:
        return c.sign(key, kind, alg, payload)
    finally:
        c.close()


def audit_has(ca, *words):
    return any(all(w in ln for w in words)
               for ln in ca.audit.read_text().splitlines())


# ------------------------------------------------------------- fixtures ----

@pytest.fixture(scope="module")
def ssh_cas(tmp_path_factory):
    """Factory: the started CA made with `--ssh [--ssh-key-type T]`, one
    per T for the module, stopped and checked for sanitizer reports at
    its end."""
    made = {}

    def make(ktype):
        if ktype in made:
            return made[ktype]
        home = tmp_path_factory.mktemp(f"ssh-{ktype or 'default'}") / "home"
        extra = ["--ssh"] + (["--ssh-key-type", ktype] if ktype else [])
        r = init(home, *extra)
        ca = CA(home, "p256")
        ca.init_output = r.stdout + r.stderr
        made[ktype] = ca
        no_sanitizer_report(ca.init_output)
        ca.start()
        return ca

    yield make
    reports = []
    for ca in made.values():
        ca.cleanup()
        err = ca.stderr_text()
        reports += [f"{ca.stderr_path}: {m}" for m in SANITIZER_MARKS
                    if m in err]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture(params=list(SSH_TYPES), ids=IDS)
def kt(request, ssh_cas):
    """(the CA, its --ssh-key-type, what that type should give)."""
    return ssh_cas(request.param), request.param, SSH_TYPES[request.param]


# ---------------------------------------------------------------- files ----

def test_progress_and_summary(kt):
    ca, ktype, _ = kt
    name = ktype or "p256"
    out = ca.init_output
    assert f"generating {name} SSH user CA key 'ssh-user' in the token" \
        in out, out
    assert f"generating {name} SSH host CA key 'ssh-host' in the token" \
        in out, out
    # the root and intermediate keep their own (default) type
    assert "generating p256 root key in the token" in out
    for name, rel in PUBS.items():
        assert str(ca.home / rel) in out


@needs_ssh_keygen
def test_pub_files_read_by_ssh_keygen(kt):
    ca, _, (bits, label, wire_type, _, _) = kt
    fps = {}
    for name, rel in PUBS.items():
        path = ca.home / rel
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)
        typ, blob, comment = read_pub(ca, name)
        assert typ.encode() == wire_type
        assert ssh_read(blob, 0)[0] == wire_type
        what = name.split("-")[1]
        assert comment == f"InitSSH SSH {what} CA"
        out = run(["ssh-keygen", "-l", "-f", path]).stdout.split()
        # "BITS SHA256:... COMMENT... (TYPE)"
        assert out[0] == bits and out[-1] == f"({label})", out
        assert out[1].startswith("SHA256:")
        fps[name] = out[1]
        # the summary printed the same fingerprint
        assert out[1] in ca.init_output
    assert fps["ssh-user"] != fps["ssh-host"]


def test_signer_conf(kt):
    ca, _, _ = kt
    keys = conf_keys(ca)
    assert set(keys) == {"intermediate", "root", "ssh-user", "ssh-host"}
    for name in PUBS:
        k = keys[name]
        assert set(k) == {"role", "label", "id"}, k
        assert k["role"] == "ssh" and k["label"] == name
        assert re.fullmatch(r"[0-9a-f]{16}", k["id"]), k
    ids = [keys[n]["id"] for n in keys]
    assert len(set(ids)) == 4, ids
    line = f"key ssh-user role=ssh label=ssh-user id={keys['ssh-user']['id']}"
    assert line in ca.conf_lines()


def test_ca_json(kt):
    ca, _, _ = kt
    j = ca_json(ca)
    keys = conf_keys(ca)
    pct = {n: "".join("%" + keys[n]["id"][i:i + 2] for i in range(0, 16, 2))
           for n in PUBS}
    assert j["ssh"] == {
        "hostKey": f"pkcs11:id={pct['ssh-host']};object=ssh-host",
        "userKey": f"pkcs11:id={pct['ssh-user']};object=ssh-user",
        "hostPublicKey": str(ca.home / PUBS["ssh-host"]),
        "userPublicKey": str(ca.home / PUBS["ssh-user"]),
    }
    assert j["signer"]["sshUserKey"] == "ssh-user"
    assert j["signer"]["sshHostKey"] == "ssh-host"
    assert j["signer"]["key"] == "intermediate"
    provs = j["authority"]["provisioners"]
    assert [p["type"] for p in provs] == ["JWK", "SSHPOP"]
    assert provs[0]["name"] == "admin"
    assert provs[0]["claims"] == {"enableSSHCA": True}
    assert "encryptedKey" in provs[0] and "key" in provs[0]
    assert provs[1] == {"type": "SSHPOP", "name": "sshpop",
                        "claims": {"enableSSHCA": True}}


# --------------------------------------------------------------- signer ----

def test_public_keys_match_pub_files(kt):
    ca, _, _ = kt
    blobs = {}
    for name in PUBS:
        r = public_key(ca, name)
        blobs[name] = ssh_wire(r.spki)
        assert read_pub(ca, name)[1] == blobs[name]
    assert blobs["ssh-user"] != blobs["ssh-host"]


@needs_ssh_keygen
def test_user_key_signs_user_certificate(kt, tmp_path):
    ca, _, (_, label, _, alg, signame) = kt
    user = read_pub(ca, "ssh-user")[1]
    body = cert_body(user)
    r = sign(ca, "ssh-user", "ssh", alg, body)
    assert r.status == pp.OK, r.message
    blob = r.signature
    name, off = ssh_read(blob, 0)
    _, off = ssh_read(blob, off)
    assert name == signame and off == len(blob)
    cert = body + sshstr(blob)
    path = tmp_path / "id-cert.pub"
    path.write_text(cert_line(cert))
    out = run(["ssh-keygen", "-L", "-f", path]).stdout
    assert "user certificate" in out and "alice@init-ssh" in out, out
    fp = run(["ssh-keygen", "-l", "-f",
              ca.home / PUBS["ssh-user"]]).stdout.split()[1]
    assert f"Signing CA: {label} {fp}" in out, out
    # negative control: OpenSSH checks the signature it was given
    bad = bytearray(cert)
    bad[-5] ^= 1
    path.write_text(cert_line(bytes(bad)))
    assert run(["ssh-keygen", "-L", "-f", path], check=False).returncode != 0
    assert audit_has(ca, " key=ssh-user ", " kind=ssh ", " result=signed ",
                     " subject=alice@init-ssh ")


@needs_ssh_keygen
def test_host_key_signs_host_certificate(kt, tmp_path):
    ca, _, (_, _, _, alg, _) = kt
    body = cert_body(read_pub(ca, "ssh-host")[1], ctype=2,
                     keyid=b"host.example", principal=b"host.example")
    r = sign(ca, "ssh-host", "ssh", alg, body)
    assert r.status == pp.OK, r.message
    path = tmp_path / "host-cert.pub"
    path.write_text(cert_line(body + sshstr(r.signature)))
    out = run(["ssh-keygen", "-L", "-f", path]).stdout
    assert "host certificate" in out and "host.example" in out, out


def test_host_key_refuses_user_ca_body(kt):
    """The body names the user CA as signature key: the host key must not
    sign it (the certificate would not verify, and the guard says so)."""
    ca, _, (_, _, _, alg, _) = kt
    body = cert_body(read_pub(ca, "ssh-user")[1])
    r = sign(ca, "ssh-host", "ssh", alg, body)
    assert r.status == pp.E_REFUSED, (r.status, r.body)
    assert "signature key is not this CA's key" in r.message
    assert audit_has(ca, " key=ssh-host ", " kind=ssh ", " result=refused ")
    # and the other way round
    body = cert_body(read_pub(ca, "ssh-host")[1], ctype=2)
    r = sign(ca, "ssh-user", "ssh", alg, body)
    assert r.status == pp.E_REFUSED
    assert "signature key is not this CA's key" in r.message


def _x509_tbs(ca):
    """A TBSCertificate in the intermediate's name for a leaf."""
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    leaf = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "leaf.example")]))
            .issuer_name(inter.subject)
            .public_key(leaf.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(leaf, hashes.SHA256()))
    return cert.tbs_certificate_bytes


def test_ssh_keys_refuse_other_kinds(kt):
    ca, _, (_, _, _, alg, _) = kt
    # an X.509 algorithm that fits the key, so only the guard can refuse
    xalg = {"ecdsa-sha384": "ecdsa-sha384", "ecdsa-sha256": "ecdsa-sha256",
            "ed25519": "ed25519",
            "rsa-pkcs1-sha512": "rsa-pkcs1-sha256"}[alg]
    tbs = _x509_tbs(ca)
    for name in PUBS:
        for kind in ("x509", "crl", "ocsp"):
            r = sign(ca, name, kind, xalg, tbs)
            assert r.status == pp.E_REFUSED, (name, kind, r.status)
            assert "not allowed for this key" in r.message, r.message
    assert audit_has(ca, " key=ssh-user ", " kind=x509 ",
                     " result=refused ")


# ----------------------------------------------------------- regression ----

def test_without_ssh_nothing_ssh(tmp_path):
    home = tmp_path / "home"
    r = init(home)
    out = r.stdout + r.stderr
    no_sanitizer_report(out)
    assert "SSH" not in out.replace("InitSSH", ""), out
    for rel in PUBS.values():
        assert not (home / rel).exists()
    conf = (home / "config" / "signer.conf").read_text()
    assert "role=ssh" not in conf and "key ssh-" not in conf, conf
    assert [ln.split()[1] for ln in conf.splitlines()
            if ln.startswith("key ")] == ["intermediate", "root"]
    j = json.loads((home / "config" / "ca.json").read_text())
    assert "ssh" not in j
    assert "sshUserKey" not in j["signer"] and "sshHostKey" not in j["signer"]
    provs = j["authority"]["provisioners"]
    assert [p["type"] for p in provs] == ["JWK"]
    assert "claims" not in provs[0]


def test_ssh_label_taken_undoes_everything(tmp_path):
    """An existing token that already holds an 'ssh-host' key: init --ssh
    stops there, names the reason, and leaves no file behind (not the
    ssh_user_ca_key.pub it had written either)."""
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path}/tokens\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    pin = tmp_path / "pin"
    pin.write_text("87654321\n")
    pin.chmod(0o600)
    run(["softhsm2-util", "--init-token", "--free", "--label", "pre",
         "--so-pin", "12345678", "--pin", "87654321"], env=env)
    h0 = tmp_path / "h0"
    (h0 / "config").mkdir(parents=True)
    (h0 / "config" / "signer.conf").write_text(
        "module /usr/lib/softhsm/libsofthsm2.so\n"
        f"module-env SOFTHSM2_CONF={conf}\ntoken-label pre\n"
        f"pin-source file:{pin}\nsocket {tmp_path}/s.sock\n"
        f"audit-log {tmp_path}/audit.log\nallow-uid {os.getuid()}\n"
        "key x role=ssh label=x\n")
    run([_bin("p11ca"), "hsm", "keygen", "--home", h0, "--label",
         "ssh-host"], env=env)
    home = tmp_path / "home"
    r = run([_bin("p11ca"), "init", "--home", home, "--token-label", "pre",
             "--pin-file", pin, "--ssh"], env=env, check=False)
    no_sanitizer_report(r.stdout + r.stderr)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "already holds an object labelled 'ssh-host'" in r.stderr
    assert "init failed; what it had created was removed" in r.stderr
    left = [p for p in home.rglob("*") if p.is_file()]
    assert left == [], left


def test_ssh_key_type_needs_ssh(tmp_path):
    home = tmp_path / "home"
    r = init(home, "--ssh-key-type", "ed25519", check=False)
    assert r.returncode == 2
    assert "--ssh-key-type needs --ssh" in r.stderr, r.stderr
    assert not home.exists()
    r = init(home, "--ssh", "--ssh-key-type", "dsa1024", check=False)
    assert r.returncode == 2
    assert "unknown SSH key type 'dsa1024'" in r.stderr, r.stderr
    assert not home.exists()


def test_help_documents_flags():
    r = run([_bin("p11ca"), "init", "--help"])
    text = r.stdout
    assert re.search(r"^  --ssh  +also generate two SSH CA keys", text,
                     re.M), text
    assert re.search(r"^  --ssh-key-type TYPE  +", text, re.M), text
    for word in ("ssh-user", "ssh-host", "ssh_user_ca_key.pub",
                 "ssh_host_ca_key.pub", "role=ssh", "SSHPOP",
                 "enableSSHCA", "p256 (default)", "ed25519", "rsa4096"):
        assert word in text, word
