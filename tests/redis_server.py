"""A real redis-server on a loopback port that a test can stop and start again.

The session fixture (``tests/conftest.py``) runs one for the whole suite; outage tests run a
dedicated one, stop it to cut Redis off under a running app, and start it again on the same
port and directory. Every server persists with AOF, as the bot requires in production;
``persistent=True`` fsyncs every write, so the data survives even a kill. ``appendonly=False``
starts the volatile server the bot refuses.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.storage_backends import free_port

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class RedisServerError(RuntimeError):
    """redis-server is missing or did not come up."""


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process bound to 127.0.0.1 (``start`` and ``stop`` may repeat)."""

    def __init__(self, workdir: Path, *, persistent: bool = False, appendonly: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError(
                "redis-server is not installed: the Redis leg of the suite must run. "
                "Install it with `make test-packages` (apt-get install redis-server) and retry."
            )
        self._binary = binary
        self._workdir = workdir
        self._persistent = persistent
        self._appendonly = appendonly
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self._workdir / "redis.log"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        command = [self._binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--dir", str(self._workdir)]
        if not self._appendonly:
            command += ["--appendonly", "no"]
        else:
            fsync = "always" if self._persistent else "everysec"
            command += ["--appendonly", "yes", "--appendfsync", fsync]
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RedisServerError(f"redis-server did not start on port {self.port}:\n{output}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers); a no-op when not running."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
