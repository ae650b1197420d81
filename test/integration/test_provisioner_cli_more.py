"""More integration tests of `p11ca ca provisioner`: the SSH duration and
renewal claims options of add and update, the lock that keeps concurrent
edits of ca.json from losing each other's change (and the atomic write
behind it), and `list --ca-url`, which reads GET /provisioners page by
page from a live p11ca-api.

Expectations come from step's manual and step-ca's ca.json: the claim
names are step-ca's (minUserSSHCertDuration, ..., enableSSHCA,
disableRenewal, allowRenewalAfterExpiry), step-ca's defaults are 5m/24h/
16h for SSH user certificates and 5m/720h/720h for SSH host
certificates, and step's client pages GET /provisioners with limit=100,
following nextCursor until it is empty.
"""
import datetime
import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwcrypto import jwk

from api_fixtures import (KEYGEN, ApiCA, client_context, free_port, https,
                          make_csr)
from conftest import SANITIZER_MARKS, _bin, run

SUB = "svc.example.com"
SSH = "ssh@example.com"
PASSWORD = "more provisioner password"

DUR_FLAGS = ["--x509-min-dur", "--x509-max-dur", "--x509-default-dur",
             "--ssh-user-min-dur", "--ssh-user-max-dur",
             "--ssh-user-default-dur", "--ssh-host-min-dur",
             "--ssh-host-max-dur", "--ssh-host-default-dur",
             "--min-user-cert-duration", "--max-user-cert-duration",
             "--default-user-cert-duration", "--min-host-cert-duration",
             "--max-host-cert-duration", "--default-host-cert-duration"]
BOOL_FLAGS = ["--ssh[=BOOL]", "--no-ssh", "--disable-renewal[=BOOL]",
              "--allow-renewal", "--allow-renewal-after-expiry[=BOOL]"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    home = tmp_path_factory.mktemp("provcli-more") / "home"
    c = ApiCA(home, free_port())
    try:
        c.init()
        c.start()
        c.start_api()
        c.pwfile = home.parent / "new-password"
        c.pwfile.write_text(PASSWORD + "\n")
        yield c
    finally:
        c.cleanup()
    assert not c.sanitizer_reports(), c.sanitizer_reports()


def no_sanitizer_report(r):
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr


def cli(*args, check=True):
    r = run([_bin("p11ca"), "ca", "provisioner", *args], check=check)
    no_sanitizer_report(r)
    return r


def p11ca(ca, *args, check=True):
    return cli(*args, "--home", ca.home, check=check)


def reloads(ca):
    return ca.api_stderr_text().count("p11ca-api: reloaded")


def wait_reload(ca, before, timeout=10):
    deadline = time.monotonic() + timeout
    while reloads(ca) <= before:
        assert ca.api_alive(), ca.api_stderr_text()
        assert time.monotonic() < deadline, \
            "p11ca-api did not reload:\n" + ca.api_stderr_text()
        time.sleep(0.02)


def edit(ca, *args):
    """Runs an editing subcommand and waits for the api to reload."""
    before = reloads(ca)
    r = p11ca(ca, *args)
    assert "SIGHUP" in r.stdout, r.stdout
    wait_reload(ca, before)
    return r


def prov(ca, name):
    got = [p for p in ca.config["authority"]["provisioners"]
           if p["name"] == name]
    assert len(got) == 1, got
    return got[0]


def url(ca):
    return f"https://127.0.0.1:{ca.port}"


def remote_list(ca, *extra):
    """The live CA's list; the root is ca.json's unless extra names one."""
    return json.loads(p11ca(ca, "list", "--ca-url", url(ca),
                            *extra).stdout)


def post_sign(ca, issuer):
    tok = run([_bin("p11ca"), "ca", "token", SUB, "--issuer", issuer,
               "--password-file", ca.pwfile, "--home", ca.home]).stdout
    pem, _ = make_csr(KEYGEN["p256"](), cn=SUB, sans=[SUB])
    return https(ca.port, "POST", "/1.0/sign",
                 body=dict(csr=pem, ott=tok.strip()),
                 ctx=client_context(ca.root_pem))


def temp_files(ca):
    d = ca.ca_json.parent
    return [n for n in os.listdir(d)
            if re.fullmatch(r"ca\.json\.(?!lock$).+", n)]


def public_jwk_file(path):
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    path.write_text(key.export_public())
    return key


# ------------------------------------------------------------ help --------

@pytest.mark.parametrize("sub", ["add", "update"])
def test_help_describes_every_claims_option(sub):
    out = cli(sub, "--help").stdout
    assert out.startswith(f"usage: p11ca ca provisioner {sub}")
    for flag in DUR_FLAGS + BOOL_FLAGS:
        assert flag in out, flag
    for claim in ("minUserSSHCertDuration", "maxUserSSHCertDuration",
                  "defaultUserSSHCertDuration", "minHostSSHCertDuration",
                  "maxHostSSHCertDuration", "defaultHostSSHCertDuration",
                  "enableSSHCA", "disableRenewal",
                  "allowRenewalAfterExpiry"):
        assert f"[{claim}]" in out, claim
    assert "--ssh=false" in out and "flock" in out and ".lock" in out


def test_list_help_describes_ca_url():
    out = cli("list", "--help").stdout
    assert "--ca-url URL" in out and "--root FILE" in out
    assert "nextCursor" in out and "GET /provisioners" in out


# ------------------------------------------------------ SSH claims -------

def test_add_with_ssh_claims(ca):
    r = edit(ca, "add", SSH, "--create", "--password-file", ca.pwfile,
             "--ssh", "--ssh-user-min-dur", "1m", "--ssh-user-max-dur", "8h",
             "--ssh-user-default-dur", "4h", "--ssh-host-min-dur", "10m",
             "--ssh-host-max-dur", "2160h", "--ssh-host-default-dur",
             "1440h", "--allow-renewal-after-expiry")
    assert f"Adding provisioner '{SSH}'" in r.stdout
    assert prov(ca, SSH)["claims"] == {
        "minUserSSHCertDuration": "1m",
        "maxUserSSHCertDuration": "8h",
        "defaultUserSSHCertDuration": "4h",
        "minHostSSHCertDuration": "10m",
        "maxHostSSHCertDuration": "2160h",
        "defaultHostSSHCertDuration": "1440h",
        "enableSSHCA": True,
        "allowRenewalAfterExpiry": True,
    }
    # The reloaded front end took the provisioner: its tokens work.
    resp = post_sign(ca, SSH)
    assert resp.status == 201, resp


def test_update_with_synonyms_and_boolean_values(ca):
    edit(ca, "update", SSH, "--min-user-cert-duration", "2m",
         "--max-user-cert-duration", "12h", "--default-user-cert-duration",
         "6h", "--min-host-cert-duration", "6m", "--max-host-cert-duration",
         "100h", "--default-host-cert-duration", "50h", "--ssh=false",
         "--disable-renewal", "--allow-renewal-after-expiry=false")
    assert prov(ca, SSH)["claims"] == {
        "minUserSSHCertDuration": "2m",
        "maxUserSSHCertDuration": "12h",
        "defaultUserSSHCertDuration": "6h",
        "minHostSSHCertDuration": "6m",
        "maxHostSSHCertDuration": "100h",
        "defaultHostSSHCertDuration": "50h",
        "enableSSHCA": False,
        "allowRenewalAfterExpiry": False,
        "disableRenewal": True,
    }
    # Go's strconv.ParseBool spellings, and the p11ca shorthands.
    edit(ca, "update", SSH, "--ssh=TRUE", "--disable-renewal=false",
         "--allow-renewal-after-expiry=1")
    c = prov(ca, SSH)["claims"]
    assert (c["enableSSHCA"], c["disableRenewal"],
            c["allowRenewalAfterExpiry"]) == (True, False, True)
    edit(ca, "update", SSH, "--no-ssh", "--disable-renewal=t")
    c = prov(ca, SSH)["claims"]
    assert (c["enableSSHCA"], c["disableRenewal"]) == (False, True)
    edit(ca, "update", SSH, "--ssh", "--allow-renewal")
    c = prov(ca, SSH)["claims"]
    assert (c["enableSSHCA"], c["disableRenewal"]) == (True, False)
    # Durations untouched by boolean edits; the api still takes it all.
    assert c["maxUserSSHCertDuration"] == "12h"
    assert post_sign(ca, SSH).status == 201


# (args, exit status, what stderr must say)
REFUSED = [
    # SSH user: min 2m, default 6h, max 12h (set by the test above).
    (("update", SSH, "--ssh-user-max-dur", "1h"), 1,
     [r"SSH user certificate durations must keep min <= default <= max",
      r"min 2m \(set in its claims\)", r"default 6h \(set in its claims\)",
      r"max 1h \(--ssh-user-max-dur\)"]),
    (("update", SSH, "--default-user-cert-duration", "13h"), 1,
     [r"SSH user", r"default 13h \(--default-user-cert-duration\)"]),
    (("update", SSH, "--ssh-host-min-dur", "101h"), 1,
     [r"SSH host", r"min 101h \(--ssh-host-min-dur\)"]),
    (("update", SSH, "--x509-min-dur", "48h"), 1,
     [r"X\.509", r"min 48h \(--x509-min-dur\)",
      r"default 24h \(step-ca's default\)"]),
    # A new provisioner inherits step-ca's 16h default for user certs.
    (("add", "short@example.com", "--create", "--password-file", "{pw}",
      "--ssh-user-max-dur", "1h"), 1,
     [r"provisioner 'short@example.com'", r"SSH user",
      r"default 16h \(step-ca's default\)", r"max 1h"]),
    (("add", "short@example.com", "--create", "--password-file", "{pw}",
      "--max-host-cert-duration", "24h"), 1,
     [r"SSH host", r"default 720h \(step-ca's default\)"]),
    (("update", SSH, "--ssh-host-min-dur", "0s"), 2,
     [r"--ssh-host-min-dur '0s': not a positive duration"]),
    (("update", SSH, "--min-host-cert-duration", "-5m"), 2,
     [r"--min-host-cert-duration '-5m': not a positive duration"]),
    (("update", SSH, "--ssh-user-default-dur", "soon"), 2,
     [r"not a positive duration"]),
    (("update", SSH, "--ssh-host-max-dur", "30d"), 2,
     [r"not a positive duration"]),
    (("update", SSH, "--ssh=maybe"), 2, [r"--ssh=maybe: not a boolean"]),
    (("update", SSH, "--disable-renewal=yes"), 2, [r"not a boolean"]),
    (("update", SSH, "--allow-renewal-after-expiry=2"), 2,
     [r"not a boolean"]),
    (("update", SSH, "--ssh", "false"), 2, []),     # "false" is an argument
    (("add", SSH, "--create", "--password-file", "{pw}"), 1,
     [r"already has a provisioner 'ssh@example.com'"]),
]


@pytest.mark.parametrize("args,status,says", REFUSED,
                         ids=[" ".join(a[0][2:]) or a[0][0]
                              for a in REFUSED])
def test_refused_edit_leaves_file_unchanged(ca, args, status, says):
    before = ca.ca_json.read_bytes()
    n = reloads(ca)
    r = p11ca(ca, *[a.format(pw=ca.pwfile) for a in args], check=False)
    assert r.returncode == status, (r.stdout, r.stderr)
    assert "p11ca:" in r.stderr or r.stderr.startswith("usage:"), r.stderr
    for pattern in says:
        assert re.search(pattern, r.stderr), (pattern, r.stderr)
    assert ca.ca_json.read_bytes() == before
    assert reloads(ca) == n
    assert temp_files(ca) == []


def lone_ca_json(ca, tmp_path, authority_claims=None):
    """A copy of ca.json with no signer (so no reload), for edits that
    must not touch the live CA."""
    cfg = ca.config
    del cfg["signer"]
    cfg["authority"]["provisioners"] = \
        cfg["authority"]["provisioners"][:1]
    if authority_claims is not None:
        cfg["authority"]["claims"] = authority_claims
    path = tmp_path / "ca.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def test_inherited_values_come_from_authority_claims(ca, tmp_path):
    path = lone_ca_json(ca, tmp_path, {"defaultUserSSHCertDuration": "1h",
                                       "maxHostSSHCertDuration": "1000h"})
    # The default of 1h comes from authority.claims: a 2h max is fine.
    r = cli("add", "a@example.com", "--create", "--password-file",
            ca.pwfile, "--ssh-user-max-dur", "2h", "--ca-config", path)
    assert "no signer socket" in r.stdout
    cfg = json.loads(path.read_text())
    assert cfg["authority"]["provisioners"][-1]["claims"] == \
        {"maxUserSSHCertDuration": "2h"}
    before = path.read_bytes()
    r = cli("update", "a@example.com", "--ssh-user-max-dur", "30m",
            "--ca-config", path, check=False)
    assert r.returncode == 1
    assert "default 1h (from authority.claims)" in r.stderr, r.stderr
    assert "max 30m (--ssh-user-max-dur)" in r.stderr, r.stderr
    r = cli("update", "a@example.com", "--ssh-host-min-dur", "1001h",
            "--ca-config", path, check=False)
    assert r.returncode == 1
    assert "max 1000h (from authority.claims)" in r.stderr, r.stderr
    assert path.read_bytes() == before


# ------------------------------------------------------------ locking ----

def spawn(ca, *args):
    return subprocess.Popen(
        [str(_bin("p11ca")), "ca", "provisioner", *map(str, args),
         "--home", str(ca.home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs, timeout=120):
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append((p.returncode, so, se))
        for mark in SANITIZER_MARKS:
            assert mark not in se, se
    return out


def wait_remote(ca, want, timeout=20):
    """Until the live CA's list has exactly the names of ca.json."""
    deadline = time.monotonic() + timeout
    while True:
        got = remote_list(ca)
        if got == want:
            return got
        assert ca.api_alive(), ca.api_stderr_text()
        assert time.monotonic() < deadline, (
            [p["name"] for p in got], [p["name"] for p in want])
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["create", "jwk-file"])
def test_concurrent_adds_lose_nothing(ca, tmp_path, kind):
    rounds = 3 if kind == "jwk-file" else 1
    names = []
    for rnd in range(rounds):
        procs = []
        for i in range(8):
            name = f"conc-{kind}-{rnd}-{i}@example.com"
            names.append(name)
            if kind == "create":
                procs.append(spawn(ca, "add", name, "--create",
                                   "--password-file", ca.pwfile,
                                   "--ssh-user-max-dur", f"{i + 17}h"))
            else:
                f = tmp_path / f"{rnd}-{i}.jwk"
                public_jwk_file(f)
                procs.append(spawn(ca, "add", name, f))
        for rc, so, se in finish(procs):
            assert rc == 0, (so, se)
            assert "Adding provisioner" in so
    cfg = ca.config     # parses: never a torn file
    got = [p["name"] for p in cfg["authority"]["provisioners"]]
    for name in names:
        assert got.count(name) == 1, (name, got)
    if kind == "create":
        for i in range(8):
            assert prov(ca, f"conc-create-0-{i}@example.com")["claims"] == \
                {"maxUserSSHCertDuration": f"{i + 17}h"}
    assert temp_files(ca) == []
    assert (ca.ca_json.parent / "ca.json.lock").exists()
    # Eight SIGHUPs in a row: the front end ends up serving all of it.
    wait_remote(ca, cfg["authority"]["provisioners"])


def test_concurrent_removes_and_updates(ca, tmp_path):
    names = [f"mixed-{i}@example.com" for i in range(16)]
    procs = []
    for i, n in enumerate(names):
        f = tmp_path / f"{i}.jwk"
        public_jwk_file(f)
        procs.append(spawn(ca, "add", n, f))
    for rc, so, se in finish(procs):
        assert rc == 0, (so, se)
    procs = [spawn(ca, "remove", n) for n in names[:8]]
    procs += [spawn(ca, "update", n, "--ssh-host-max-dur", "1000h")
              for n in names[8:]]
    for rc, so, se in finish(procs):
        assert rc == 0, (so, se)
    cfg = ca.config
    got = {p["name"]: p for p in cfg["authority"]["provisioners"]}
    for n in names[:8]:
        assert n not in got
    for n in names[8:]:
        assert got[n]["claims"] == {"maxHostSSHCertDuration": "1000h"}
    assert temp_files(ca) == []
    wait_remote(ca, cfg["authority"]["provisioners"])


def test_edit_waits_for_the_lock(ca, tmp_path):
    lock = ca.ca_json.parent / "ca.json.lock"
    f = tmp_path / "w.jwk"
    public_jwk_file(f)
    held = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        before = ca.ca_json.read_bytes()
        p = spawn(ca, "add", "waiter@example.com", f)
        time.sleep(1.0)
        assert p.poll() is None, p.communicate()
        assert ca.ca_json.read_bytes() == before
        fcntl.flock(held, fcntl.LOCK_UN)
        (rc, so, se), = finish([p])
    finally:
        os.close(held)
    assert rc == 0, (so, se)
    assert prov(ca, "waiter@example.com")["key"]["kty"] == "EC"


def test_write_keeps_mode_and_follows_symlink(ca, tmp_path):
    path = lone_ca_json(ca, tmp_path)
    os.chmod(path, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    public_jwk_file(tmp_path / "l.jwk")
    cli("add", "link@example.com", tmp_path / "l.jwk", "--ca-config", link)
    assert link.is_symlink() and os.readlink(link) == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    names = [p["name"] for p in
             json.loads(path.read_text())["authority"]["provisioners"]]
    assert names[-1] == "link@example.com"
    # The lock sits next to the target, not next to the link.
    assert (tmp_path / "ca.json.lock").exists()
    assert not (tmp_path / "link.json.lock").exists()
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["ca.json", "ca.json.lock", "link.json", "l.jwk"])


# ------------------------------------------------------- list --ca-url ---

def test_list_remote_matches_local(ca):
    local = json.loads(p11ca(ca, "list").stdout)
    assert remote_list(ca, "--root", ca.root_pem) == local
    # Without --root: the root named in ca.json.
    r = p11ca(ca, "list", "--ca-url", url(ca))
    assert json.loads(r.stdout) == local
    # Same shape, same text: the two print alike.
    assert r.stdout == p11ca(ca, "list").stdout


def other_root(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(
                now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    p = tmp_path / "other.crt"
    p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return p


def test_list_remote_errors(ca, tmp_path):
    r = p11ca(ca, "list", "--root", ca.root_pem, check=False)
    assert r.returncode == 2 and "--root needs --ca-url" in r.stderr
    r = cli("list", "--ca-url", url(ca), "--root", other_root(tmp_path),
            check=False)
    assert r.returncode == 1 and "p11ca:" in r.stderr and r.stdout == ""
    r = cli("list", "--ca-url", f"https://127.0.0.1:{free_port()}",
            "--root", ca.root_pem, check=False)
    assert r.returncode == 1 and "cannot reach" in r.stderr
    r = cli("list", "--ca-url", f"http://127.0.0.1:{ca.port}", "--root",
            ca.root_pem, check=False)
    assert r.returncode == 1 and "bad CA URL" in r.stderr


def test_list_remote_follows_next_cursor(ca):
    """More than one page (step's client asks for 100 a page): every
    provisioner once, in ca.json's order."""
    good = ca.ca_json.read_bytes()
    cfg = json.loads(good)
    provs = cfg["authority"]["provisioners"]
    extra = 230 - len(provs)
    for i in range(extra):
        key = jwk.JWK.generate(kty="EC", crv="P-256")
        pub = json.loads(key.export_public())
        pub.update(kid=key.thumbprint(), use="sig", alg="ES256")
        provs.append({"type": "JWK", "name": f"page-{i}@example.com",
                      "key": pub})
    try:
        ca.ca_json.write_text(json.dumps(cfg, indent=2))
        n = reloads(ca)
        os.kill(ca.api_proc.pid, signal.SIGHUP)
        wait_reload(ca, n)
        # The server's own pages, as step's client sees them.
        page = https(ca.port, "GET", "/provisioners?limit=100",
                     ctx=client_context(ca.root_pem)).json()
        assert len(page["provisioners"]) == 100 and page["nextCursor"]
        got = remote_list(ca, "--root", ca.root_pem)
        assert len(got) == 230
        assert got == json.loads(p11ca(ca, "list").stdout) == provs
    finally:
        ca.ca_json.write_bytes(good)
        n = reloads(ca)
        os.kill(ca.api_proc.pid, signal.SIGHUP)
        wait_reload(ca, n)
    assert remote_list(ca) == json.loads(good)["authority"]["provisioners"]
