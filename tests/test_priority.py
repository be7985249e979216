"""The worker process runs only on CPU time the callback server leaves (issue 22)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import pytest

from bot import threads
from bot.threads import BACKGROUND_NICE, idle_priority

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread scheduling policies are Linux's"
)


def _in_a_thread(body: Callable[[], object]) -> object:
    """``body``'s result, run in a thread of its own (the test's threads keep their policy)."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(body()))
    thread.start()
    thread.join()
    return out[0]


def _policy_and_nice() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_idle_priority_holds_for_the_caller_and_the_threads_it_starts() -> None:
    def body() -> tuple[tuple[int, int], object]:
        idle_priority()
        return _policy_and_nice(), _in_a_thread(_policy_and_nice)

    caller, started = _in_a_thread(body)  # type: ignore[misc]
    assert caller[0] == os.SCHED_IDLE
    assert started[0] == os.SCHED_IDLE  # type: ignore[index]
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the test's own thread is untouched


def test_without_the_idle_policy_the_worker_is_niced(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object) -> None:
        raise PermissionError("sandbox")

    monkeypatch.setattr(threads.os, "sched_setscheduler", refused)

    def body() -> tuple[int, int]:
        idle_priority()
        return _policy_and_nice()

    policy, nice = _in_a_thread(body)  # type: ignore[misc]
    assert policy != os.SCHED_IDLE
    assert nice >= BACKGROUND_NICE  # setpriority's value is absolute (the suite may run niced)
