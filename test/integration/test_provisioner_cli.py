"""Integration tests of `p11ca ca provisioner list|add|update|remove|
jwe-key` against a real CA: a home made by `p11ca init --create-token`,
its p11ca-signer and a p11ca-api that is reloaded by SIGHUP (sent by the
command through the api's pid file) and never restarted.

Expectations come from `step ca provisioner`'s behaviour and step-ca's
wire answers (201 for a good token, 401 for an unknown provisioner, 403
for a duration outside the claims).
"""
import http.client
import json
import os
import signal
import time

import pytest
from jwcrypto import jwe, jwk

from api_fixtures import KEYGEN, ApiCA, client_context, free_port, make_csr
from conftest import _bin, run

SUB = "svc.example.com"
NEW = "ops@example.com"
PASSWORD = "new provisioner password"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    home = tmp_path_factory.mktemp("provcli") / "home"
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


def p11ca(ca, *args, check=True):
    return run([_bin("p11ca"), "ca", "provisioner", *args, "--home",
                ca.home], check=check)


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


def token(ca, issuer, password_file):
    r = run([_bin("p11ca"), "ca", "token", SUB, "--issuer", issuer,
             "--password-file", password_file, "--home", ca.home])
    return r.stdout.strip()


def sign_body(tok, **extra):
    pem, _ = make_csr(KEYGEN["p256"](), cn=SUB, sans=[SUB])
    return json.dumps(dict(csr=pem, ott=tok, **extra)).encode()


def post_sign(conn, tok, **extra):
    conn.request("POST", "/1.0/sign", body=sign_body(tok, **extra),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def connect(ca):
    return http.client.HTTPSConnection("127.0.0.1", ca.port, timeout=15,
                                       context=client_context(ca.root_pem))


def test_help(ca):
    for sub in ("list", "add", "update", "remove", "jwe-key"):
        r = run([_bin("p11ca"), "ca", "provisioner", sub, "--help"])
        assert r.stdout.startswith("usage: p11ca ca provisioner " + sub)
    assert "p11ca-api.pid" in run([_bin("p11ca-api"), "--help"]).stdout


def test_pid_file(ca):
    pidfile = ca.home / "run" / "p11ca-api.pid"
    assert int(pidfile.read_text()) == ca.api_proc.pid


def test_list_shows_init_provisioner(ca):
    got = json.loads(p11ca(ca, "list").stdout)
    assert got == ca.config["authority"]["provisioners"]
    assert len(got) == 1 and got[0]["type"] == "JWK"
    assert got[0]["key"]["kid"] == jwk.JWK(**got[0]["key"]).thumbprint()


def test_add_create_reload_keeps_connections(ca):
    pid = ca.api_proc.pid
    conn = connect(ca)          # keep-alive, opened before the reload
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        r = edit(ca, "add", NEW, "--create", "--password-file", ca.pwfile)
        assert f"Adding provisioner '{NEW}'" in r.stdout
        provs = ca.config["authority"]["provisioners"]
        assert [p["name"] for p in provs][1:] == [NEW]
        new = provs[1]
        assert new["key"]["kid"] == jwk.JWK(**new["key"]).thumbprint()
        assert new["key"]["crv"] == "P-256" and "d" not in new["key"]
        status, body = post_sign(conn, token(ca, NEW, ca.pwfile))
        assert status == 201, body
        assert ca.api_proc.pid == pid and ca.api_alive()
    finally:
        conn.close()


def test_jwe_key_decrypts_with_password(ca):
    new = ca.config["authority"]["provisioners"][1]
    kid = new["key"]["kid"]
    local = p11ca(ca, "jwe-key", kid).stdout.strip()
    remote = run([_bin("p11ca"), "ca", "provisioner", "jwe-key", kid,
                  "--ca-url", f"https://127.0.0.1:{ca.port}", "--root",
                  ca.root_pem]).stdout.strip()
    assert local == remote == new["encryptedKey"]
    e = jwe.JWE()
    e.deserialize(local, key=jwk.JWK.from_password(PASSWORD))
    assert json.loads(e.objects["protected"])["alg"] == "PBES2-HS256+A128KW"
    key = jwk.JWK.from_json(e.payload)
    assert key.has_private and key.thumbprint() == kid


def test_update_claims(ca):
    r = edit(ca, "update", NEW, "--x509-max-dur", "1h",
             "--x509-default-dur", "30m", "--disable-renewal")
    assert "maxTLSCertDuration" in r.stdout
    claims = ca.config["authority"]["provisioners"][1]["claims"]
    assert claims == {"maxTLSCertDuration": "1h",
                      "defaultTLSCertDuration": "30m",
                      "disableRenewal": True}
    conn = connect(ca)
    try:
        status, body = post_sign(conn, token(ca, NEW, ca.pwfile),
                                 notAfter="2h")
        assert status == 403, body
        status, body = post_sign(conn, token(ca, NEW, ca.pwfile),
                                 notAfter="45m")
        assert status == 201, body
    finally:
        conn.close()


@pytest.mark.parametrize("args", [
    ("add", NEW, "--create", "--password-file", "{pw}"),   # duplicate name
    ("add", "nopw@example.com", "--create"),               # no password
    ("add", "x@example.com", "--create", "--type", "OIDC",
     "--password-file", "{pw}"),
    ("update", NEW, "--x509-min-dur", "2h"),                # min > max
    ("update", NEW, "--x509-max-dur", "soon"),
    ("update", "nobody@example.com", "--ssh"),
    ("update", NEW),                                        # nothing to do
    ("remove", "nobody@example.com"),
    ("remove", NEW, "--kid", "not-its-kid"),
])
def test_invalid_edits_leave_file_unchanged(ca, args):
    before = ca.ca_json.read_bytes()
    n = reloads(ca)
    r = p11ca(ca, *[a.format(pw=ca.pwfile) for a in args], check=False)
    assert r.returncode != 0, r.stdout
    assert "p11ca:" in r.stderr
    assert ca.ca_json.read_bytes() == before
    assert reloads(ca) == n


def test_bad_file_on_sighup_keeps_serving(ca):
    good = ca.ca_json.read_bytes()
    cfg = json.loads(good)
    cfg["authority"]["provisioners"][1]["claims"]["maxTLSCertDuration"] = "x"
    try:
        ca.ca_json.write_text(json.dumps(cfg))
        log = len(ca.api_stderr_text())
        os.kill(ca.api_proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload refused" not in ca.api_stderr_text()[log:]:
            assert time.monotonic() < deadline, ca.api_stderr_text()
            time.sleep(0.02)
    finally:
        ca.ca_json.write_bytes(good)
    conn = connect(ca)
    try:
        # Still the old claims: 45m is allowed, 2h is not.
        status, body = post_sign(conn, token(ca, NEW, ca.pwfile),
                                 notAfter="45m")
        assert status == 201, body
    finally:
        conn.close()


def test_remove_then_401(ca):
    kept = token(ca, NEW, ca.pwfile)
    r = edit(ca, "remove", NEW)
    assert f"Removing provisioner '{NEW}'" in r.stdout
    assert [p["name"] for p in ca.config["authority"]["provisioners"]] \
        != [] and NEW not in [p["name"] for p in
                              ca.config["authority"]["provisioners"]]
    conn = connect(ca)
    try:
        status, body = post_sign(conn, kept)
        assert status == 401, body
    finally:
        conn.close()


def test_add_jwk_file(ca, tmp_path):
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = tmp_path / "pub.jwk"
    pub.write_text(key.export_public())
    priv = tmp_path / "priv.jwk"
    priv.write_text(key.export_private())
    # A private JWK is not stored without a password.
    before = ca.ca_json.read_bytes()
    assert p11ca(ca, "add", "file@example.com", priv,
                 check=False).returncode != 0
    assert ca.ca_json.read_bytes() == before
    edit(ca, "add", "file@example.com", priv, "--password-file", ca.pwfile)
    p = ca.config["authority"]["provisioners"][-1]
    assert p["key"]["kid"] == key.thumbprint() and "encryptedKey" in p
    status, body = post_sign(connect(ca), token(ca, "file@example.com",
                                                ca.pwfile))
    assert status == 201, body
    edit(ca, "remove", "file@example.com", "--kid", key.thumbprint())
    edit(ca, "add", "pub@example.com", pub)
    p = ca.config["authority"]["provisioners"][-1]
    assert p["name"] == "pub@example.com" and "encryptedKey" not in p
