"""``RedisStorage``: the ``Storage`` interface on Redis (>= 6.2), shared by several replicas.

Every change that touches more than one key, or reads and then writes, is one Lua script, so
concurrent replicas never see half a change. Key layout below one prefix (default ``vrep:``),
so several deployments can share one Redis:

- ``kv:<key>``           JSON documents, claims, counters, sets
- ``lock:<name>``        lock token (SET NX PX, renewed by compare-and-PEXPIRE while held,
                          released by compare-and-delete)
- ``holder:<name>``      token of the lock's latest holding, set with the lock in one script and
                          kept ``HOLDER_KEPT_S`` beyond it: what ``set_json_fenced`` checks
- ``queue:<name>``       a Redis Stream; consumer groups are created lazily starting at the
                          first entry; only entries every group has acknowledged are ever
                          trimmed (``trim_acknowledged``), never on XADD
- ``schedule:<name>:due``/``:items``   sorted set (score = due time in µs) + hash of payloads
- ``seats:<pool>:seated``/``:waiting``  two lists in arrival order

Concurrent ``enqueue_once`` calls (the webhooks' hot path) are sent together as one pipeline
of script calls (``bot.storage.script_batch``), each still atomic and answered on its own.

Any ``redis`` exception (connection refused, timeout, unexpected reply) surfaces as
``StorageError``. The client built by ``from_url`` gives up quickly (short connect timeout, two
fast retries) so an outage is reported within about a second instead of hanging a webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from bot.storage.base import (
    HOLDER_KEPT_S,
    Document,
    Fence,
    LockLost,
    LockTimeout,
    QueueEntry,
    ScheduledItem,
    SeatResult,
    StorageError,
)
from bot.storage.lease import renewed, stop_renewals
from bot.storage.memory import utc_due
from bot.storage.script_batch import ScriptBatcher

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "vrep:"
_JSON_PAYLOAD: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])  # enqueue_once's payloads
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOCK_POLL_MAX_S = 0.2  # a blocked lock re-tries at least this often

# KEYS: counter. ARGV: amount, ttl seconds ("" = none). The TTL is set when the counter has
# none, so a window counter expires ttl after its first increment.
_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# KEYS: lock, holder. ARGV: token, lease ms, holder ms. Takes a free lock and records this
# holding as the latest one (what fenced writes check), in one step.
_LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: lock, holder. ARGV: token. Deletes the lock and the holding record only where this
# holding is still the one recorded; 1 when nobody took the lock over meanwhile.
_UNLOCK = """
local latest = redis.call('GET', KEYS[2]) == ARGV[1]
if latest then
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return latest and 1 or 0
"""

# KEYS: lock, holder. ARGV: token, lease ms, holder ms. Extends the lease (and the holding
# record) only if this holder still owns the lock.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: holder, then the documents. ARGV: token, then text and ttl seconds ('' = none) per
# document. Writes them only while the token is the lock's latest holding; 0 when it is not.
_SET_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
for i = 2, #KEYS do
  if ARGV[2 * i - 1] == '' then
    redis.call('SET', KEYS[i], ARGV[2 * i - 2])
  else
    redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ARGV[2 * i - 1])
  end
end
return 1
"""

# KEYS: stream. ARGV: group, consumer, entry id. Restarts the idle time of an entry the consumer
# holds (XCLAIM ... JUSTID counts no delivery); an entry someone else holds is left alone.
_TOUCH = """
local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if held[1] and held[1][2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
end
return 0
"""

# KEYS: dedup, seq, stream. ARGV: ttl, payload JSON. Returns seq, or nil for a duplicate.
_ENQUEUE_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], '*', 'payload', ARGV[2], 'seq', seq)
return seq
"""

# KEYS: stream. ARGV: group, consumer, min idle ms, count. Returns {id, fields, deliveries}
# triples. XAUTOCLAIM scans a bounded part of the pending list per call, so loop the cursor.
_RECLAIM = """
local out = {}
local want = tonumber(ARGV[4])
local cursor = '0-0'
repeat
  local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor,
                         'COUNT', want - #out)
  cursor = res[1]
  for _, entry in ipairs(res[2]) do
    if entry and entry[2] then
      local info = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
      out[#out + 1] = {entry[1], entry[2], info[1][4]}
    end
  end
until cursor == '0-0' or #out >= want
return out
"""

# A Lua helper for the stream scripts below: each consumer group of a stream as a table
# of XINFO GROUPS fields (name, pending, last-delivered-id, lag).
_GROUP_INFOS = """
local function group_infos(stream)
  local infos = {}
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #group, 2 do
      info[group[i]] = group[i + 1]
    end
    infos[#infos + 1] = info
  end
  return infos
end
"""

# KEYS: stream. ARGV: group. Entries the group has not acknowledged: lag (never delivered)
# plus pending. Redis reports no lag after deletions inside the range; then count by hand.
_QUEUE_DEPTH = (
    _GROUP_INFOS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for _, info in ipairs(group_infos(KEYS[1])) do
  if info['name'] == ARGV[1] then
    local lag = info['lag']
    if not lag then
      lag = #redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], '+')
    end
    return lag + info['pending']
  end
end
return redis.call('XLEN', KEYS[1])
"""
)

# KEYS: stream. ARGV: group, count. Entries the group has not acknowledged, oldest first, as
# {id, fields, deliveries}: its pending ones, then those after its last-delivered-id (0 deliveries).
# A group not created yet owes the whole stream. Reads only.
_UNACKNOWLEDGED = (
    _GROUP_INFOS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local want = tonumber(ARGV[2])
local out = {}
local after = nil
for _, info in ipairs(group_infos(KEYS[1])) do
  if info['name'] == ARGV[1] then
    after = '(' .. info['last-delivered-id']
    for _, pending in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', want)) do
      local entry = redis.call('XRANGE', KEYS[1], pending[1], pending[1])[1]
      if entry then
        out[#out + 1] = {entry[1], entry[2], pending[4]}
      end
    end
  end
end
if #out < want then
  for _, entry in ipairs(redis.call('XRANGE', KEYS[1], after or '-', '+', 'COUNT', want - #out)) do
    out[#out + 1] = {entry[1], entry[2], 0}
  end
end
return out
"""
)

# KEYS: stream. Trims what every group has acknowledged; returns how many entries went.
# A group still needs its oldest pending entry (XPENDING's summary names it) or, with nothing
# pending, whatever follows its last-delivered-id. XTRIM MINID keeps ids >= the bound, so the
# bound for the second case is last-delivered-id plus one sequence number. Auto-generated ids
# have small sequence numbers, so Lua's doubles hold them exactly.
_TRIM_ACKNOWLEDGED = (
    _GROUP_INFOS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local keep_ms, keep_seq
for _, info in ipairs(group_infos(KEYS[1])) do
  local ms, seq
  if info['pending'] > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    ms, seq = string.match(summary[2], '^(%d+)-(%d+)$')
    seq = tonumber(seq)
  else
    ms, seq = string.match(info['last-delivered-id'], '^(%d+)-(%d+)$')
    seq = tonumber(seq) + 1
  end
  ms = tonumber(ms)
  if keep_ms == nil or ms < keep_ms or (ms == keep_ms and seq < keep_seq) then
    keep_ms, keep_seq = ms, seq
  end
end
if keep_ms == nil then
  return 0
end
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', keep_ms, keep_seq))
"""
)

# KEYS: due zset, items hash. ARGV: now (µs), limit. Removes and returns {id, json, ...}.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return out
"""

# KEYS: seated, waiting. ARGV: member, capacity. Returns {seated 0/1, waitlist position, already}.
_TAKE_SEAT = """
if redis.call('LPOS', KEYS[1], ARGV[1]) then
  return {1, 0, 1}
end
local pos = redis.call('LPOS', KEYS[2], ARGV[1])
if pos then
  return {0, pos + 1, 1}
end
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  return {1, 0, 0}
end
return {0, redis.call('RPUSH', KEYS[2], ARGV[1]), 0}
"""

# KEYS: seated, waiting. ARGV: member, capacity. Returns the promoted member or nil.
_RELEASE_SEAT = """
if redis.call('LREM', KEYS[2], 0, ARGV[1]) > 0 then
  return false
end
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then
  return false
end
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  local promoted = redis.call('LPOP', KEYS[2])
  if promoted then
    redis.call('RPUSH', KEYS[1], promoted)
    return promoted
  end
end
return false
"""


@contextmanager
def _translated() -> Iterator[None]:
    """Turn any redis exception into ``StorageError`` (the interface promises nothing else)."""
    try:
        yield
    except RedisError as exc:
        raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc


def _score(moment: datetime) -> int:
    """Integer microseconds since the epoch: exact, so Redis orders like ``datetime`` does."""
    return (utc_due(moment) - _EPOCH) // timedelta(microseconds=1)


def _entry(queue: str, entry_id: str, fields: dict[str, str], deliveries: int) -> QueueEntry:
    payload: dict[str, Any] = json.loads(fields["payload"])
    if "seq" in fields:
        payload["seq"] = int(fields["seq"])
    return QueueEntry(queue, entry_id, payload, deliveries)


def _scheduled_item(schedule: str, item_id: str, stored: str) -> ScheduledItem:
    data = json.loads(stored)
    return ScheduledItem(schedule, item_id, datetime.fromisoformat(data["due_at"]), data["payload"])


class RedisStorage:
    """``Storage`` on Redis; build it with ``from_url``. See the module docstring for keys."""

    def __init__(self, client: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        """Wrap ``client``, which must decode responses (``decode_responses=True``)."""
        self._client = client
        self._prefix = prefix
        # Blocking reads must end before the socket timeout would cut them off.
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        self._max_block_ms = None if socket_timeout is None else int(socket_timeout * 1000) - 500
        self._incr = client.register_script(_INCR)
        self._lock = client.register_script(_LOCK)
        self._set_fenced = client.register_script(_SET_FENCED)
        self._unlock = client.register_script(_UNLOCK)
        self._renew = client.register_script(_RENEW)
        self._touch = client.register_script(_TOUCH)
        self._renewals: set[asyncio.Task[None]] = set()
        self._enqueue_once = ScriptBatcher(client, _ENQUEUE_ONCE)
        self._reclaim = client.register_script(_RECLAIM)
        self._queue_depth = client.register_script(_QUEUE_DEPTH)
        self._unacknowledged = client.register_script(_UNACKNOWLEDGED)
        self._trim_acknowledged = client.register_script(_TRIM_ACKNOWLEDGED)
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._take_seat = client.register_script(_TAKE_SEAT)
        self._release_seat = client.register_script(_RELEASE_SEAT)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        connect_timeout_s: float = 1.0,
        socket_timeout_s: float = 5.0,
    ) -> RedisStorage:
        """Connect lazily to ``url`` (redis://, rediss://, unix://); nothing is sent yet."""
        client = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=socket_timeout_s,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            health_check_interval=30,
        )
        return cls(client, prefix)

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    # -- lifecycle ---------------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        stop_renewals(self._renewals)
        await self._enqueue_once.close()
        await self._client.aclose()

    async def persistence(self) -> dict[str, str] | None:
        """The server's ``appendonly`` and ``save`` settings, None when CONFIG is refused.

        Managed Redis services often rename or forbid CONFIG (or an ACL denies it); that is not
        an outage, so it is told apart from one (``StorageError``).
        """
        try:
            found = await self._client.config_get("appendonly")
            found |= await self._client.config_get("save")
        except ResponseError:
            return None
        except RedisError as exc:
            raise StorageError(f"redis: {exc}") from exc
        return {str(name): str(value) for name, value in found.items()}

    # -- JSON documents ----------------------------------------------------------------------
    async def get_json(self, key: str) -> Any | None:
        with _translated():
            text = await self._client.get(self._key("kv", key))
        return None if text is None else json.loads(text)

    async def set_json(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        text = json.dumps(value, ensure_ascii=False)
        with _translated():
            await self._client.set(self._key("kv", key), text, ex=ttl_s)

    async def set_json_fenced(self, fence: Fence, *documents: Document) -> None:
        keys = [self._key("holder", fence.name)]
        args: list[str | int] = [fence.token]
        for document in documents:
            keys.append(self._key("kv", document.key))
            args.append(json.dumps(document.value, ensure_ascii=False))
            args.append("" if document.ttl_s is None else document.ttl_s)
        with _translated():
            written = await self._set_fenced(keys=keys, args=args)
        if not written:
            raise LockLost(f"lock {fence.name!r} was taken over: state not written")

    async def delete(self, key: str) -> None:
        with _translated():
            await self._client.delete(self._key("kv", key))

    # -- dedup, counters, sets -----------------------------------------------------------------
    async def claim(self, key: str, ttl_s: int) -> bool:
        with _translated():
            return bool(await self._client.set(self._key("kv", key), "1", nx=True, ex=ttl_s))

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        ttl = "" if ttl_s is None else str(ttl_s)
        with _translated():
            return int(await self._incr(keys=[self._key("kv", key)], args=[amount, ttl]))

    async def get_counter(self, key: str) -> int:
        with _translated():
            text = await self._client.get(self._key("kv", key))
        try:
            return 0 if text is None else int(text)
        except ValueError as exc:
            raise StorageError(f"key {key!r} does not hold a counter") from exc

    async def set_add(self, key: str, *members: str) -> None:
        if members:
            with _translated():
                await self._client.sadd(self._key("kv", key), *members)

    async def set_remove(self, key: str, *members: str) -> None:
        if members:
            with _translated():
                await self._client.srem(self._key("kv", key), *members)

    async def set_members(self, key: str) -> set[str]:
        with _translated():
            members = await self._client.smembers(self._key("kv", key))
        return {str(member) for member in members}

    # -- locks -------------------------------------------------------------------------------
    def lock(
        self, name: str, timeout_s: float = 30.0, blocking_timeout_s: float | None = 10.0
    ) -> AbstractAsyncContextManager[Fence]:
        return self._hold(name, timeout_s, blocking_timeout_s)

    @asynccontextmanager
    async def _hold(
        self, name: str, timeout_s: float, blocking_timeout_s: float | None
    ) -> AsyncIterator[Fence]:
        keys = [self._key("lock", name), self._key("holder", name)]
        lease_ms = max(1, int(timeout_s * 1000))
        holder_ms = lease_ms + HOLDER_KEPT_S * 1000
        token = await self._acquire(keys, lease_ms, holder_ms, blocking_timeout_s)

        async def renew() -> bool:
            with _translated():
                return bool(await self._renew(keys=keys, args=[token, lease_ms, holder_ms]))

        try:
            async with renewed(keys[0], timeout_s, renew, self._renewals):
                yield Fence(name, token)
        finally:
            with _translated():
                released = await self._unlock(keys=keys, args=[token])
            if not released:
                log.warning("lock %s expired before its holder released it", keys[0])

    async def _acquire(
        self, keys: list[str], lease_ms: int, holder_ms: int, blocking_timeout_s: float | None
    ) -> str:
        loop = asyncio.get_running_loop()
        deadline = None if blocking_timeout_s is None else loop.time() + blocking_timeout_s
        token = secrets.token_hex(16)
        pause = 0.01
        while True:
            with _translated():
                if await self._lock(keys=keys, args=[token, lease_ms, holder_ms]):
                    return token
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise LockTimeout(f"lock {keys[0]!r} not acquired in {blocking_timeout_s} s")
                pause = min(pause, remaining)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LOCK_POLL_MAX_S)

    # -- durable queues ------------------------------------------------------------------------
    async def enqueue(self, queue: str, payload: dict[str, Any]) -> str:
        text = json.dumps(payload, ensure_ascii=False)
        with _translated():
            entry_id = await self._client.xadd(
                self._key("queue", queue),
                {"payload": text},
            )
        return str(entry_id)

    async def enqueue_once(
        self, dedup_key: str, ttl_s: int, queue: str, payload: dict[str, Any], seq_key: str
    ) -> int | None:
        keys = [self._key("kv", dedup_key), self._key("kv", seq_key), self._key("queue", queue)]
        # Straight to UTF-8 JSON bytes: a third of json.dumps' CPU on the callback path.
        args: list[str | int | bytes] = [ttl_s, _JSON_PAYLOAD.dump_json(payload)]
        seq = await self._enqueue_once(keys, args)  # raises StorageError itself
        return None if seq is None else int(seq)

    async def consume(
        self, queue: str, group: str, consumer: str, count: int = 1, block_ms: int = 1000
    ) -> list[QueueEntry]:
        key = self._key("queue", queue)
        block = None if block_ms <= 0 else block_ms
        # A wait longer than the socket timeout would end in a TimeoutError: shorten it.
        if block is not None and self._max_block_ms is not None:
            block = max(1, min(block, self._max_block_ms))
        with _translated():
            try:
                reply = await self._read_group(key, group, consumer, count, block)
            except ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    raise
                await self._create_group(key, group)
                reply = await self._read_group(key, group, consumer, count, block)
        return [
            _entry(queue, entry_id, fields, 1)
            for _stream, entries in reply or []
            for entry_id, fields in entries
        ]

    async def _read_group(
        self, key: str, group: str, consumer: str, count: int, block: int | None
    ) -> Any:
        return await self._client.xreadgroup(group, consumer, {key: ">"}, count=count, block=block)

    async def _create_group(self, key: str, group: str) -> None:
        """Create ``group`` at the stream's first entry (nothing enqueued earlier is skipped)."""
        try:
            await self._client.xgroup_create(key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):  # another replica was faster: fine
                raise

    async def ack(self, queue: str, group: str, entry_id: str) -> None:
        with _translated():
            await self._client.xack(self._key("queue", queue), group, entry_id)

    async def touch(self, queue: str, group: str, consumer: str, entry_id: str) -> None:
        with _translated():
            await self._touch(keys=[self._key("queue", queue)], args=[group, consumer, entry_id])

    async def reclaim(
        self, queue: str, group: str, consumer: str, min_idle_ms: int, count: int = 10
    ) -> list[QueueEntry]:
        key = self._key("queue", queue)
        with _translated():
            try:
                taken = await self._reclaim(keys=[key], args=[group, consumer, min_idle_ms, count])
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                return []  # nobody consumed yet, so nothing can be pending
        return [
            _entry(queue, entry_id, dict(zip(flat[::2], flat[1::2], strict=True)), int(deliveries))
            for entry_id, flat, deliveries in taken
        ]

    async def queue_depth(self, queue: str, group: str) -> int:
        with _translated():
            return int(await self._queue_depth(keys=[self._key("queue", queue)], args=[group]))

    async def unacknowledged(self, queue: str, group: str, count: int = 100) -> list[QueueEntry]:
        if count <= 0:
            return []
        with _translated():
            owed = await self._unacknowledged(keys=[self._key("queue", queue)], args=[group, count])
        return [
            _entry(queue, entry_id, dict(zip(flat[::2], flat[1::2], strict=True)), int(deliveries))
            for entry_id, flat, deliveries in owed
        ]

    async def trim_acknowledged(self, queue: str) -> int:
        with _translated():
            return int(await self._trim_acknowledged(keys=[self._key("queue", queue)]))

    # -- scheduler ---------------------------------------------------------------------------
    def _schedule_keys(self, schedule: str) -> tuple[str, str]:
        return self._key("schedule", f"{schedule}:due"), self._key("schedule", f"{schedule}:items")

    async def schedule(
        self, schedule: str, item_id: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        due_key, items_key = self._schedule_keys(schedule)
        stored = {"due_at": utc_due(due_at).isoformat(), "payload": payload or {}}
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(due_key, {item_id: _score(due_at)})
                pipe.hset(items_key, item_id, json.dumps(stored, ensure_ascii=False))
                await pipe.execute()

    async def cancel(self, schedule: str, item_id: str) -> bool:
        due_key, items_key = self._schedule_keys(schedule)
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zrem(due_key, item_id)
                pipe.hdel(items_key, item_id)
                removed, _ = await pipe.execute()
        return bool(removed)

    async def claim_due(
        self, schedule: str, now: datetime, limit: int = 100
    ) -> list[ScheduledItem]:
        keys = list(self._schedule_keys(schedule))
        with _translated():
            flat = await self._claim_due(keys=keys, args=[_score(now), limit])
        return [
            _scheduled_item(schedule, item_id, stored)
            for item_id, stored in zip(flat[::2], flat[1::2], strict=True)
            if stored  # an id without payload (written by hand) is dropped, not fatal
        ]

    async def scheduled(self, schedule: str) -> list[ScheduledItem]:
        due_key, items_key = self._schedule_keys(schedule)
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zrange(due_key, 0, -1)
                pipe.hgetall(items_key)
                ids, stored = await pipe.execute()
        return [_scheduled_item(schedule, i, stored[i]) for i in ids if i in stored]

    # -- seat pools ------------------------------------------------------------------------------
    def _seat_keys(self, pool: str) -> list[str]:
        return [self._key("seats", f"{pool}:seated"), self._key("seats", f"{pool}:waiting")]

    async def take_seat(self, pool: str, member: str, capacity: int) -> SeatResult:
        with _translated():
            seated, position, already = await self._take_seat(
                keys=self._seat_keys(pool), args=[member, capacity]
            )
        return SeatResult(bool(seated), int(position), bool(already))

    async def release_seat(self, pool: str, member: str, capacity: int) -> str | None:
        with _translated():
            promoted = await self._release_seat(keys=self._seat_keys(pool), args=[member, capacity])
        return None if promoted is None else str(promoted)

    async def seats(self, pool: str) -> tuple[list[str], list[str]]:
        seated_key, waiting_key = self._seat_keys(pool)
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lrange(seated_key, 0, -1)
                pipe.lrange(waiting_key, 0, -1)
                seated, waiting = await pipe.execute()
        return list(seated), list(waiting)
