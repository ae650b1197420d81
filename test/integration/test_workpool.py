"""/sign's token and CSR checks run on the front end's workpool threads
(ca.json verifyThreads, default one per CPU; 0: on the event loop).

- With verifyThreads 0 the same answers come back: 201 with a chain that
  verifies, 400 for a bad CSR, 401 for a bad token (and its jti is not
  consumed).
- Out-of-range values stop the front end at start, naming the key.
- Reloads (SIGHUP) while requests are being checked on the threads: the
  provisioner set the threads read is freed only after its last request
  has ended. Run under ASan in CI, a use-after-free here is a failure.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from api_fixtures import (ApiCA, Provisioner, _bin, client_context, free_port,
                          https, make_csr, verify_issued_by)


def start_ca(home, threads, sign_latency_ms=None):
    ca = ApiCA(home, free_port())
    ca.init()
    if sign_latency_ms is not None:
        # A slow token (the fault shim), so that requests wait there.
        plan = home.parent / "plan"
        plan.write_text(f"latency C_Sign {sign_latency_ms}\n")
        ca.use_fault_shim(plan)
    cfg = ca.config
    if threads is not None:
        cfg["verifyThreads"] = threads
    ca.ca_json.write_text(json.dumps(cfg, indent=2))
    ca.start()
    ca.start_api()
    return ca


def sign(ca, ctx, csr_pem, ott):
    return https(ca.port, "POST", "/1.0/sign", {"csr": csr_pem, "ott": ott},
                 ctx=ctx)


@pytest.fixture(scope="module")
def inline_ca(tmp_path_factory):
    ca = start_ca(tmp_path_factory.mktemp("wp0") / "home", 0)
    yield ca
    ca.cleanup()
    assert not ca.sanitizer_reports()


def test_inline_checks_answer_as_threaded(inline_ca):
    ca = inline_ca
    ctx = client_context(ca.root_pem)
    prov = Provisioner(ca)
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    csr, _ = make_csr(key, "inline.example.com")

    r = sign(ca, ctx, csr, prov.token("inline.example.com"))
    assert r.status == 201, r
    leaf = x509.load_pem_x509_certificate(r.json()["crt"].encode())
    verify_issued_by(leaf, inter)
    assert leaf.subject.rfc4514_string() == "CN=inline.example.com"

    r = sign(ca, ctx, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
             "-----END CERTIFICATE REQUEST-----\n",
             prov.token("inline.example.com"))
    assert r.status == 400, r

    # Wrong audience: refused, and the jti stays usable.
    claims = prov.claims("inline.example.com")
    claims["aud"] = "https://127.0.0.1:1/1.0/other"
    r = sign(ca, ctx, csr, prov.sign_claims(claims))
    assert r.status == 401, r
    claims["aud"] = f"https://127.0.0.1:{ca.port}/1.0/sign"
    r = sign(ca, ctx, csr, prov.sign_claims(claims))
    assert r.status == 201, r
    # And then it is used.
    r = sign(ca, ctx, csr, prov.sign_claims(claims))
    assert r.status == 401, r


@pytest.mark.parametrize("bad", [-1, 17, "2", 1.5, None])
def test_bad_verify_threads_refused(tmp_path, bad):
    ca = ApiCA(tmp_path / "home", free_port())
    ca.init()
    cfg = ca.config
    cfg["verifyThreads"] = bad
    ca.ca_json.write_text(json.dumps(cfg, indent=2))
    try:
        r = subprocess.run([str(_bin("p11ca-api")), "-c", str(ca.ca_json)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "verifyThreads" in r.stderr, r.stderr
    finally:
        ca.cleanup()


@pytest.fixture(scope="module")
def threaded_ca(tmp_path_factory):
    ca = start_ca(tmp_path_factory.mktemp("wp2") / "home", 2)
    yield ca
    ca.cleanup()
    assert not ca.sanitizer_reports()


def test_reloads_while_checking(threaded_ca):
    """Four clients issue while the front end is reloaded 15 times: every
    request is answered 201 and the front end survives."""
    ca = threaded_ca
    ctx = client_context(ca.root_pem)
    prov = Provisioner(ca)
    inter = x509.load_pem_x509_certificate(ca.inter_pem.read_bytes())
    results, errors = [], []
    stop = threading.Event()

    def client(n):
        key = ec.generate_private_key(ec.SECP256R1())
        sub = f"c{n}.example.com"
        csr, _ = make_csr(key, sub)
        while not stop.is_set():
            try:
                r = sign(ca, ctx, csr, prov.token(sub))
            except OSError as e:
                errors.append(repr(e))
                return
            results.append(r)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    try:
        for _ in range(15):
            before = ca.api_stderr_text().count("p11ca-api: reloaded")
            os.kill(ca.api_proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while ca.api_stderr_text().count("p11ca-api: reloaded") <= before:
                assert ca.api_alive(), ca.api_stderr_text()
                assert time.monotonic() < deadline, ca.api_stderr_text()
                time.sleep(0.01)
            time.sleep(0.05)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not errors, errors
    assert ca.api_alive(), ca.api_stderr_text()
    assert len(results) >= 8, len(results)
    bad = [r for r in results if r.status != 201]
    assert not bad, bad[:3]
    for r in results[:5]:
        verify_issued_by(x509.load_pem_x509_certificate(
            r.json()["crt"].encode()), inter)


def issue_until_sigterm(ca, nclients=6, before=5):
    """Clients issue on fresh connections; once `before` certificates are
    out, SIGTERM. Returns (exit code, every answer's status or "closed")."""
    ctx = client_context(ca.root_pem)
    prov = Provisioner(ca)
    statuses, stop = [], threading.Event()

    def client(n):
        key = ec.generate_private_key(ec.SECP256R1())
        sub = f"t{n}.example.com"
        csr, _ = make_csr(key, sub)
        while not stop.is_set():
            try:
                statuses.append(sign(ca, ctx, csr, prov.token(sub)).status)
            except OSError:
                statuses.append("closed")

    workers = [threading.Thread(target=client, args=(n,))
               for n in range(nclients)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 10
    while statuses.count(201) < before and time.monotonic() < deadline:
        time.sleep(0.02)
    ca.api_proc.send_signal(signal.SIGTERM)
    rc = ca.api_proc.wait(15)
    stop.set()
    for w in workers:
        w.join(30)
    return rc, statuses


def test_sigterm_drains_requests_in_flight(tmp_path):
    """SIGTERM while clients are issuing (C_Sign slowed to 30 ms, so that
    requests are always waiting at the signer): the front end stops
    accepting, finishes what is in flight, answers it, and exits 0;
    nothing is cancelled."""
    ca = start_ca(tmp_path / "home", 2, sign_latency_ms=30)
    try:
        rc, statuses = issue_until_sigterm(ca)
        err = ca.api_stderr_text()
        assert rc == 0, err
        assert statuses.count(201) >= 5, statuses[:20]
        assert set(statuses) <= {201, 503, "closed"}, set(statuses)
        m = re.search(r"shutting down: (\d+) requests in flight", err)
        assert m and int(m.group(1)) >= 1, err
        assert "front end shutting down" not in err, err
        assert "still in flight" not in err, err
        assert "store:" in err
    finally:
        ca.cleanup()
    assert not ca.sanitizer_reports()


def test_sigterm_past_the_drain_deadline(tmp_path, monkeypatch):
    """With no time to drain (P11CA_API_DRAIN_SECONDS=0) and C_Sign at
    100 ms, requests at every stage (being checked, at the signer, in the
    store queue) are answered 503 or their connection closes, and the
    front end exits 0 with nothing leaked or touched after free
    (libevent used to abort here). Four clients keep the signer's queue
    well inside the link's 1 s deadline, so requests are still waiting
    there when it stops."""
    monkeypatch.setenv("P11CA_API_DRAIN_SECONDS", "0")
    ca = start_ca(tmp_path / "home", 2, sign_latency_ms=100)
    try:
        rc, statuses = issue_until_sigterm(ca, nclients=4, before=3)
        err = ca.api_stderr_text()
        assert rc == 0, err
        assert set(statuses) <= {201, 503, "closed"}, set(statuses)
        assert "still in flight" in err, err
        # What was cancelled said so: at the signer, or not yet checked.
        assert ("front end shutting down" in err or
                "sign: cancelled" in err), err
    finally:
        ca.cleanup()
    assert not ca.sanitizer_reports()
