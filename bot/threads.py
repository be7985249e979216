"""The thread pool for blocking work, running below the event loop's CPU priority.

Embeddings, knowledge-base searches and Chroma calls run in threads (``asyncio.to_thread``)
while the event loop acknowledges WeCom callbacks, which must answer within seconds or WeCom
retries. When the cores are busy, a thread embedding a message competed with the loop as an
equal and callback latency doubled (``bench/bench_callback.py``). The pool's threads lower
their own priority (Linux: a thread's nice value is its own), so the kernel gives the loop the
CPU first and the background work everything left over; on an idle core nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
"""How much lower than the loop the pool's threads run (nice steps; 10 ≈ a tenth of the CPU
when both want it)."""


def lower_priority() -> None:
    """Lower the calling thread's CPU priority by ``BACKGROUND_NICE`` (threads it starts later
    inherit it: ``virtualrep worker`` calls it first thing, so the whole process runs below
    the callback server's loop)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError) as exc:  # not Linux, or a sandbox that forbids it
        log.warning("background threads keep normal priority", extra={"error": str(exc)})


def idle_priority() -> None:
    """Run this whole process — every thread it has (numpy's BLAS threads start at import)
    and the threads they start later — only when a core is otherwise idle (Linux
    ``SCHED_IDLE``); where that policy is missing or refused, the calling thread is niced
    (``lower_priority``).

    For ``virtualrep worker``: answering is deferred work, the callback's acknowledgement must
    win the core. At nice +10 a busy worker process still takes about a tenth of a core it shares
    with the callback server (CFS weights 110 against 1024); at ``SCHED_IDLE`` (weight 3) it
    runs in the time the server leaves. The cost: while every core stays busy with normal-
    priority work (a sustained flood of callbacks), answers wait until it eases. A whole process
    may do this safely; threads sharing a GIL with the loop must not (a starved thread holding
    the GIL would stall the loop), so the in-process pool stays at ``lower_priority``.
    """
    try:
        for task in os.listdir("/proc/self/task"):  # Linux: one entry per thread
            os.sched_setscheduler(int(task), os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or a sandbox that forbids it
        log.warning("worker keeps a normal scheduling policy", extra={"error": str(exc)})
        lower_priority()


async def background_threads_ctx(app: web.Application) -> AsyncIterator[None]:
    """Make the loop's default executor a low-priority pool while the app runs."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(thread_name_prefix="vrep-background", initializer=lower_priority)
    loop.set_default_executor(pool)
    try:
        yield
    finally:
        # Whatever runs on this loop after the app (tests) gets a plain pool again.
        loop.set_default_executor(ThreadPoolExecutor())
        pool.shutdown(wait=False)
