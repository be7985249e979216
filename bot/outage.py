"""How background loops wait out a storage outage: a doubling delay, logged once per step.

Every background loop (queue consumers, the scheduler, the queue monitor) keeps running while
Redis is unreachable: each failed round trip counts one ``vrep_errors_total{where="storage"}``,
logs a warning naming the loop and the delay, and waits longer each time (up to ``cap_s``), so
an outage neither spins the CPU nor floods the log. The first success afterwards logs that the
loop resumed and resets the delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.metrics import Metrics
from bot.storage.base import StorageError

log = logging.getLogger(__name__)

INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 5.0
"""Short enough that work resumes within seconds of Redis coming back."""


class OutageBackoff:
    """The retry delays of one background loop while storage fails."""

    def __init__(
        self,
        loop_name: str,
        metrics: Metrics,
        *,
        initial_s: float = INITIAL_DELAY_S,
        cap_s: float = MAX_DELAY_S,
    ) -> None:
        self._loop_name = loop_name
        self._metrics = metrics
        self._initial_s = initial_s
        self._cap_s = cap_s
        self.failures = 0

    def failed(self, error: StorageError) -> float:
        """Count and log one failed attempt; returns how long to wait before the next."""
        self.failures += 1
        delay = min(self._cap_s, self._initial_s * 2.0 ** (self.failures - 1))
        self._metrics.errors.labels("storage").inc()
        log.warning(
            "storage unavailable; %s retrying in %.1f s",
            self._loop_name,
            delay,
            extra={"loop": self._loop_name, "failures": self.failures, "error": str(error)},
        )
        return delay

    def succeeded(self) -> None:
        """Note a successful round trip; logs the recovery when an outage was under way."""
        if self.failures:
            log.info(
                "storage reachable again; %s resumed",
                self._loop_name,
                extra={"loop": self._loop_name, "failures": self.failures},
            )
            self.failures = 0


async def repeat_through_outages(
    step: Callable[[], Awaitable[object]],
    *,
    interval_s: float,
    backoff: OutageBackoff,
    stopping: Callable[[], bool],
) -> None:
    """Await ``step`` every ``interval_s`` until ``stopping()``; a storage failure waits out
    ``backoff``'s delay instead of the interval, so a periodic loop survives an outage."""
    while not stopping():
        try:
            await step()
        except StorageError as error:
            await asyncio.sleep(backoff.failed(error))
            continue
        backoff.succeeded()
        await asyncio.sleep(interval_s)
