"""Keeps CPython's cycle collector off the long-lived heap.

A full (generation-2) collection walks every tracked object. The serving process holds
150 000–220 000 of them that live as long as it does (models, the knowledge-base snapshot,
routers, imported modules), so each full collection paused the event loop for 65–145 ms and
one landed in almost every busy second of callbacks (issue 22). ``gc.freeze()`` moves every
object alive into the permanent generation, which the collector never walks: later
collections only see what was allocated since. Frozen objects are still freed by reference
counting when dropped (a replaced knowledge-base snapshot is acyclic); only a cycle among
frozen objects would stay until ``gc.unfreeze()``.

The app freezes once everything long-lived is loaded, and again after each knowledge-base
reload (``KnowledgeBase.on_reload``); at shutdown it unfreezes, so a process that goes on
(the tests) can collect the app's objects.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def freeze_long_lived(reason: str) -> None:
    """Collect the garbage there is, then freeze everything alive (see the module docstring).

    The collection walks only objects not frozen yet: at start-up the whole heap once (tens of
    milliseconds, before any request), after a reload about the new snapshot.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "long-lived heap frozen",
        extra={
            "reason": reason,
            "frozen_objects": gc.get_freeze_count(),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


def unfreeze() -> None:
    """Hand the frozen objects back to the collector (at shutdown)."""
    gc.unfreeze()
