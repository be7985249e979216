"""Coalesce concurrent calls of one Lua script into pipelined EVALSHAs.

Under load, many webhook handlers run the same script at the same moment (``enqueue_once``).
Sent one by one, every call pays redis-py's per-command cost (pool checkout, a write, a read,
a wake-up of the server for one command) — on a busy callback path that round trip costs more
than authenticating, decrypting and parsing the callback together. ``ScriptBatcher`` collects
the calls made while the event loop is busy and sends them, as soon as the loop runs its next
callbacks, as one non-transactional pipeline: one write, one read, replies in order. An idle
server sees the same single call as before, one loop iteration later.

Semantics are those of separate calls. Redis runs every EVALSHA atomically and in the order
sent, so two calls with the same dedup key in one batch still see each other (the later one
is the duplicate); calls in different batches are separate atomic calls, as before. Every
caller gets its own reply or its own error; a caller cancelled before its batch is sent is
left out of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.storage.base import StorageError

DEFAULT_MAX_BATCH: Final = 256


@dataclass(slots=True)
class _Call:
    keys: Sequence[str]
    args: Sequence[str | int]
    future: asyncio.Future[Any]


def _storage_error(exc: BaseException) -> BaseException:
    """A fresh exception per caller (one shared instance would tangle their tracebacks)."""
    if isinstance(exc, RedisError):
        error = StorageError(f"redis: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc


class ScriptBatcher:
    """Runs one Lua script for many concurrent callers, batched into pipelines."""

    def __init__(self, client: Redis, script: str, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._client = client
        self._script = client.register_script(script)
        # Connections of its own, like the client's but without a socket timeout: redis-py
        # enforces one with a task per write and a timer per reply read; a batch gets one
        # deadline for its whole exchange instead (``_exchange``).
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        self._timeout_s: float | None = kwargs.pop("socket_timeout", None)
        self._pool = type(pool)(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            socket_timeout=None,
            **kwargs,
        )
        self._max_batch = max_batch
        self._waiting: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """The script's reply for ``keys``/``args``; ``StorageError`` for any Redis failure."""
        call = _Call(keys, args, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        if len(self._waiting) == 1:
            # The task's first step runs after the callbacks already queued for this loop
            # iteration (other handlers), so their calls join this batch.
            task = asyncio.create_task(self._send_waiting())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return await call.future

    async def close(self) -> None:
        """Wait until every call made so far has been answered, then close the connections."""
        while self._sending:
            await asyncio.wait(set(self._sending))
        await self._pool.disconnect()

    async def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        size = self._max_batch
        if len(waiting) <= size:
            await self._send(waiting)
        else:
            await asyncio.gather(
                *(self._send(waiting[i : i + size]) for i in range(0, len(waiting), size))
            )

    async def _send(self, calls: list[_Call]) -> None:
        live = [call for call in calls if not call.future.done()]
        try:
            replies = await self._pipeline(live)
            unknown = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if unknown:  # the server lost its script cache (restart, SCRIPT FLUSH): load, rerun
                await self._client.script_load(self._script.script)
                for index, reply in zip(
                    unknown, await self._pipeline([live[i] for i in unknown]), strict=True
                ):
                    replies[index] = reply
        except asyncio.CancelledError:  # the loop is shutting down: so are the callers
            for call in live:
                call.future.cancel()
            raise
        except Exception as exc:  # handed to every caller, not swallowed
            for call in live:
                if not call.future.done():
                    call.future.set_exception(_storage_error(exc))
            return
        for call, reply in zip(live, replies, strict=True):
            if call.future.done():
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(_storage_error(reply))
            else:
                call.future.set_result(reply)

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        """The replies in order, a ``ResponseError`` in place of a failed call's reply.

        The EVALSHAs are written as one buffer on a pooled connection and the replies read
        back one by one: redis-py's ``Pipeline`` (a command stack, per-command packing and
        response callbacks, a pipeline object per batch) cost about twice as much CPU per call
        on the callback's event loop (bench/README.md, issue 22, session 8). A connection error
        or timeout is retried as redis-py's own calls are (the connection's ``Retry``, after a
        reconnect; a whole exchange taking longer than the client's socket timeout counts as a
        timeout): a resent batch finds the dedup keys its first attempt set, so nothing is
        enqueued twice.
        """
        packed = b"".join(
            _packed("EVALSHA", self._script.sha, len(c.keys), *c.keys, *c.args) for c in calls
        )
        connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, packed, len(calls), self._timeout_s),
                lambda error: connection.disconnect(),
            )
        finally:
            await self._pool.release(connection)
        return replies


async def _exchange(
    connection: Connection, packed: bytes, count: int, timeout_s: float | None
) -> list[Any]:
    """Send ``packed`` (``count`` commands) and read all their replies, errors included,
    within ``timeout_s`` (None: no limit)."""
    replies: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            await connection.send_packed_command(packed)
            for _ in range(count):
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:  # read whole: the connection stays in step
                    replies.append(exc)
    except TimeoutError:
        await connection.disconnect(nowait=True)  # replies may still come: out of step
        raise RedisTimeoutError(f"no reply within {timeout_s} s") from None
    return replies


def _packed(*args: str | int) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings, UTF-8."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
