"""Lock leases kept alive while their holder works (shared by every ``Storage`` backend).

A backend's lock is a lease of ``timeout_s``: while the ``async with`` block runs, a background
task renews it every third of the lease, so a holder at work never loses it, and a holder that
stopped (its process was killed, or the storage handle was closed) loses it at most one lease
after its last renewal. A backend supplies ``renew`` (extend the lease if this holder still owns
it) and a set in which it tracks the running renewals, so that ``close`` can stop them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.storage.base import StorageError

log = logging.getLogger(__name__)

Renew = Callable[[], Awaitable[bool]]
"""Extend the lease by its full length; False when this holder no longer owns the lock."""

pause: Callable[[float], Awaitable[None]] = asyncio.sleep
"""How a renewal waits for its turn (seconds). Tests replace it to run renewals exactly when
they say (``tests.storage_backends.Renewals``), so no test races the event loop's timers."""


async def _keep_renewed(name: str, lease_s: float, renew: Renew) -> None:
    while True:
        await pause(lease_s / 3)
        try:
            if not await renew():
                log.warning("lock %s was lost: its lease ran out before it was renewed", name)
                return
        except StorageError:  # the next attempt may still be within the lease
            log.warning("renewing lock %s failed; trying again", name, exc_info=True)


@asynccontextmanager
async def renewed(
    name: str, lease_s: float, renew: Renew, renewals: set[asyncio.Task[None]]
) -> AsyncIterator[None]:
    """Renew the lease of ``name`` in the background for as long as the block runs."""
    task = asyncio.create_task(_keep_renewed(name, lease_s, renew), name=f"renew {name}")
    renewals.add(task)
    try:
        yield
    finally:
        renewals.discard(task)
        task.cancel()  # not awaited: a renewal racing the release only extends a lease it owns


def stop_renewals(renewals: set[asyncio.Task[None]]) -> None:
    """Stop renewing every lease of a storage handle being closed (as if its process died)."""
    for task in renewals:
        task.cancel()
    renewals.clear()
