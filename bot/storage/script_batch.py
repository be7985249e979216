"""Coalesce concurrent calls of one Lua script into pipelined EVALSHAs on a connection of its own.

Under load, many webhook handlers run the same script at the same moment (``enqueue_once``).
Sent one by one through redis-py, every call pays its per-command cost (pool checkout, a
write, reading the reply line by line through several awaits, a wake-up of the server for one
command) — on a busy callback path that round trip cost more than authenticating, decrypting
and parsing the callback together. ``ScriptBatcher`` keeps one long-lived connection and
collects the calls made while the event loop is busy: as soon as the loop runs its next
callbacks, they go out as one write (a plain loop callback, no task). The replies are parsed
where they arrive, in the transport's ``data_received`` (a protocol of the batcher's own
replaces redis-py's stream reader after the handshake), and each caller is answered in order.
Calls made while earlier ones are still on the wire are written right behind them
(pipelining), so an idle server sees the same single call as before, one loop iteration
later, and a busy one is never waited for before the next batch goes out.

Semantics are those of separate calls. Redis runs every EVALSHA atomically and in the order
sent, so two calls with the same dedup key in one batch still see each other (the later one
is the duplicate); calls in different batches are separate atomic calls, as before. Every
caller gets its own reply or its own error; a caller cancelled before its batch is written is
left out of it.

Failures: a call answered with an error gets a ``StorageError`` of its own. ``NOSCRIPT`` (the
server lost its script cache: restart, SCRIPT FLUSH) writes ``SCRIPT LOAD`` and the affected
calls again, in their order, once. When the connection breaks, or a call has had no reply for
the client's socket timeout (one watchdog timer for the connection, not a timer per call), the
connection is dropped and every call still waiting for a reply is written again on a new one,
as many times as the client's ``Retry`` allows (redis-py's own connect retries apply to the
reconnect); past that, or when no connection can be made, the callers get ``StorageError``.
A call written again finds the dedup key its first attempt may have set, so nothing is
enqueued twice.

Replies are read with a minimal reader for RESP2 (integers, bulk and simple strings, errors,
nil, arrays — what scripts return); the connection (address, TLS, AUTH, SELECT) is made by
redis-py's own connection class with the client's settings, minus the socket timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.storage.base import StorageError

DEFAULT_MAX_BATCH: Final = 256  # calls per write


class _Call:
    """One caller's script call, from when it is made until it is answered."""

    __slots__ = ("args", "attempts", "future", "keys", "reloaded", "sent_at")

    def __init__(
        self, keys: Sequence[str], args: Sequence[str | int | bytes], future: asyncio.Future[Any]
    ) -> None:
        self.keys = keys
        self.args = args
        self.future = future
        self.attempts = 0  # times written
        self.reloaded = False  # answered NOSCRIPT once already
        self.sent_at = 0.0


class _ErrorReply(str):
    """An error reply (``-ERR …``) as read off the wire."""


def _storage_error(exc: BaseException) -> BaseException:
    """A fresh exception per caller (one shared instance would tangle their tracebacks)."""
    if isinstance(exc, RedisError):
        error = StorageError(f"redis: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc


class ScriptBatcher:
    """Runs one Lua script for many concurrent callers, pipelined on a connection of its own."""

    def __init__(self, client: Redis, script: str, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._client = client
        self._script = client.register_script(script)
        self._load = _packed("SCRIPT", "LOAD", script)
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        self._timeout_s: float | None = kwargs.pop("socket_timeout", None)
        self._decode = bool(kwargs.get("decode_responses", False))
        retry = kwargs.get("retry")
        self._resends = max(0, retry.get_retries()) if retry is not None else 0
        self._connection = pool.connection_class(socket_timeout=None, **kwargs)
        self._max_batch = max_batch
        self._waiting: list[_Call] = []  # made, not yet written
        self._sent: deque[_Call] = deque()  # written, in order, waiting for their replies
        self._writer: asyncio.StreamWriter | None = None  # set while connected
        self._link: asyncio.Task[None] | None = None  # connects, then reads replies
        self._flush_due = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._timed_out = False

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
        """The script's reply for ``keys``/``args``; ``StorageError`` for any Redis failure."""
        loop = asyncio.get_running_loop()
        call = _Call(keys, args, loop.create_future())
        self._waiting.append(call)
        if not self._flush_due:
            # Runs after the callbacks already queued for this loop iteration (other
            # handlers), so their calls go out in the same write.
            self._flush_due = True
            loop.call_soon(self._flush)
        return await call.future

    async def close(self) -> None:
        """Wait until every call made so far has been answered, then close the connection."""
        while pending := [c.future for c in (*self._waiting, *self._sent) if not c.future.done()]:
            await asyncio.wait(pending)
        if self._link is not None:
            self._link.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._link
        # Not ``disconnect()``: it waits for the stream protocol that ``_Replies`` replaced.
        self._connection._close()  # type: ignore[no-untyped-call]

    # -- writing ---------------------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_due = False
        writer = self._writer
        if writer is None:  # the link writes them once connected
            if self._link is None and self._waiting:
                self._link = asyncio.create_task(self._run_link())
            return
        calls = [call for call in self._waiting if not call.future.done()]
        self._waiting = []
        for start in range(0, len(calls), self._max_batch):
            self._write(writer, calls[start : start + self._max_batch])

    def _write(self, writer: asyncio.StreamWriter, calls: list[_Call], prefix: bytes = b"") -> None:
        if not calls:
            return
        sha = self._script.sha
        writer.write(
            prefix
            + b"".join(
                _packed("EVALSHA", sha, len(call.keys), *call.keys, *call.args) for call in calls
            )
        )
        now = asyncio.get_running_loop().time()
        for call in calls:
            call.attempts += 1
            call.sent_at = now
        self._sent.extend(calls)
        if self._watchdog is None and self._timeout_s is not None:
            self._watchdog = asyncio.get_running_loop().call_at(
                now + self._timeout_s, self._check_replies
            )

    def _check_replies(self) -> None:
        """The watchdog: drop the connection when the oldest call waited a whole timeout."""
        self._watchdog = None
        if not self._sent or self._writer is None or self._timeout_s is None:
            return
        loop = asyncio.get_running_loop()
        due = self._sent[0].sent_at + self._timeout_s
        if loop.time() >= due:
            self._timed_out = True
            self._writer.transport.abort()  # ends the connection: ``_Replies.lost``
        else:
            self._watchdog = loop.call_at(due, self._check_replies)

    # -- the connection --------------------------------------------------------------------------
    async def _run_link(self) -> None:
        try:
            try:
                # The connection has no socket timeout: its handshake gets the client's.
                async with asyncio.timeout(self._timeout_s):
                    await self._connection.connect()  # type: ignore[no-untyped-call]
            except TimeoutError:
                await self._connection.disconnect()
                self._fail_waiting(RedisTimeoutError(f"no connection within {self._timeout_s} s"))
                return
            except Exception as exc:  # after redis-py's own connect retries
                self._fail_waiting(exc)
                return
            writer = self._connection._writer
            assert writer is not None
            # From here on the replies are read by a protocol of our own on the same transport:
            # each arrival is parsed in the transport's callback and answers its callers, no
            # reader task to wake.
            replies = _Replies(self, writer.transport)
            writer.transport.set_protocol(replies)
            self._writer, self._timed_out = writer, False
            self._flush()
            try:
                self._lost(await replies.lost)
            except asyncio.CancelledError:  # closed, or the loop is shutting down
                for call in (*self._sent, *self._waiting):
                    call.future.cancel()
                raise
        finally:
            self._writer = None
            self._link = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
        if self._waiting:  # calls to write again, or made meanwhile: a new connection
            self._link = asyncio.create_task(self._run_link())

    def _fail_waiting(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, []
        for call in waiting:
            if not call.future.done():
                call.future.set_exception(_storage_error(exc))

    def _lost(self, exc: Exception) -> None:
        """The connection broke: write the unanswered calls again, or fail them."""
        if self._timed_out:
            exc = RedisTimeoutError(f"no reply within {self._timeout_s} s")
        elif not isinstance(exc, RedisError):
            exc = RedisConnectionError(f"{type(exc).__name__}: {exc}")
        self._connection._close()  # type: ignore[no-untyped-call]
        again: list[_Call] = []
        while self._sent:
            call = self._sent.popleft()
            if call.future.done():
                continue
            if call.attempts > self._resends:
                call.future.set_exception(_storage_error(exc))
            else:
                again.append(call)
        self._waiting[:0] = again

    def _answer(self, buffer: bytearray) -> None:
        """Answer the callers whose replies are complete in ``buffer``; remove those replies."""
        position = 0
        unknown: list[_Call] = []
        while True:
            reply, end = _reply(buffer, position, self._decode)
            if end < 0:
                break
            position = end
            if not self._sent:
                raise InvalidResponse("a reply nobody asked for")
            call = self._sent.popleft()
            if call.future.done():
                continue
            if isinstance(reply, _ErrorReply):
                if reply.startswith("NOSCRIPT") and not call.reloaded:
                    call.reloaded = True
                    unknown.append(call)
                else:
                    call.future.set_exception(_storage_error(ResponseError(reply)))
            else:
                call.future.set_result(reply)
        del buffer[:position]
        if unknown and self._writer is not None:
            # SCRIPT LOAD's own reply is answered into a future nobody awaits; if the load
            # failed, the calls fail with their second NOSCRIPT.
            loader = _Call((), (), asyncio.get_running_loop().create_future())
            loader.attempts = self._resends  # never written again on its own
            self._sent.append(loader)
            self._write(self._writer, unknown, prefix=self._load)


class _Replies(asyncio.Protocol):
    """Reads the batcher's replies off its connection as they arrive."""

    def __init__(self, batcher: ScriptBatcher, transport: asyncio.WriteTransport) -> None:
        self._batcher = batcher
        self._transport = transport  # set_protocol does not call connection_made
        self._buffer = bytearray()
        self.lost: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._batcher._answer(self._buffer)
        except Exception as exc:  # out of step with the server: drop the connection
            self._end(exc)

    def eof_received(self) -> bool:
        self._end(RedisConnectionError("connection closed by the server"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc or RedisConnectionError("connection closed"))

    def _end(self, exc: Exception) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self._transport.abort()


def _reply(buffer: bytearray, position: int, decode: bool) -> tuple[Any, int]:
    """The RESP2 reply at ``position`` and the position after it; end -1: not all here yet."""
    eol = buffer.find(b"\r\n", position)
    if eol < 0:
        return None, -1
    kind, line, after = buffer[position], buffer[position + 1 : eol], eol + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x24:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None, -1
        data = bytes(buffer[after : after + size])
        return (data.decode() if decode else data), after + size + 2
    if kind == 0x2B:  # '+' simple string
        return (line.decode() if decode else bytes(line)), after
    if kind == 0x2D:  # '-' error
        return _ErrorReply(line.decode(errors="replace")), after
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items: list[Any] = []
        for _ in range(count):
            item, after = _reply(buffer, after, decode)
            if after < 0:
                return None, -1
            items.append(item)
        return items, after
    if kind == 0x5F:  # '_' null (RESP3)
        return None, after
    raise InvalidResponse(f"unexpected reply type {chr(kind)!r}")


def _packed(*args: str | int | bytes) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings (text as UTF-8,
    bytes as they are, e.g. JSON serialised straight to bytes)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
