"""The audit trail's hash chain: canonical digests and the check of a whole chain.

Each entry's ``hash`` is ``sha256(prev_hash | seq | at | kind | digest)`` where ``digest`` is
the SHA-256 of the payload in canonical JSON (sorted keys, no spaces, UTF-8). The first entry
chains to ``GENESIS``. Changing a payload breaks its digest, changing a digest or time breaks
its hash, changing or deleting a row breaks the next entry's link: ``verify`` names the first
entry where the chain stops holding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed (and exported): stable across backends."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def canonical_time(at: datetime) -> str:
    """UTC, microseconds: what both SQLite and PostgreSQL keep of a time."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def link_hash(prev_hash: str, seq: int, at: datetime, kind: str, digest: str) -> str:
    material = f"{prev_hash}|{seq}|{canonical_time(at)}|{kind}|{digest}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """What ``verify`` reads of one stored entry (``payload`` is None once redacted)."""

    seq: int
    at: datetime
    kind: str
    payload: dict[str, Any] | None
    digest: str
    prev_hash: str
    hash: str
    redacted_at: datetime | None = None


RETENTION_KIND = "retention_removed"  # the retention job's record, at its redactions' time


@dataclass(frozen=True)
class ChainCheck:
    """The result of ``verify``: ``ok`` or the first broken entry and why."""

    ok: bool
    entries: int
    redacted: int = 0
    broken_at: int | None = None
    reason: str = ""
    head: str = GENESIS
    # of ``redacted``, blanked by the retention job (redacted at the time of one of its
    # records); the others by an erasure request (privacy/)
    by_retention: int = 0


def verify(links: Iterable[ChainLink]) -> ChainCheck:
    """Walk the chain in ``seq`` order; stop at the first entry that does not hold."""
    previous = GENESIS
    expected_seq = 1
    count = redacted = 0
    retention_runs: set[str] = set()
    redaction_times: list[str] = []
    for link in links:
        problem = ""
        if link.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (found {link.seq} next)"
        elif link.prev_hash != previous:
            problem = "its link to the previous entry does not match"
        elif link.payload is not None and payload_digest(link.payload) != link.digest:
            problem = "its content was changed"
        elif link_hash(link.prev_hash, link.seq, link.at, link.kind, link.digest) != link.hash:
            problem = "its time, kind or hash was changed"
        if problem:
            return ChainCheck(False, count, redacted, expected_seq, problem, previous)
        count += 1
        redacted += link.payload is None
        if link.kind == RETENTION_KIND:
            retention_runs.add(canonical_time(link.at))
        if link.payload is None and link.redacted_at is not None:
            redaction_times.append(canonical_time(link.redacted_at))
        previous = link.hash
        expected_seq += 1
    by_retention = sum(at in retention_runs for at in redaction_times)
    return ChainCheck(True, count, redacted, head=previous, by_retention=by_retention)
