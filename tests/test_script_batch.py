"""``ScriptBatcher`` on a real redis-server: batching, splitting, per-caller errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.storage.base import StorageError
from bot.storage.script_batch import ScriptBatcher

# Counts its calls in KEYS[1]; fails for the argument "bad"; otherwise echoes its argument.
_SCRIPT = """
redis.call('INCR', KEYS[1])
if ARGV[1] == 'bad' then
  return redis.error_reply('refused')
end
return ARGV[1]
"""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_each_caller_gets_its_own_reply_or_error(client: Redis) -> None:
    counter = f"batch-test:{uuid.uuid4().hex}"
    batcher = ScriptBatcher(client, _SCRIPT, max_batch=3)  # seven calls: three pipelines
    arguments = ["a", "b", "bad", "c", "d", "e", "f"]
    results = await asyncio.gather(
        *(batcher([counter], [argument]) for argument in arguments), return_exceptions=True
    )
    assert [r for r in results if not isinstance(r, BaseException)] == [
        "a",
        "b",
        "c",
        "d",
        "e",
        "f",
    ]
    assert isinstance(results[2], StorageError) and "refused" in str(results[2])
    assert await client.get(counter) == "7"
    await batcher.close()


async def test_a_caller_cancelled_before_sending_is_left_out(client: Redis) -> None:
    counter = f"batch-test:{uuid.uuid4().hex}"
    batcher = ScriptBatcher(client, _SCRIPT)
    kept = asyncio.create_task(batcher([counter], ["kept"]))
    dropped = asyncio.create_task(batcher([counter], ["dropped"]))
    await asyncio.sleep(0)  # both calls are waiting for the batch now
    dropped.cancel()
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await dropped
    await batcher.close()
    assert await client.get(counter) == "1"


async def test_a_connection_killed_by_the_server_is_replaced(client: Redis) -> None:
    """The batcher's own connection dropped (server restart, CLIENT KILL): the next calls go
    out on a new one, each run once."""
    counter = f"batch-test:{uuid.uuid4().hex}"
    batcher = ScriptBatcher(client, _SCRIPT)
    assert await batcher([counter], ["first"]) == "first"
    killed = 0
    for connection in await client.client_list():
        if connection["cmd"] == "evalsha":  # the batcher's (this client itself ran CLIENT LIST)
            killed += await client.client_kill_filter(_id=connection["id"])
    assert killed >= 1
    later = await asyncio.gather(*(batcher([counter], [str(n)]) for n in range(5)))
    assert later == ["0", "1", "2", "3", "4"]
    assert await client.get(counter) == "6"
    await batcher.close()
