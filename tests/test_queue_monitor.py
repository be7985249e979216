"""The queue-depth alert, on both storage backends: a stalled group is reported, then cleared."""

from __future__ import annotations

import logging

import pytest

from bot.metrics import Metrics
from bot.queue_monitor import QueueMonitor
from bot.storage.base import Storage

QUEUE, GROUP = "work", "workers"


def gauge(metrics: Metrics, name: str, queue: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"queue": queue})


def alerts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "queue over alert depth"]


async def test_a_group_behind_by_more_than_the_depth_raises_an_alert_until_it_catches_up(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    monitor = QueueMonitor(storage, metrics, [(QUEUE, GROUP), ("idle", GROUP)], alert_depth=3)
    for number in range(3):
        await storage.enqueue(QUEUE, {"n": number})
    assert await monitor.check() == []  # at the depth: not over it
    assert gauge(metrics, "vrep_queue_alert", QUEUE) == 0

    await storage.enqueue(QUEUE, {"n": 3})
    taken = await storage.consume(QUEUE, GROUP, "stalled", count=2, block_ms=0)
    caplog.set_level(logging.INFO, logger="bot.queue_monitor")
    assert await monitor.check() == [QUEUE]  # delivered but unacknowledged still counts
    assert gauge(metrics, "vrep_queue_depth", QUEUE) == 4
    assert gauge(metrics, "vrep_queue_alert", QUEUE) == 1
    assert gauge(metrics, "vrep_queue_alert", "idle") == 0
    (record,) = alerts(caplog)
    assert record.levelno == logging.ERROR
    assert (record.queue, record.group, record.depth, record.alert_depth) == (QUEUE, GROUP, 4, 3)  # type: ignore[attr-defined]

    await monitor.check()
    assert len(alerts(caplog)) == 2  # repeated at every check while over

    for entry in taken:
        await storage.ack(QUEUE, GROUP, entry.entry_id)
    assert await monitor.check() == []
    assert gauge(metrics, "vrep_queue_depth", QUEUE) == 2
    assert gauge(metrics, "vrep_queue_alert", QUEUE) == 0
    assert [r.getMessage() for r in caplog.records][-1] == "queue back under alert depth"
