"""Shared fixtures: a real redis-server for the session, a ``storage`` on every backend, and
settings isolated from the checkout (a throw-away data directory with the sample library
embedded once per session).

Settings built in tests default to ``VREP_EMBEDDED_STORAGE=memory``, so unrelated tests never
share one SQLite file through the session's data directory; a test of the durable default asks
for ``embedded_storage="sqlite"`` with its own ``data_dir``."""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_timeout

from bot.settings import load_settings
from bot.storage import lease
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage
from knowledge.base import KnowledgeBase
from knowledge.sample import ensure_sample_library
from tests.redis_server import RedisServer, RedisServerError
from tests.storage_backends import Backend, FakeClock, Renewals


def _embed_sample_library(path: Path) -> None:
    knowledge = KnowledgeBase.open(load_settings(kb_dir=path))
    try:
        ensure_sample_library(knowledge)
    finally:
        knowledge.close()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (make test) runs two workers at most: the suite's waits (subprocess start-ups,
    servers, retries) overlap on two cores; more workers would only contend for them."""
    return max(1, min(2, len(os.sched_getaffinity(0))))


SESSION_SET_UP_S = 1800.0
"""What the first test of a process may take on top of its timeout: it builds the session's
fixtures, the sample library's embedding above all (about a minute on a free core, several
when both cores are busy)."""
_session_set_up: list[bool] = []


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Give the first test of this process ``SESSION_SET_UP_S`` more than its timeout, so the
    timeout bounds a test's own work, not the one-off set-up of the session (a test that
    happened to run first failed at 180 s on a machine with load 28, issue 22)."""
    if _session_set_up:
        return None  # pytest-timeout's own timer, unchanged
    _session_set_up.append(True)
    longer = settings._replace(timeout=settings.timeout + SESSION_SET_UP_S)
    return bool(pytest_timeout.pytest_timeout_set_timer(item, longer))


@pytest.fixture(scope="session")
def sample_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge-base directory holding the embedded sample library (embedding is slow).

    Under pytest-xdist (``make test``) the first worker embeds it once, under a file lock in
    the run's shared temporary directory, and every worker copies the result into its own
    directory: each process then has a library nobody else opens, as in a serial run."""
    path = tmp_path_factory.mktemp("sample-kb") / "kb"
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        _embed_sample_library(path)
        return path
    run_root = tmp_path_factory.getbasetemp().parent  # shared by this run's workers only
    built, done = run_root / "sample-kb", run_root / "sample-kb.done"
    with (run_root / "sample-kb.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(built, ignore_errors=True)  # a worker that failed half-way
            _embed_sample_library(built)
            done.touch()
    shutil.copytree(built, path)
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
        patch.setenv("VREP_EMBEDDED_STORAGE", "memory")
        patch.setenv("VREP_HEAP_FREEZE", "false")  # a full collection per app start (bot.heap)
        # Tests of other features talk to the bot as a doctor who consented outside the chat;
        # tests/test_privacy*.py switch the notice on (privacy_notice=True).
        patch.setenv("VREP_PRIVACY_NOTICE", "false")
        yield


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a throw-away redis-server on a free loopback port; stop it after the session."""
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.start()
    except RedisServerError as error:
        pytest.fail(str(error))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        made = Backend("memory", MemoryStorage(clock=clock), clock=clock)
    elif request.param == "sqlite":
        clock = FakeClock()
        path = tmp_path / "state.sqlite3"
        made = Backend("sqlite", SqliteStorage(path, clock=clock), clock=clock, sqlite_path=path)
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


@pytest.fixture
def renewals(monkeypatch: pytest.MonkeyPatch) -> Renewals:
    """Lock leases are renewed only when the test calls ``renewals.tick()``."""
    ticker = Renewals()
    monkeypatch.setattr(lease, "pause", ticker)
    return ticker


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
