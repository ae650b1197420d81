"""An independent client of the signer's wire protocol (hsm/proto.h),
written from the header's description rather than from the C codec, so the
tests check the protocol and not one implementation against itself."""
import socket
import struct

VERSION = 1
PING, PUBLIC_KEY, SIGN = 1, 2, 3
RESPONSE = 0x80
KIND = {"x509": 1, "crl": 2, "ocsp": 3, "ssh": 4}
ALG = {
    "ecdsa-sha256": 1, "ecdsa-sha384": 2, "ecdsa-sha512": 3,
    "rsa-pkcs1-sha256": 4, "rsa-pkcs1-sha384": 5, "rsa-pkcs1-sha512": 6,
    "rsa-pss-sha256": 7, "rsa-pss-sha384": 8, "rsa-pss-sha512": 9,
    "ed25519": 10,
}
OK, E_UNKNOWN_KEY, E_BAD_ALG, E_REFUSED, E_HSM, E_BUSY, E_INTERNAL, \
    E_UNSUPPORTED = range(8)


def frame(ftype, fid, body=b"", status=0, version=VERSION):
    return struct.pack(">IBBHI", 8 + len(body), version, ftype, status,
                       fid) + body


def sign_body(key, kind, alg, payload):
    k = key.encode()
    return (bytes([len(k)]) + k + bytes([KIND[kind], ALG[alg]]) +
            struct.pack(">I", len(payload)) + payload)


class Reply:
    def __init__(self, ftype, status, fid, body):
        self.type, self.status, self.id, self.body = ftype, status, fid, body

    @property
    def message(self):
        (n,) = struct.unpack(">H", self.body[:2])
        assert len(self.body) == 2 + n
        return self.body[2:].decode()

    @property
    def signature(self):
        assert self.status == OK, self.message
        (n,) = struct.unpack(">H", self.body[:2])
        assert len(self.body) == 2 + n
        return self.body[2:]


class Signer:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1

    def close(self):
        self.s.close()

    def send_raw(self, data):
        self.s.sendall(data)

    def read_reply(self):
        """One frame, or None on EOF."""
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[:4 + n], self.buf[4 + n:]
                    _, ver, ftype, status, fid = struct.unpack(
                        ">IBBHI", f[:12])
                    assert ver == VERSION
                    return Reply(ftype, status, fid, f[12:])
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def request(self, ftype, body):
        fid = self.next_id
        self.next_id += 1
        self.send_raw(frame(ftype, fid, body))
        r = self.read_reply()
        assert r is not None, "signer closed the connection"
        assert r.id == fid and r.type == ftype | RESPONSE
        return r

    def ping(self):
        return self.request(PING, b"")

    def public_key(self, key):
        r = self.request(PUBLIC_KEY, bytes([len(key)]) + key.encode())
        if r.status != OK:
            return r
        (n,) = struct.unpack(">H", r.body[1:3])
        assert len(r.body) == 3 + n
        r.keytype, r.spki = r.body[0], r.body[3:]
        return r

    def sign(self, key, kind, alg, payload):
        return self.request(SIGN, sign_body(key, kind, alg, payload))
