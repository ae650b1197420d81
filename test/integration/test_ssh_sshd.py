"""`p11ca ssh certificate | renew | rekey | revoke | config | krl` against a
real CA, and the certificates it issues against a real OpenSSH: sshd
(/usr/sbin/sshd, started as root on loopback) and ssh.

The CA is made by `p11ca init --create-token --ssh --insecure-address`,
served by its p11ca-signer and p11ca-api. Everything the commands write
is read back with OpenSSH's own tools (ssh-keygen -L, -l, -Q) and the
CA's answers are cross-checked over HTTPS from Python, not through the
CLI.

End to end, sshd trusts only what the CLI fetched from the CA:
TrustedUserCAKeys is `p11ca ssh config --host --roots`, RevokedKeys is
`p11ca ssh krl --out`, its HostCertificate comes from `p11ca ssh
certificate --host`, and the client's known_hosts is the known_hosts
template of `p11ca ssh config`. Then (a) a p11ca user certificate logs
in, (b) one from another CA does not, (c) revoked certificates (by
provisioner token and by SSHPOP) are refused as soon as the KRL is
refreshed while fresh ones log in, and (d) the client accepts the host
certificate with only the @cert-authority line in known_hosts and
StrictHostKeyChecking=yes, and refuses without it. Host certificate
renewal and revocation are checked the same way.

sshd needs root (privilege separation, switching to the test user). Not
root, or without OpenSSH installed, the sshd tests are skipped; under CI
(CI=true, which runs as root) they fail instead, so that they cannot go
missing silently. The test user p11ca-ssh-test is made with useradd and
its password field set to '*' (no password, but not locked: '!' would
be), and removed at the end.
"""
import base64
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from api_fixtures import ApiCA, client_context, free_port, https
from conftest import SANITIZER_MARKS, _bin, run

USER = "p11ca-ssh-test"
SSHD = "/usr/sbin/sshd"
USERADD, USERMOD, USERDEL = ("/usr/sbin/useradd", "/usr/sbin/usermod",
                             "/usr/sbin/userdel")
IN_CI = os.environ.get("CI") == "true"
COMMANDS = ("certificate", "renew", "rekey", "revoke", "config", "krl")


# ------------------------------------------------------------- the CA ------

class SshCA(ApiCA):
    """An ApiCA with an SSH CA (init --ssh) and a plain-HTTP listener."""

    def __init__(self, home, port, plain_port, ssh_key_type=None):
        super().__init__(home, port)
        self.plain_port = plain_port
        self.ssh_key_type = ssh_key_type

    def init(self, name="Test SSH"):
        args = [_bin("p11ca"), "init", "--home", self.home,
                "--create-token", "--name", name,
                "--address", f"127.0.0.1:{self.port}",
                "--insecure-address", f"127.0.0.1:{self.plain_port}",
                "--ssh"]
        if self.ssh_key_type:
            args += ["--ssh-key-type", self.ssh_key_type]
        r = run(args)
        self.init_output = r.stdout + r.stderr
        for p in (self.ca_json, self.user_ca_pub, self.host_ca_pub):
            assert p.exists(), f"p11ca init --ssh did not write {p}"

    @property
    def user_ca_pub(self):
        return self.home / "certs" / "ssh_user_ca_key.pub"

    @property
    def host_ca_pub(self):
        return self.home / "certs" / "ssh_host_ca_key.pub"

    def cli(self, *args, check=True):
        """`p11ca ARGS --home HOME`; a sanitizer report fails the test."""
        return p11ca(*args, "--home", self.home, check=check)

    def get(self, path):
        return https(self.port, "GET", path,
                     ctx=client_context(self.root_pem))


def make_ca(tmp_path_factory, ssh_key_type=None):
    home = tmp_path_factory.mktemp(f"ssh-{ssh_key_type or 'p256'}") / "home"
    c = SshCA(home, free_port(), free_port(), ssh_key_type)
    c.init()
    c.start()
    c.start_api()
    return c


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    c = None
    try:
        c = make_ca(tmp_path_factory)
        yield c
    finally:
        if c is not None:
            c.cleanup()
    assert not c.sanitizer_reports(), c.sanitizer_reports()


def p11ca(*args, check=True):
    r = run([_bin("p11ca"), *args], check=check)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr
    return r


# ------------------------------------------------------------- OpenSSH -----

def keygen(path, kind="ecdsa", comment="p11ca-test", fmt=None,
           passphrase=""):
    """A key pair from ssh-keygen: path (private, 0600) and path.pub."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C",
            comment, "-f", path]
    if kind == "rsa":
        args += ["-b", "3072"]
    if fmt:
        args += ["-m", fmt]
    run(args)
    return Path(path), Path(f"{path}.pub")


def cert_info(path):
    """What ssh-keygen -L says of a certificate file."""
    out = run(["ssh-keygen", "-L", "-f", path]).stdout
    t = re.search(r"Type: (\S+) (user|host) certificate", out)
    ca = re.search(r"Signing CA: (\S+) (SHA256:\S+) \(using (\S+)\)", out)
    valid = re.search(r"Valid: from (\S+) to (\S+)", out)
    pr = out.split("Principals:", 1)[1].split("Critical Options:", 1)[0]
    return {
        "keytype": t.group(1), "type": t.group(2),
        "ca_fp": ca.group(2), "sigalg": ca.group(3),
        "key_id": re.search(r'Key ID: "(.*)"', out).group(1),
        "serial": int(re.search(r"Serial: (\d+)", out).group(1)),
        "principals": pr.split(),
        "valid": (valid.group(1), valid.group(2)),
        "text": out,
    }


def fingerprint(path):
    """SHA256:... of a public key or certificate file (ssh-keygen -l)."""
    return run(["ssh-keygen", "-l", "-f", path]).stdout.split()[1]


def key_fields(line):
    """'type base64' of a key line, options and comment dropped."""
    parts = line.split()
    if parts[0] == "@cert-authority":
        parts = parts[2:]
    return parts[0], parts[1]


def krl_serials(path):
    out = run(["ssh-keygen", "-Q", "-l", "-f", path]).stdout
    return {int(s) for s in re.findall(r"^serial: (\d+)$", out, re.M)}


def snapshot(*paths):
    return {Path(p): Path(p).read_bytes() for p in paths}


def assert_untouched(snap, absent=()):
    for p, data in snap.items():
        assert p.read_bytes() == data, f"{p} was changed"
    for p in absent:
        assert not Path(p).exists(), f"{p} was written"
    for d in {p.parent for p in list(snap) + [Path(a) for a in absent]}:
        left = [q.name for q in d.iterdir() if ".tmp" in q.name or
                ".p11ca-" in q.name]
        assert not left, f"temporary files left: {left}"


# ------------------------------------------------------------- sshd --------

def need_sshd():
    """Skips (fails under CI) unless a real sshd can be run here."""
    missing = [p for p in (SSHD, USERADD, USERMOD, USERDEL)
               if not os.access(p, os.X_OK)]
    missing += [p for p in ("ssh", "ssh-keygen") if shutil.which(p) is None]
    if os.geteuid() != 0:
        reason = ("sshd needs root (it binds, separates privileges and "
                  "switches to the test user): run as root, as CI does")
    elif missing:
        reason = (f"{', '.join(missing)} missing: install openssh-server, "
                  "openssh-client and passwd (appliance/deps.sh)")
    else:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def userdel():
    run([USERDEL, "-r", "-f", USER], check=False)


@pytest.fixture(scope="module")
def ssh_user():
    """The login account: a home, /bin/sh, password field '*'."""
    need_sshd()
    try:
        pwd.getpwnam(USER)
        userdel()           # left over by a run that was killed
    except KeyError:
        pass
    run([USERADD, "-m", "-s", "/bin/sh", USER])
    try:
        run([USERMOD, "-p", "*", USER])
        with open("/etc/shadow") as f:
            fields = [ln.split(":") for ln in f if ln.startswith(USER + ":")]
        assert fields and fields[0][1] == "*", fields
        yield USER
    finally:
        userdel()


def root_dir(prefix):
    """A directory that sshd's StrictModes takes: root's, 0755, in /tmp
    (root's, 1777), not in pytest's tree of 0700 directories."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


class Sshd:
    """A real sshd on loopback trusting one SshCA, all its files in d."""

    def __init__(self, d, ca):
        self.d, self.ca = Path(d), ca
        self.port = free_port()
        self.conf = self.d / "sshd_config"
        self.log = self.d / "sshd.log"
        self.hostkey = self.d / "ssh_host_ed25519_key"
        self.hostcert = self.d / "ssh_host_ed25519_key-cert.pub"
        self.user_ca = self.d / "user_ca.pub"
        self.krl = self.d / "revoked_keys"
        self.known_hosts = self.d / "known_hosts"
        self.proc = None
        self._log = None

    def setup(self):
        keygen(self.hostkey, "ed25519", comment="sshd-test-host")
        self.ca.cli("ssh", "certificate", "--host", "--principal",
                    "127.0.0.1", "--principal", "localhost",
                    "sshd-test-host", f"{self.hostkey}.pub")
        roots = self.ca.cli("ssh", "config", "--host", "--roots").stdout
        self.user_ca.write_text(roots)
        self.ca.cli("ssh", "krl", "--out", self.krl)
        self.known_hosts.write_text(self.ca.cli(
            "ssh", "config", "--template", "known_hosts.tpl").stdout)
        self.conf.write_text(f"""\
ListenAddress 127.0.0.1
HostKey {self.hostkey}
HostCertificate {self.hostcert}
TrustedUserCAKeys {self.user_ca}
RevokedKeys {self.krl}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile none
PermitRootLogin no
AllowUsers {USER}
StrictModes yes
PidFile {self.d}/sshd.pid
LogLevel VERBOSE
""")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        run([SSHD, "-t", "-f", self.conf])

    def start(self, timeout=10):
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.conf), "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        self.wait_listening(0, timeout)

    def wait_listening(self, off, timeout=10):
        deadline = time.monotonic() + timeout
        while "Server listening" not in self.log_since(off):
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited {self.proc.returncode}:"
                                     f"\n{self.log_since(0)}")
            if time.monotonic() > deadline:
                raise AssertionError("sshd did not start:\n" +
                                     self.log_since(0))
            time.sleep(0.02)
        socket.create_connection(("127.0.0.1", self.port), 5).close()

    def reload(self):
        """SIGHUP: sshd re-executes itself, reading its files anew."""
        off = self.log_size()
        self.proc.send_signal(signal.SIGHUP)
        self.wait_listening(off)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def log_size(self):
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, off):
        with open(self.log, "rb") as f:
            f.seek(off)
            return f.read().decode(errors="replace")

    def ssh(self, key, cert=None, known_hosts=None, opts=(),
            command="id -un", verbose=False):
        """ssh USER@127.0.0.1 COMMAND with exactly this identity."""
        args = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-i", key,
                "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", "-p", str(self.port)]
        if cert is not None:
            args += ["-o", f"CertificateFile={cert}"]
        if verbose:
            args.append("-v")
        args += [*opts, f"{USER}@127.0.0.1", command]
        return run(args, check=False, timeout=30)


def start_sshd(ca, prefix):
    d = root_dir(prefix)
    s = Sshd(d, ca)
    try:
        s.setup()
        s.start()
    except BaseException:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)
        raise
    return s


@pytest.fixture(scope="module")
def sshd(ca, ssh_user):
    s = start_sshd(ca, "p11ca-sshd-")
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.d, ignore_errors=True)


def user_cert(ca, d, name, kind="ecdsa", key_id=f"{USER}@example.com",
              extra=()):
    """A key made by ssh-keygen and its p11ca user certificate."""
    key, pub = keygen(Path(d) / name, kind)
    ca.cli("ssh", "certificate", *extra, key_id, pub)
    return key, Path(d) / f"{name}-cert.pub"


def logged_in(r):
    return r.returncode == 0 and r.stdout.strip() == USER


# ======================================================= the CLI alone =====

def test_help_for_every_command(ca):
    top = p11ca("--help").stdout
    for c in COMMANDS:
        assert f"ssh {c}" in top
        r = p11ca("ssh", c, "--help")
        assert r.stdout.startswith(f"usage: p11ca ssh {c}"), r.stdout
        assert "Exit status" in r.stdout and r.stderr == ""
        # Man-page lines: no line too long for a terminal.
        assert max(len(line) for line in r.stdout.splitlines()) <= 80


@pytest.mark.parametrize("args", [
    ["certificate"],
    ["certificate", "only-key-id"],
    ["certificate", "a", "b", "c"],
    ["certificate", "--not-after", "soon", "alice", "k.pub"],
    ["certificate", "--no-such-flag", "alice", "k.pub"],
    ["certificate", "", "k.pub"],
    ["renew", "cert-only"],
    ["rekey", "cert", "key"],
    ["revoke"],
    ["revoke", "0"],
    ["revoke", "12ab"],
    ["revoke", "18446744073709551616"],
    ["revoke", "1", "--reasonCode", "7"],
    ["revoke", "1", "--reasonCode", "noSuchReason"],
    ["revoke", "--cert", "c"],
    ["revoke", "--cert", "c", "--key", "k", "--token", "t"],
    ["revoke", "1", "2"],
    ["config", "--user", "--host"],
    ["config", "--roots", "--template", "ca.tpl"],
    ["config", "--set", "novalue"],
    ["config", "extra"],
    ["krl", "extra"],
])
def test_bad_usage_exits_2(ca, tmp_path, args):
    r = p11ca("ssh", *args, "--home", ca.home, check=False)
    assert r.returncode == 2, r
    assert r.stderr, "a usage error says why"
    assert list(tmp_path.iterdir()) == []


def test_certificate_principals_and_files(ca, tmp_path):
    """The certificate lands next to the .pub; ssh-keygen reads it; its
    principals follow step's defaults; the CA key is ca.json's."""
    user_fp, host_fp = fingerprint(ca.user_ca_pub), fingerprint(ca.host_ca_pub)
    # A user key id that is an email: the local part.
    key, pub = keygen(tmp_path / "id_ecdsa", comment="alice's laptop")
    r = ca.cli("ssh", "certificate", "alice@example.com", pub)
    crt = tmp_path / "id_ecdsa-cert.pub"
    assert f"saved in {crt}" in r.stdout
    i = cert_info(crt)
    assert (i["type"], i["key_id"], i["principals"]) == (
        "user", "alice@example.com", ["alice"])
    assert i["keytype"] == "ecdsa-sha2-nistp256-cert-v01@openssh.com"
    assert i["ca_fp"] == user_fp
    assert str(i["serial"]) in r.stdout
    assert fingerprint(crt) == fingerprint(pub)
    assert crt.read_text().rstrip("\n").endswith(" alice's laptop")
    assert stat.S_IMODE(crt.stat().st_mode) == 0o644
    # Not an email: the key id itself; a file without .pub; validity.
    key, pub = keygen(tmp_path / "bobkey", "ed25519")
    plain = tmp_path / "bobkey_plain"
    shutil.copy(pub, plain)
    ca.cli("ssh", "certificate", "--not-after", "1h", "bob", plain)
    i = cert_info(tmp_path / "bobkey_plain-cert.pub")
    assert i["principals"] == ["bob"]
    t0 = time.strptime(i["valid"][0], "%Y-%m-%dT%H:%M:%S")
    t1 = time.strptime(i["valid"][1], "%Y-%m-%dT%H:%M:%S")
    assert 3500 <= time.mktime(t1) - time.mktime(t0) <= 3700
    # A host: the key id, or the --principal names in order; --out.
    key, pub = keygen(tmp_path / "host", "rsa")
    out = tmp_path / "elsewhere-cert.pub"
    ca.cli("ssh", "certificate", "--host", "-n", "web1", "--principal",
           "10.0.0.5", "--out", out, "web1.example.com", pub)
    i = cert_info(out)
    assert (i["type"], i["key_id"], i["principals"]) == (
        "host", "web1.example.com", ["web1", "10.0.0.5"])
    assert i["ca_fp"] == host_fp
    assert not (tmp_path / "host-cert.pub").exists()
    ca.cli("ssh", "certificate", "--host", "web2.example.com", pub)
    assert cert_info(tmp_path / "host-cert.pub")["principals"] == [
        "web2.example.com"]


def test_certificate_with_a_token_made_by_ca_token(ca, tmp_path):
    tok = ca.cli("ca", "token", "carol", "--ssh", "--principal", "carol",
                 "--principal", "admin").stdout.strip()
    key, pub = keygen(tmp_path / "k")
    ca.cli("ssh", "certificate", "--token", tok, "carol", pub)
    assert cert_info(tmp_path / "k-cert.pub")["principals"] == [
        "carol", "admin"]
    # The token is spent.
    key2, pub2 = keygen(tmp_path / "k2")
    r = ca.cli("ssh", "certificate", "--token", tok, "carol", pub2,
               check=False)
    assert r.returncode == 1 and "401" in r.stderr
    assert not (tmp_path / "k2-cert.pub").exists()


def test_certificate_failures_write_nothing(ca, tmp_path):
    key, pub = keygen(tmp_path / "id")
    crt = tmp_path / "id-cert.pub"
    bad_pw = tmp_path / "wrong-password"
    bad_pw.write_text("not the password\n")
    cases = [
        (["--password-file", bad_pw], "cannot decrypt"),
        (["--not-after", "1000h"], "HTTP 403"),
        (["--ca-url", "https://127.0.0.1:1"], "cannot reach"),
        (["--provisioner", "nobody"], "no such JWK provisioner"),
    ]
    for extra, why in cases:
        r = ca.cli("ssh", "certificate", *extra, "alice", pub, check=False)
        assert r.returncode == 1, (extra, r)
        assert why in r.stderr, (extra, r.stderr)
        assert_untouched(snapshot(pub, key), absent=[crt])
    # Not a public key: a private key, a certificate, nothing.
    ca.cli("ssh", "certificate", "alice", pub)
    for wrong in (key, crt, tmp_path / "missing.pub"):
        r = ca.cli("ssh", "certificate", "alice", wrong, "--out",
                   tmp_path / "x-cert.pub", check=False)
        assert r.returncode == 1 and r.stderr, r
        assert not (tmp_path / "x-cert.pub").exists()
    # An existing certificate stays without --force, is replaced with it.
    snap = snapshot(crt)
    r = ca.cli("ssh", "certificate", "alice", pub, check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    assert_untouched(snap)
    old = cert_info(crt)["serial"]
    ca.cli("ssh", "certificate", "--force", "alice", pub)
    assert cert_info(crt)["serial"] != old


def host_cert(ca, d, name="h", kind="ed25519", fmt=None, passphrase=""):
    key, pub = keygen(Path(d) / name, kind, fmt=fmt, passphrase=passphrase)
    ca.cli("ssh", "certificate", "--host", "-n", f"{name}.example.com",
           "-n", "10.1.2.3", f"{name}.example.com", pub)
    return key, pub, Path(d) / f"{name}-cert.pub"


def test_renew_host_certificate(ca, tmp_path):
    """SSHPOP: signed by the host key as ssh-keygen wrote it (OpenSSH
    format), the certificate replaced in place, its mode kept."""
    key, pub, crt = host_cert(ca, tmp_path)
    os.chmod(crt, 0o640)
    old = cert_info(crt)
    time.sleep(1.1)   # so that the new validity starts later
    r = ca.cli("ssh", "renew", crt, key)
    new = cert_info(crt)
    assert f"saved in {crt}" in r.stdout
    assert new["serial"] != old["serial"]
    for k in ("type", "key_id", "principals", "ca_fp", "keytype"):
        assert new[k] == old[k], k
    assert new["valid"][0] > old["valid"][0]
    assert fingerprint(crt) == fingerprint(pub)
    assert stat.S_IMODE(crt.stat().st_mode) == 0o640
    # --out: CERT stays as it is.
    snap = snapshot(crt)
    out = tmp_path / "renewed-cert.pub"
    ca.cli("ssh", "renew", "--out", out, crt, key)
    assert_untouched(snap)
    assert cert_info(out)["serial"] not in (new["serial"], old["serial"])


@pytest.mark.parametrize("kind,fmt", [
    ("ecdsa", None), ("rsa", None), ("ecdsa", "PEM"), ("rsa", "PKCS8"),
    ("ed25519", None)])
def test_renew_reads_each_key_format(ca, tmp_path, kind, fmt):
    key, pub, crt = host_cert(ca, tmp_path, kind=kind, fmt=fmt)
    head = key.read_text().splitlines()[0]
    assert ("OPENSSH" in head) == (fmt is None), head
    old = cert_info(crt)["serial"]
    ca.cli("ssh", "renew", crt, key)
    assert cert_info(crt)["serial"] != old


def test_renew_encrypted_keys(ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    # PKCS#8 with a password: read with --key-password-file.
    key, pub, crt = host_cert(ca, tmp_path, "p8", "ecdsa", fmt="PKCS8",
                              passphrase="correct horse")
    assert "ENCRYPTED PRIVATE KEY" in key.read_text()
    ca.cli("ssh", "renew", crt, key, "--key-password-file", pw)
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    snap = snapshot(crt)
    r = ca.cli("ssh", "renew", crt, key, "--key-password-file", bad,
               check=False)
    assert r.returncode == 1 and "wrong password" in r.stderr
    assert_untouched(snap)
    # OpenSSH's own encryption: refused with the way out.
    key, pub, crt = host_cert(ca, tmp_path, "enc", "ed25519",
                              passphrase="correct horse")
    snap = snapshot(crt)
    r = ca.cli("ssh", "renew", crt, key, check=False)
    assert r.returncode == 1 and "ssh-keygen -p" in r.stderr, r.stderr
    assert_untouched(snap)


def test_renew_refusals_leave_the_certificate(ca, tmp_path):
    key, pub, crt = host_cert(ca, tmp_path)
    other, _, _ = host_cert(ca, tmp_path, "other")
    ukey, ucrt = user_cert(ca, tmp_path, "u", key_id="dave")
    snap = snapshot(crt, ucrt)
    for args, why in [
        ([crt, other], "is not the key of"),
        ([ucrt, ukey], "only host certificates"),
        ([pub, key], "not an OpenSSH certificate"),
        ([crt, pub], "not a private key"),
        ([crt, key, "--ca-url", "https://127.0.0.1:1"], "cannot reach"),
        ([crt, key, "--provisioner", "admin"], "HTTP 401"),
    ]:
        r = ca.cli("ssh", "renew", *args, check=False)
        assert r.returncode == 1, (args, r)
        assert why in r.stderr, (args, r.stderr)
        assert_untouched(snap)
    # Revoked: the CA says no.
    ca.cli("ssh", "revoke", str(cert_info(crt)["serial"]))
    r = ca.cli("ssh", "renew", crt, key, check=False)
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    assert_untouched(snap)


def test_rekey(ca, tmp_path):
    key, pub, crt = host_cert(ca, tmp_path)
    nkey, npub = keygen(tmp_path / "new", "ecdsa", comment="the new one")
    snap = snapshot(crt, key, pub)
    ca.cli("ssh", "rekey", crt, key, npub)
    assert_untouched(snap)
    old, new = cert_info(crt), cert_info(tmp_path / "new-cert.pub")
    assert new["serial"] != old["serial"]
    assert fingerprint(tmp_path / "new-cert.pub") == fingerprint(npub)
    for k in ("type", "key_id", "principals", "ca_fp"):
        assert new[k] == old[k], k
    assert (tmp_path / "new-cert.pub").read_text().rstrip().endswith(
        " the new one")
    # Not over an existing file without --force.
    r = ca.cli("ssh", "rekey", crt, key, npub, check=False)
    assert r.returncode == 1 and "--force" in r.stderr


def test_revoke_by_token_and_by_sshpop(ca, tmp_path):
    k1, c1 = user_cert(ca, tmp_path, "one", key_id="erin")
    k2, c2 = user_cert(ca, tmp_path, "two", key_id="erin")
    k3, c3 = user_cert(ca, tmp_path, "three", key_id="erin")
    s1, s2, s3 = (cert_info(c)["serial"] for c in (c1, c2, c3))
    r = ca.cli("ssh", "revoke", str(s1), "--reasonCode", "keyCompromise",
               "--reason", "laptop stolen")
    assert f"serial number {s1} has been revoked" in r.stdout
    r = ca.cli("ssh", "revoke", str(s1), check=False)
    assert r.returncode == 1 and "already revoked" in r.stderr
    # SSHPOP: the certificate's own key; a serial that is not its own.
    r = ca.cli("ssh", "revoke", str(s3), "--cert", c2, "--key", k2,
               check=False)
    assert r.returncode == 1 and "is not the serial number" in r.stderr
    ca.cli("ssh", "revoke", "--cert", c2, "--key", k2)
    # A token made elsewhere (as step ca token --ssh --revoke), in hex.
    tok = ca.cli("ca", "token", str(s3), "--ssh", "--revoke").stdout.strip()
    ca.cli("ssh", "revoke", hex(s3), "--token", tok)
    # A serial the CA never issued.
    r = ca.cli("ssh", "revoke", "12345", check=False)
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    krl = tmp_path / "krl"
    ca.cli("ssh", "krl", "--out", krl)
    assert {s1, s2, s3} <= krl_serials(krl)
    q = run(["ssh-keygen", "-Q", "-f", krl, c1, c2, c3], check=False)
    assert q.stdout.count("REVOKED") == 3, q.stdout


def test_config_templates_and_roots(ca):
    """What the CLI prints is what /ssh/roots and /ssh/config say."""
    roots = ca.get("/1.0/ssh/roots").json()
    user_b64, host_b64 = roots["userKey"][0], roots["hostKey"][0]
    assert key_fields(ca.user_ca_pub.read_text())[1] == user_b64
    assert key_fields(ca.host_ca_pub.read_text())[1] == host_b64
    kh = ca.cli("ssh", "config", "--template", "known_hosts.tpl").stdout
    assert kh.startswith("@cert-authority * ") and kh.count("\n") == 1
    assert key_fields(kh)[1] == host_b64
    assert key_fields(ca.cli("ssh", "config", "--roots").stdout)[1] == \
        host_b64
    assert key_fields(ca.cli("ssh", "config", "--host", "--roots",
                             ).stdout)[1] == user_b64
    assert key_fields(ca.cli("ssh", "config", "--host", "--federation",
                             ).stdout)[1] == user_b64
    # Every template, each after a comment naming it, content decoded.
    want = json.loads(https(ca.port, "POST", "/1.0/ssh/config",
                            {"type": "host"},
                            ctx=client_context(ca.root_pem)).body)
    out = ca.cli("ssh", "config", "--host").stdout
    for t in want["hostTemplates"]:
        assert f"# {t['name']}: {t['path']}" in out
        assert base64.b64decode(t["content"]).decode() in out
    sshd = ca.cli("ssh", "config", "--host", "--template",
                  "sshd_config.tpl", "--set", "Key=my_host_key",
                  "--set", "Certificate=my_host_key-cert.pub").stdout
    assert "HostKey /etc/ssh/my_host_key\n" in sshd
    assert "HostCertificate /etc/ssh/my_host_key-cert.pub\n" in sshd
    r = ca.cli("ssh", "config", "--template", "nope.tpl", check=False)
    assert r.returncode == 1 and "no template named" in r.stderr


def test_krl_over_https_and_plain_http(ca, tmp_path):
    k, c = user_cert(ca, tmp_path, "gone", key_id="frank")
    serial = cert_info(c)["serial"]
    ca.cli("ssh", "revoke", str(serial))
    a, b = tmp_path / "a.krl", tmp_path / "b.krl"
    r = ca.cli("ssh", "krl", "--out", a)
    assert f"saved in {a}" in r.stdout
    # The plain listener needs no root; stdout when it is not a terminal.
    r = subprocess.run([str(_bin("p11ca")), "ssh", "krl", "--ca-url",
                        f"http://127.0.0.1:{ca.plain_port}"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for mark in SANITIZER_MARKS:
        assert mark.encode() not in r.stderr, r.stderr
    b.write_bytes(r.stdout)
    assert r.stdout.startswith(b"SSHKRL\n\0")
    assert serial in krl_serials(a) and krl_serials(a) == krl_serials(b)
    # What the CA serves, byte for byte but for the time it was made.
    direct = ca.get("/1.0/ssh/krl").body
    assert direct[:12] == a.read_bytes()[:12]
    # A file that cannot be written: nothing left behind.
    r = ca.cli("ssh", "krl", "--out", tmp_path / "no" / "such" / "dir",
               check=False)
    assert r.returncode == 1 and r.stderr
    # Refused by the CA's TLS root check: the wrong root.
    r = ca.cli("ssh", "krl", "--out", tmp_path / "c.krl", "--root",
               c, check=False)
    assert r.returncode == 1 and not (tmp_path / "c.krl").exists()


# ======================================================= real sshd =========

def test_a_user_certificate_logs_in(ca, sshd, tmp_path):
    """(a) Keys of each kind, certified by p11ca, open a session; the
    principal is the key id's local part (step's default)."""
    for kind in ("ecdsa", "ed25519", "rsa"):
        key, crt = user_cert(ca, tmp_path, f"id_{kind}", kind)
        assert cert_info(crt)["principals"] == [USER]
        off = sshd.log_size()
        r = sshd.ssh(key, crt)
        assert logged_in(r), (kind, r, sshd.log_since(off))
        serial = cert_info(crt)["serial"]
        log = sshd.log_since(off)
        assert f"Accepted publickey for {USER}" in log, log
        assert f"ID {USER}@example.com (serial {serial})" in log, log
        assert fingerprint(ca.user_ca_pub) in log


def test_a_certificate_of_another_ca_is_refused(ca, sshd, tmp_path):
    """(b) ssh-keygen's own CA: the same key, a valid certificate with the
    right principal, refused; p11ca's certificate for it logs in."""
    cakey, capub = keygen(tmp_path / "other_ca", "ed25519")
    key, pub = keygen(tmp_path / "id", "ecdsa")
    run(["ssh-keygen", "-q", "-s", cakey, "-I", f"{USER}@example.com",
         "-n", USER, "-V", "-5m:+1h", "-z", "42", pub])
    other = tmp_path / "id-cert.pub"
    assert cert_info(other)["principals"] == [USER]
    off = sshd.log_size()
    r = sshd.ssh(key, other)
    assert r.returncode == 255 and "Permission denied" in r.stderr, r
    assert "Accepted publickey" not in sshd.log_since(off)
    ours = tmp_path / "ours-cert.pub"
    ca.cli("ssh", "certificate", "--out", ours, f"{USER}@example.com", pub)
    assert logged_in(sshd.ssh(key, ours))


def test_a_certificate_for_another_user_is_refused(ca, sshd, tmp_path):
    key, crt = user_cert(ca, tmp_path, "id", extra=("--principal", "root",
                                                    "--principal", "alice"))
    r = sshd.ssh(key, crt)
    assert r.returncode == 255 and "Permission denied" in r.stderr, r
    # A host certificate is no user certificate.
    key2, pub2 = keygen(tmp_path / "hostish")
    ca.cli("ssh", "certificate", "--host", "-n", USER, "hostish", pub2)
    r = sshd.ssh(key2, tmp_path / "hostish-cert.pub")
    assert r.returncode == 255, r


def test_revoked_certificates_are_refused(ca, sshd, tmp_path):
    """(c) Revoked by a provisioner token and by SSHPOP: sshd refuses both
    as soon as RevokedKeys is the CA's new KRL (it reads the file at each
    authentication: no restart), while fresh certificates log in."""
    k1, c1 = user_cert(ca, tmp_path, "one")
    k2, c2 = user_cert(ca, tmp_path, "two")
    assert logged_in(sshd.ssh(k1, c1)) and logged_in(sshd.ssh(k2, c2))
    s1 = cert_info(c1)["serial"]
    ca.cli("ssh", "revoke", str(s1), "--reasonCode", "keyCompromise")
    ca.cli("ssh", "revoke", "--cert", c2, "--key", k2, "--reason", "retired")
    # Until the KRL is refreshed sshd knows nothing of it.
    assert logged_in(sshd.ssh(k1, c1))
    ca.cli("ssh", "krl", "--out", sshd.krl)
    for key, crt in ((k1, c1), (k2, c2)):
        off = sshd.log_size()
        r = sshd.ssh(key, crt)
        assert r.returncode == 255 and "Permission denied" in r.stderr, r
        log = sshd.log_since(off)
        assert f"revoked by file {sshd.krl}" in log, log
    # A fresh certificate, for a fresh key and for the revoked one's key.
    k3, c3 = user_cert(ca, tmp_path, "three")
    assert logged_in(sshd.ssh(k3, c3))
    again = tmp_path / "one-again-cert.pub"
    ca.cli("ssh", "certificate", "--out", again, f"{USER}@example.com",
           f"{k1}.pub")
    assert logged_in(sshd.ssh(k1, again))
    # After a reload too.
    sshd.reload()
    assert sshd.ssh(k1, c1).returncode == 255
    assert logged_in(sshd.ssh(k3, c3))


def test_known_hosts_trusts_the_host_ca(ca, sshd, tmp_path):
    """(d) known_hosts holding only @cert-authority * HOST-CA (from p11ca
    ssh config) and StrictHostKeyChecking=yes: the host certificate is
    taken without a question; without that line it is not."""
    key, crt = user_cert(ca, tmp_path, "id")
    lines = sshd.known_hosts.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("@cert-authority * ")
    r = sshd.ssh(key, crt, verbose=True)
    assert logged_in(r), r
    serial = cert_info(sshd.hostcert)["serial"]
    assert re.search(r"Server host certificate: ssh-ed25519-cert-v01@"
                     rf"openssh.com \S+, serial {serial} ID "
                     r'"sshd-test-host" CA ', r.stderr), r.stderr
    assert "Permanently added" not in r.stderr
    assert sshd.known_hosts.read_text().splitlines() == lines
    # Empty known_hosts, another CA's line, the plain host key of another
    # host: all refused under StrictHostKeyChecking=yes.
    empty = tmp_path / "kh-empty"
    empty.write_text("")
    okey, opub = keygen(tmp_path / "someone_else", "ed25519")
    other_ca = tmp_path / "kh-other-ca"
    other_ca.write_text("@cert-authority * " + opub.read_text())
    other_key = tmp_path / "kh-other-key"
    other_key.write_text(f"[127.0.0.1]:{sshd.port} " + opub.read_text())
    for kh in (empty, other_ca, other_key):
        r = sshd.ssh(key, crt, known_hosts=kh)
        assert r.returncode == 255, (kh, r)
        assert "Host key verification failed" in r.stderr, (kh, r.stderr)
    # The CA's line, but a name the host certificate does not list.
    r = sshd.ssh(key, crt, opts=("-o", "HostKeyAlias=not-a-principal"))
    assert r.returncode == 255 and "Host key verification failed" in r.stderr


def test_host_certificate_renewed_in_place(ca, sshd, tmp_path):
    """p11ca ssh renew on sshd's own files (the key as ssh-keygen wrote
    it), SIGHUP, and clients see the new certificate."""
    key, crt = user_cert(ca, tmp_path, "id")
    old = cert_info(sshd.hostcert)
    ca.cli("ssh", "renew", sshd.hostcert, sshd.hostkey)
    new = cert_info(sshd.hostcert)
    assert new["serial"] != old["serial"]
    sshd.reload()
    r = sshd.ssh(key, crt, verbose=True)
    assert logged_in(r), r
    assert f"serial {new['serial']} " in r.stderr


def test_revoked_host_certificate_is_refused_by_the_client(ca, sshd,
                                                           tmp_path):
    """The KRL also serves ssh's RevokedHostKeys; a new host certificate
    (and a reload) puts things right."""
    key, crt = user_cert(ca, tmp_path, "id")
    krl = tmp_path / "krl"
    ca.cli("ssh", "krl", "--out", krl)
    assert logged_in(sshd.ssh(key, crt, opts=("-o", f"RevokedHostKeys={krl}")))
    ca.cli("ssh", "revoke", "--cert", sshd.hostcert, "--key", sshd.hostkey)
    ca.cli("ssh", "krl", "--out", krl)
    r = sshd.ssh(key, crt, opts=("-o", f"RevokedHostKeys={krl}"))
    assert r.returncode == 255 and "revoked" in r.stderr.lower(), r
    ca.cli("ssh", "certificate", "--host", "--force", "-n", "127.0.0.1",
           "sshd-test-host", f"{sshd.hostkey}.pub")
    sshd.reload()
    assert logged_in(sshd.ssh(key, crt, opts=("-o", f"RevokedHostKeys={krl}")))


@pytest.mark.parametrize("ssh_key_type", ["rsa2048", "ed25519", "p384"])
def test_other_ssh_ca_key_types(tmp_path_factory, ssh_user, ssh_key_type):
    """An SSH CA of each other key type, its own sshd: a user certificate
    logs in and the host certificate is trusted. An RSA CA signs with
    rsa-sha2-512 (OpenSSH 9.2 refuses ssh-rsa, SHA-1)."""
    c = s = None
    try:
        c = make_ca(tmp_path_factory, ssh_key_type)
        s = start_sshd(c, f"p11ca-sshd-{ssh_key_type}-")
        key, crt = user_cert(c, s.d, "id", "ed25519")
        i = cert_info(crt)
        want = {"rsa2048": "rsa-sha2-512", "ed25519": "ssh-ed25519",
                "p384": "ecdsa-sha2-nistp384"}[ssh_key_type]
        assert i["sigalg"] == want and cert_info(s.hostcert)["sigalg"] == want
        r = s.ssh(key, crt, verbose=True)
        assert logged_in(r), (r, s.log_since(0))
        assert "Server host certificate" in r.stderr
    finally:
        if s is not None:
            s.stop()
            shutil.rmtree(s.d, ignore_errors=True)
        if c is not None:
            c.cleanup()
            assert not c.sanitizer_reports(), c.sanitizer_reports()
