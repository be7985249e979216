"""The worker process runs only on CPU time the callback server leaves (issue 22)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread scheduling policies are Linux's"
)

ROOT = Path(__file__).resolve().parent.parent

# In a process of its own (the policy is the whole process's): a thread started before the
# call (as numpy's BLAS threads are) and one started after must both end up SCHED_IDLE.
_PROBE = """
import os, sys, threading
from bot import threads
if sys.argv[1] == "refused":
    def refuse(*args):
        raise PermissionError("sandbox")
    threads.os.sched_setscheduler = refuse
go = threading.Event()
early = threading.Thread(target=go.wait)
early.start()
threads.idle_priority()
late = threading.Thread(target=go.wait)
late.start()
policies = {os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}
print(sorted(policies), os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
go.set()
"""


def _probe(mode: str) -> tuple[set[int], int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    policies, nice = done.stdout.rsplit(" ", 1)
    return {int(p) for p in policies.strip("[] ").split(",") if p}, int(nice)


def test_idle_priority_holds_for_every_thread_of_the_process() -> None:
    policies, _ = _probe("idle")
    assert policies == {os.SCHED_IDLE}


def test_without_the_idle_policy_the_worker_is_niced() -> None:
    policies, nice = _probe("refused")
    assert os.SCHED_IDLE not in policies
    assert nice >= 10  # BACKGROUND_NICE; setpriority's value is absolute
