"""Fixtures for the signer's integration tests: real CAs on real, fresh
SoftHSM2 tokens, each made by `p11ca init --create-token` into a temporary
home, served by a real p11ca-signer that is stopped when the module ends.

The binaries come from $P11CA_BUILD (an absolute build directory), else
from <repo>/build next to this file. Nothing outside the repository is
used except temporary directories and system binaries/libraries.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import p11ca_proto as pp

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("P11CA_BUILD") or REPO / "build").resolve()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "UndefinedBehaviorSanitizer")


def _bin(name):
    p = BUILD / name
    if not p.exists():
        pytest.fail(f"{p} is missing: run 'make' first (P11CA_BUILD={BUILD})")
    return p


def run(args, check=True, timeout=120, **kw):
    """Runs a command, returning CompletedProcess with text output."""
    r = subprocess.run([str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited "
                             f"{r.returncode}\nstdout:\n{r.stdout}\n"
                             f"stderr:\n{r.stderr}")
    return r


class CA:
    """One CA home and the signer serving it."""

    def __init__(self, home, key_type):
        self.home = Path(home)
        self.key_type = key_type
        self.conf = self.home / "config" / "signer.conf"
        self.root_pem = self.home / "certs" / "root_ca.crt"
        self.inter_pem = self.home / "certs" / "intermediate_ca.crt"
        self.pin_file = self.home / "secrets" / "pin"
        self.stderr_path = self.home / "signer.stderr"
        self.proc = None
        self.init_output = ""
        self.extra_dirs = []

    # --- set-up -----------------------------------------------------------
    def init(self, name):
        r = run([_bin("p11ca"), "init", "--home", self.home,
                 "--create-token", "--key-type", self.key_type,
                 "--name", name])
        self.init_output = r.stdout + r.stderr
        for p in (self.conf, self.root_pem, self.inter_pem, self.pin_file):
            assert p.exists(), f"p11ca init did not write {p}"

    def keygen(self, label, ktype):
        run([_bin("p11ca"), "hsm", "keygen", "--home", self.home,
             "--label", label, "--type", ktype])

    def conf_lines(self):
        return self.conf.read_text().splitlines()

    def conf_value(self, directive):
        for line in self.conf_lines():
            parts = line.split(None, 1)
            if parts and parts[0] == directive:
                return parts[1].strip()
        return None

    def set_directive(self, directive, value):
        """Replaces every `directive` line with one `directive value`."""
        out, done = [], False
        for line in self.conf_lines():
            parts = line.split(None, 1)
            if parts and parts[0] == directive:
                if not done:
                    out.append(f"{directive} {value}")
                    done = True
                continue
            out.append(line)
        if not done:
            out.append(f"{directive} {value}")
        self.conf.write_text("\n".join(out) + "\n")

    def add_line(self, line):
        with open(self.conf, "a") as f:
            f.write(line + "\n")

    def use_fault_shim(self, plan):
        """Points the signer at build/libp11fault.so, wrapping the module
        it had, with `plan` as the shim's control file."""
        real = self.conf_value("module")
        self.set_directive("module", _bin("libp11fault.so"))
        self.add_line(f"module-env P11FAULT_MODULE={real}")
        self.add_line(f"module-env P11FAULT_FILE={plan}")

    @property
    def sock(self):
        return self.conf_value("socket")

    @property
    def audit(self):
        return Path(self.conf_value("audit-log"))

    @property
    def pin(self):
        return self.pin_file.read_text().strip()

    # --- the signer -------------------------------------------------------
    def start(self, ceremony=False, timeout=20):
        assert self.proc is None
        args = [str(_bin("p11ca-signer")), "-c", str(self.conf)]
        if ceremony:
            args.append("--ceremony")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"p11ca-signer exited {self.proc.returncode} at start:\n"
                    + self.stderr_text())
            try:
                c = pp.Signer(self.sock, timeout=5)
                try:
                    r = c.ping()
                    if r.status == pp.OK:
                        return
                finally:
                    c.close()
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("p11ca-signer did not answer PING:\n"
                                     + self.stderr_text())
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        self._err.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, timeout=10):
        return pp.Signer(self.sock, timeout=timeout)

    def cleanup(self):
        self.stop()
        for d in self.extra_dirs:
            shutil.rmtree(d, ignore_errors=True)


def public_dir():
    """A 0755 directory outside pytest's 0700 tree, so that another uid
    can reach a socket in it."""
    d = tempfile.mkdtemp(prefix="p11ca-sock-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def cas(tmp_path_factory):
    """Factory: cas(key_type, ...) -> a started CA, made once per module
    for each distinct set of arguments, stopped when the module ends."""
    made = {}

    def make(key_type, tag="", ssh_keys=(), public_socket=False,
             fault_plan=None, workers=None, ceremony=False):
        k = (key_type, tag)
        if k in made:
            return made[k]
        home = tmp_path_factory.mktemp(f"ca-{key_type}{tag}")
        ca = CA(home / "home", key_type)
        made[k] = ca
        ca.init(name=f"Test {key_type}{tag}")
        for name, label, ktype in ssh_keys:
            ca.keygen(label, ktype)
            ca.add_line(f"key {name} role=ssh label={label}")
        if public_socket:
            d = public_dir()
            ca.extra_dirs.append(d)
            ca.set_directive("socket", f"{d}/signer.sock")
        if fault_plan is not None:
            ca.use_fault_shim(fault_plan)
        if workers is not None:
            ca.set_directive("workers", workers)
        ca.start(ceremony=ceremony)
        return ca

    make.made = made
    yield make
    reports = []
    for ca in made.values():
        ca.cleanup()
        err = ca.stderr_text()
        for mark in SANITIZER_MARKS:
            if mark in err:
                reports.append(f"{ca.stderr_path}: {mark}")
    # A sanitizer build (make integration-san) reports memory errors on
    # stderr; the signer may well have survived them, the test must not.
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture(scope="module")
def ca_p256(cas):
    """The main CA: p256 root and intermediate, an Ed25519 and a P-256 SSH
    key, and its socket where user nobody can reach it."""
    return cas("p256", ssh_keys=(("ssh", "sshk", "ed25519"),
                                 ("sshec", "sshec", "p256")),
               public_socket=True)


@pytest.fixture(scope="module")
def fault_plan(tmp_path_factory):
    return tmp_path_factory.mktemp("fault") / "plan"


@pytest.fixture(scope="module")
def ca_fault(cas, fault_plan):
    """A p256 CA whose signer talks to SoftHSM through build/libp11fault.so."""
    return cas("p256", tag="-fault", fault_plan=fault_plan, workers=2)


def sock_connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s
