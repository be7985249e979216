"""``ScriptBatcher`` on a real redis-server: batching, splitting, per-caller errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.serve import run
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


@pytest.mark.parametrize(
    "scenario",
    [
        test_each_caller_gets_its_own_reply_or_error,
        test_a_connection_killed_by_the_server_is_replaced,
    ],
    ids=["replies", "killed-connection"],
)
def test_on_uvloop_as_serve_runs_it(
    redis_url: str, scenario: Callable[[Redis], Awaitable[None]]
) -> None:
    """``serve`` runs on uvloop (``VREP_EVENT_LOOP=auto``) while the tests' loop is asyncio's:
    the batcher's own protocol on redis-py's transport works on uvloop's transports too."""

    async def on_uvloop() -> None:
        redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            await scenario(redis)
        finally:
            await redis.aclose()

    run(on_uvloop(), event_loop="uvloop")


async def test_a_call_without_a_reply_is_written_again_then_fails() -> None:
    """A server that takes the EVALSHA and never answers: after the socket timeout the call
    goes out once more on a new connection (the client's Retry allows one), then the caller
    gets a StorageError — not a hang."""
    evalshas = 0
    connections: list[asyncio.StreamWriter] = []

    async def silent_after_handshake(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal evalshas
        connections.append(writer)
        while line := await reader.readline():  # RESP: "*N", then "$len" + data per argument
            if not line.startswith(b"*"):
                continue
            arguments = []
            for _ in range(int(line[1:])):
                await reader.readline()
                arguments.append((await reader.readline()).strip())
            if arguments[0].upper() == b"EVALSHA":
                evalshas += 1  # and no reply, ever
            else:
                writer.write(b"+OK\r\n")  # the connection's handshake

    server = await asyncio.start_server(silent_after_handshake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=1.0,  # the watchdog waits this long, twice
        retry=Retry(NoBackoff(), retries=1),
        decode_responses=True,
    )
    batcher = ScriptBatcher(redis, _SCRIPT)
    try:
        async with asyncio.timeout(30):  # guards against a hang, not a performance check
            with pytest.raises(StorageError, match="no reply within"):
                await batcher(["k"], ["v"])
        assert evalshas == 2
    finally:
        await batcher.close()
        await redis.aclose()
        server.close()
        for connection in connections:
            connection.close()
        await server.wait_closed()
