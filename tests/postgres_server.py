"""A throw-away PostgreSQL cluster on a free loopback port, for the records suite.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user (created by Debian's package) and its commands run through ``setpriv``; as any other user
it is that user's. Data and socket live in a fresh temporary directory, removed on ``stop``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.storage_backends import free_port

START_TIMEOUT_S = 30.0


class PostgresServerError(RuntimeError):
    """PostgreSQL is missing or did not come up."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresServerError(
            "PostgreSQL is not installed: the PostgreSQL leg of the records suite must run. "
            "Install it with `make test-packages` (apt-get install postgresql) and retry."
        )
    return Path(initdb).parent


class PostgresServer:
    def __init__(self) -> None:
        self._bin = _bindir()
        self._root = Path(tempfile.mkdtemp(prefix="vrep-pg-"))
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresServerError("running as root needs the 'postgres' user") from None
            os.chown(self._root, owner.pw_uid, owner.pw_gid)
            self._as = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}"]
            self._as += ["--init-groups", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as, *command], capture_output=True, text=True, cwd=self._root, check=False
        )
        if result.returncode != 0:
            raise PostgresServerError(f"{command[0]} failed: {result.stderr[-2000:]}")

    def start(self) -> None:
        data = self._root / "data"
        self._run(
            str(self._bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self._root / "log"),
            "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start",
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(
            [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            check=False,
        ).returncode:
            if time.monotonic() > deadline:
                raise PostgresServerError(f"PostgreSQL did not answer on port {self.port}")
            time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """A fresh empty database on this server; its async URL."""
        self._run(
            str(self._bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", name,
        )  # fmt: skip
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        with contextlib.suppress(PostgresServerError):
            self._run(
                str(self._bin / "pg_ctl"), "-D", str(self._root / "data"), "-m", "immediate", "stop"
            )
        shutil.rmtree(self._root, ignore_errors=True)
