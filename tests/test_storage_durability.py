"""What only a durable store promises: state survives a restart, and a Redis that would not
keep it is refused at start-up.

The behaviour every backend shares is tested once in tests/test_storage.py; here the SQLite file
is closed and opened again (as a restarted process would), shared with another process at the
same time, and Redis is started without AOF to see the bot refuse it.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE

import pytest
from redis.asyncio import Redis

from bot.cli import main
from bot.resources import open_storage
from bot.settings import load_settings
from bot.storage.base import LockTimeout
from bot.storage.factory import VolatileStorageError
from bot.storage.sqlite import SqliteStorage
from tests.redis_server import RedisServer
from tests.storage_backends import FakeClock

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def test_everything_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    clock = FakeClock()
    before = SqliteStorage(path, clock=clock)
    await before.set_json("ae:case:AE-20261207-0001", {"症状": "皮疹", "serious": False})
    await before.set_json("short-lived", 1, ttl_s=60)
    assert await before.incr("ae:seq:20261207") == 1
    await before.set_add("ae:cases", "AE-20261207-0001")
    await before.set_json("kf:cursor:wk-1", "cursor-42")
    for n in range(3):
        await before.enqueue("ae:delivery", {"n": n})
    [taken] = await before.consume("ae:delivery", "workers", "crashed", block_ms=0)
    await before.schedule("ae:idle", "conv-1", NOW + timedelta(minutes=30), {"case": "AE-1"})
    await before.take_seat("meeting-1", "doctor-a", 1)
    await before.take_seat("meeting-1", "doctor-b", 1)
    await before.close()
    crashed = await _python(_DIES_HOLDING_A_LOCK, str(path), str(clock.now))
    assert await crashed.wait() == 0

    after = SqliteStorage(path, clock=clock)
    try:
        assert await after.get_json("ae:case:AE-20261207-0001") == {
            "症状": "皮疹",
            "serious": False,
        }
        assert await after.get_json("kf:cursor:wk-1") == "cursor-42"
        assert await after.incr("ae:seq:20261207") == 2  # case numbers never repeat
        assert await after.set_members("ae:cases") == {"AE-20261207-0001"}
        assert await after.queue_depth("ae:delivery", "workers") == 3
        clock.now += 120
        assert await after.get_json("short-lived") is None  # expiry holds across restarts too
        [rescued] = await after.reclaim("ae:delivery", "workers", "restarted", min_idle_ms=60_000)
        assert (rescued.entry_id, rescued.payload, rescued.deliveries) == (
            taken.entry_id,
            {"n": 0},
            2,
        )
        fresh = await after.consume("ae:delivery", "workers", "restarted", count=5, block_ms=0)
        assert [entry.payload["n"] for entry in fresh] == [1, 2]
        [item] = await after.scheduled("ae:idle")
        assert (item.item_id, item.due_at, item.payload) == (
            "conv-1",
            NOW + timedelta(minutes=30),
            {"case": "AE-1"},
        )
        assert await after.seats("meeting-1") == (["doctor-a"], ["doctor-b"])
        with pytest.raises(LockTimeout):
            async with after.lock("token-refresh", blocking_timeout_s=0):
                pytest.fail("a lock held by a dead process was taken before its lease ran out")
        clock.now += 600
        async with after.lock("token-refresh", blocking_timeout_s=0):
            pass
    finally:
        await after.close()
    assert path.stat().st_mode & 0o777 == 0o600  # personal data: the service user only


async def _python(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, *args, stdin=PIPE, stdout=PIPE
    )


_DIES_HOLDING_A_LOCK = """
import asyncio, os, sys
from pathlib import Path
from bot.storage.sqlite import SqliteStorage

async def run() -> None:
    storage = SqliteStorage(Path(sys.argv[1]), clock=lambda: float(sys.argv[2]))
    await storage.lock("token-refresh", timeout_s=600).__aenter__()
    os._exit(0)  # dies holding the lock: its lease outlives it

asyncio.run(run())
"""

_HOLDS_A_LOCK = """
import asyncio, sys
from pathlib import Path
from bot.storage.sqlite import SqliteStorage

async def run() -> None:
    storage = SqliteStorage(Path(sys.argv[1]))
    try:
        async with storage.lock("shared", timeout_s=30):
            print("holding", flush=True)
            for _ in range(40):
                await storage.incr("counter")
            sys.stdin.readline()  # hold the lock until the test says go
    finally:
        await storage.close()

asyncio.run(run())
"""


async def test_a_second_process_shares_the_file_with_real_locks(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    here = SqliteStorage(path)
    other = await _python(_HOLDS_A_LOCK, str(path))
    assert other.stdout is not None and other.stdin is not None
    try:
        assert await other.stdout.readline() == b"holding\n"
        await asyncio.gather(*(here.incr("counter") for _ in range(40)))
        with pytest.raises(LockTimeout):
            async with here.lock("shared", blocking_timeout_s=0.3):
                pytest.fail("the lock was held by two processes")
        other.stdin.write(b"go\n")
        async with here.lock("shared", blocking_timeout_s=20):
            assert await here.get_counter("counter") == 80  # no increment lost to the other
    finally:
        other.stdin.close()
        assert await other.wait() == 0
        await here.close()


# -- Redis must persist ----------------------------------------------------------------------------


@pytest.fixture
async def volatile_redis(tmp_path: Path) -> object:
    server = RedisServer(tmp_path, appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _open(url: str, **overrides: object) -> None:
    async with open_storage(load_settings(redis_url=url, **overrides)) as storage:
        assert await storage.ping()


async def test_redis_without_aof_is_refused_unless_allowed(volatile_redis: RedisServer) -> None:
    url = volatile_redis.url
    with pytest.raises(
        VolatileStorageError, match="appendonly no; no RDB snapshots either"
    ) as refused:
        await _open(url)
    assert "VREP_REDIS_ALLOW_VOLATILE=true" in str(refused.value)
    assert "\n" not in str(refused.value)
    admin = Redis.from_url(url)
    try:
        await admin.config_set("save", "900 1")
        with pytest.raises(VolatileStorageError, match="RDB snapshots only"):
            await _open(url)
        await _open(url, redis_allow_volatile=True)  # the documented override
        await admin.config_set("appendonly", "yes")
        await _open(url)
    finally:
        await admin.aclose()


async def test_redis_that_hides_its_config_is_refused_with_the_override_named(
    redis_url: str,
) -> None:
    user, password = f"app-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = Redis.from_url(redis_url)
    try:
        await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*")
        await admin.execute_command("ACL", "SETUSER", user, "+@all", "-config")
        limited = redis_url.replace("redis://", f"redis://{user}:{password}@")
        with pytest.raises(VolatileStorageError, match="CONFIG GET is not allowed"):
            await _open(limited)
        await _open(limited, redis_allow_volatile=True)
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()


async def test_the_session_redis_persists(redis_url: str) -> None:
    await _open(redis_url)  # the suite's own Redis runs with AOF, as production must


def test_the_cli_refuses_a_volatile_redis_in_one_line(
    volatile_redis: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VREP_REDIS_URL", volatile_redis.url)
    assert main(["pv", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("virtualrep: Redis has no AOF persistence")
