"""Latency of the storage hot path on each backend: what a callback and a worker pay per message.

    .venv/bin/python bench/bench_storage.py [--messages 2000] [--redis-url redis://...]

Per backend it times ``enqueue_once`` (the callback's dedup + number + enqueue) one call at a
time, then ``consume`` + ``ack`` (a worker taking the message), and prints the median and p99
in milliseconds and the calls per second; then what a worker pays for a conversation's state:
taking its lock, and writing state + profile as two ``set_json`` or as one ``set_json_fenced``
(issue 22). ``sqlite`` is the embedded default (a fresh file in a temporary directory; every
write is fsync'd before it returns), ``memory`` the in-process test store, ``redis`` a Redis
you name (skipped without ``--redis-url``; it must persist with AOF, which is what the bot
requires). Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.storage.base import Document, Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage


async def timed(calls: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of ``calls`` sequential calls."""
    took: list[float] = []
    for n in range(calls):
        start = time.perf_counter()
        await call(n)
        took.append((time.perf_counter() - start) * 1000)
    return took


def line(backend: str, operation: str, took: list[float]) -> str:
    p50 = statistics.median(took)
    p99 = statistics.quantiles(took, n=100)[98]
    per_s = len(took) / (sum(took) / 1000)
    return f"{backend:<7} {operation:<14} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   {per_s:8.0f}/s"


async def measure(backend: str, storage: Storage, messages: int) -> None:
    async def enqueue(n: int) -> None:
        await storage.enqueue_once(f"dedup:{n}", 3600, "inbound", {"n": n}, "seq:conv")

    async def take(n: int) -> None:
        [entry] = await storage.consume("inbound", "workers", "w", block_ms=0)
        await storage.ack("inbound", "workers", entry.entry_id)

    try:
        print(line(backend, "enqueue_once", await timed(messages, enqueue)))
        print(line(backend, "consume+ack", await timed(messages, take)))
        for operation, took in await state_writes(storage, messages):
            print(line(backend, operation, took))
    finally:
        await storage.close()


STATE = {"key": "c", "last_seq": 1, "data": {"transcript": ["你好"] * 20}, "locale": "zh"}
PROFILE = {"doctor_id": "d", "inbound": 12, "topics": ["dosing"] * 5}


async def state_writes(storage: Storage, messages: int) -> list[tuple[str, list[float]]]:
    """What the conversation middleware pays per message besides its reads: taking the
    conversation lock, then writing the state and the profile while holding it, as two plain
    writes (before issue 22's fencing) and as the one fenced write it makes now."""
    held: list[float] = []
    plain: list[float] = []
    fenced: list[float] = []
    for n in range(messages):
        conversation, profile = f"conv:c{n % 50}", f"profile:d{n % 50}"
        start = time.perf_counter()
        async with storage.lock(f"lock:conv:c{n % 50}", timeout_s=5.0) as fence:
            held.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await storage.set_json(conversation, STATE, 3600)
            await storage.set_json(profile, PROFILE, 3600)
            plain.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await storage.set_json_fenced(
                fence, Document(conversation, STATE, 3600), Document(profile, PROFILE, 3600)
            )
            fenced.append((time.perf_counter() - start) * 1000)
    return [("lock (take)", held), ("2 set_json", plain), ("fenced write", fenced)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vrep-bench-storage-") as directory:
        await measure("memory", MemoryStorage(), args.messages)
        await measure("sqlite", SqliteStorage(Path(directory) / "state.sqlite3"), args.messages)
    if args.redis_url:
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        await measure("redis", RedisStorage.from_url(args.redis_url, prefix=prefix), args.messages)


if __name__ == "__main__":
    asyncio.run(main())
