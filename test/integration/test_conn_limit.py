"""The front end bounds its open TLS connections (ca.json maxConnections):
at the bound it stops accepting, so a further client's handshake waits in
the kernel's backlog until a connection closes, and then goes through. The
connections already open keep being served all along."""
import json
import socket
import ssl
import time

import pytest

from api_fixtures import ApiCA, free_port

LIMIT = 4


def handshake(port, cafile, timeout):
    ctx = ssl.create_default_context(cafile=str(cafile))
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(s, server_hostname="127.0.0.1")
    except BaseException:
        s.close()
        raise


def get_health(t):
    t.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while not data.endswith(b"}\n"):
        chunk = t.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    return data


@pytest.fixture(scope="module")
def limited_ca(tmp_path_factory):
    ca = ApiCA(tmp_path_factory.mktemp("connlimit") / "home", free_port())
    ca.init()
    cfg = ca.config
    cfg["maxConnections"] = LIMIT
    ca.ca_json.write_text(json.dumps(cfg, indent=2))
    ca.start()
    ca.start_api()
    yield ca
    ca.cleanup()
    assert not ca.sanitizer_reports()


def test_connections_beyond_the_bound_wait(limited_ca):
    ca = limited_ca
    # start_api's readiness probe may still be on its way out.
    time.sleep(0.3)
    held = [handshake(ca.port, ca.root_pem, 5) for _ in range(LIMIT)]
    try:
        with pytest.raises((socket.timeout, TimeoutError)):
            handshake(ca.port, ca.root_pem, 1).close()
        # The ones open still work.
        assert b"200 OK" in get_health(held[0])
        held.pop().close()
        t = handshake(ca.port, ca.root_pem, 5)
        assert b'{"status":"ok"}' in get_health(t)
        t.close()
    finally:
        for t in held:
            t.close()
    # All closed: back to accepting LIMIT at once.
    time.sleep(0.3)
    again = [handshake(ca.port, ca.root_pem, 5) for _ in range(LIMIT)]
    for t in again:
        t.close()


def test_bad_max_connections_refused(tmp_path):
    ca = ApiCA(tmp_path / "home", free_port())
    ca.init()
    cfg = ca.config
    cfg["maxConnections"] = 0
    ca.ca_json.write_text(json.dumps(cfg, indent=2))
    ca.start()
    try:
        with pytest.raises(AssertionError, match="maxConnections"):
            ca.start_api(timeout=5)
    finally:
        ca.cleanup()
