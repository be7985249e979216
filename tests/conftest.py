"""Shared fixtures: a real redis-server for the session, a ``storage`` on both backends, and
settings isolated from the checkout (a throw-away data directory with the sample library
embedded once per session)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from knowledge.base import KnowledgeBase
from knowledge.sample import ensure_sample_library
from tests.storage_backends import Backend, FakeClock, free_port

REDIS_START_TIMEOUT_S = 10.0


@pytest.fixture(scope="session")
def sample_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge-base directory holding the embedded sample library (embedding is slow)."""
    path = tmp_path_factory.mktemp("sample-kb") / "kb"
    knowledge = KnowledgeBase.open(load_settings(kb_dir=path))
    try:
        ensure_sample_library(knowledge)
    finally:
        knowledge.close()
    return path


@pytest.fixture(scope="session")
def sample_knowledge(sample_kb_dir: Path) -> Iterator[KnowledgeBase]:
    """The embedded sample library, opened once for the session (read-only use)."""
    knowledge = KnowledgeBase.open(load_settings(kb_dir=sample_kb_dir))
    yield knowledge
    knowledge.close()


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(
    tmp_path_factory: pytest.TempPathFactory, sample_kb_dir: Path
) -> Iterator[None]:
    """Settings built in tests never touch the checkout's ./data (nor a developer's .env)."""
    data = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VREP_DATA_DIR", str(data))
        patch.setenv("VREP_KB_DIR", str(sample_kb_dir))
        patch.setenv("VREP_PV_EXPORT_DIR", str(data / "pv"))
        yield


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a throw-away redis-server on a free loopback port; stop it after the session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: the Redis leg of the suite must run. "
            "Install it with `make redis-server` (apt-get install redis-server) and retry."
        )
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir)]
    with (workdir / "redis.log").open("wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while not _answers_ping(port):
            if server.poll() is not None or time.monotonic() > deadline:
                output = (workdir / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server did not start on port {port}:\n{output}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        made = Backend("memory", MemoryStorage(clock=clock), clock=clock)
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"test-{uuid.uuid4().hex[:12]}:"  # a fresh key space for every test
        made = Backend("redis", RedisStorage.from_url(url, prefix=prefix), None, url, prefix)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def storage(backend: Backend) -> Storage:
    return backend.storage


@pytest.fixture(scope="session")
def qa_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The knowledge base over the Q&A test library, opened once per session."""
    base = pytest.importorskip("knowledge.base", reason="the knowledge base has not landed")
    from bot.settings import Settings
    from tests.qa_support import LIBRARY

    directory = tmp_path_factory.mktemp("qa-kb")
    kb = base.KnowledgeBase.open(Settings(kb_dir=directory, kb_sample_library=False))
    report = kb.ingest_paths([LIBRARY])
    assert not report.refused, report.refused
    try:
        yield kb
    finally:
        kb.close()
