"""The front end's own TLS certificate lives 24 hours and is renewed from
the intermediate, through the signer, before it ends (every 16 h; the
P11CA_API_RENEW_SECONDS test hook shortens that to a second here)."""
import os
import socket
import ssl
import time

import pytest
from cryptography import x509

from api_fixtures import ApiCA, free_port


def served_cert(port, cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return x509.load_der_x509_certificate(t.getpeercert(True))


@pytest.fixture(scope="module")
def renewing_ca(tmp_path_factory):
    ca = ApiCA(tmp_path_factory.mktemp("renew") / "home", free_port())
    ca.init()
    ca.start()
    os.environ["P11CA_API_RENEW_SECONDS"] = "1"
    try:
        ca.start_api()
    finally:
        del os.environ["P11CA_API_RENEW_SECONDS"]
    yield ca
    ca.cleanup()
    assert not ca.sanitizer_reports()


def test_server_certificate_is_renewed(renewing_ca):
    ca = renewing_ca
    first = served_cert(ca.port, ca.root_pem)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = served_cert(ca.port, ca.root_pem)
        if now.serial_number != first.serial_number:
            break
    assert now.serial_number != first.serial_number, "never renewed"
    # A new key each time, still verified against the root by the ssl
    # module above, same names.
    assert now.public_key().public_numbers() != \
        first.public_key().public_numbers()
    assert now.subject == first.subject
    assert "server certificate renewed" in ca.api_stderr_text()


def test_renewal_failure_keeps_serving(renewing_ca):
    """With the signer gone, renewal fails and is retried; the current
    certificate keeps serving."""
    ca = renewing_ca
    ca.stop()
    try:
        deadline = time.monotonic() + 10
        while "renewal failed" not in ca.api_stderr_text():
            assert time.monotonic() < deadline, ca.api_stderr_text()
            time.sleep(0.2)
        assert served_cert(ca.port, ca.root_pem) is not None
    finally:
        ca.start()
