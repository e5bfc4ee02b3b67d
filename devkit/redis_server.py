"""A throwaway ``redis-server`` on a free loopback port, for tests and benchmarks.

No persistence (``--save ''``, ``--appendonly no``) and a private working directory, so nothing is
left behind. ``RedisServer(tls=True)`` serves TLS only (``rediss://``, as ApsaraDB for Redis / Tair
offer it) with a throwaway self-signed certificate for 127.0.0.1, whose path is ``ca_file``.
A missing ``redis-server`` is an error, never a reason to skip: the token table's Redis backend is
only trusted against a real server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _self_signed(cert_file: Path, key_file: Path) -> None:
    """A one-day self-signed certificate for 127.0.0.1 (the server's and the client's CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class RedisServer:
    """``with RedisServer() as server:`` runs a private redis-server; ``server.url`` reaches db 0."""

    def __init__(
        self, executable: str = "redis-server", startup_timeout: float = 10.0, *, tls: bool = False
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise RuntimeError(f"{executable} not found on PATH: install it (make system-deps)")
        self.executable = found
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="snapstack-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.tls = tls
        self.ca_file = self._workdir / "server.pem"

    @property
    def url(self) -> str:
        """The URL of database 0: ``redis://``, or ``rediss://`` trusting ``ca_file`` when TLS."""
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_file}"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The server's process id (for pausing it with SIGSTOP in fault tests)."""
        if self._process is None:
            raise RuntimeError("the redis-server is not running")
        return self._process.pid

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        log = (self._workdir / "redis.log").open("wb")
        listen = ["--port", str(self.port)]
        if self.tls:
            key_file = self._workdir / "server.key"
            _self_signed(self.ca_file, key_file)
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.ca_file),
                      "--tls-key-file", str(key_file), "--tls-auth-clients", "no"]  # fmt: skip
        self._process = subprocess.Popen(
            [self.executable, *listen, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + self.startup_timeout
        while not (_accepts(self.port) if self.tls else _answers_ping(self.port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = (self._workdir / "redis.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{output}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Terminate the server (killing it if it does not exit) and remove its directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
