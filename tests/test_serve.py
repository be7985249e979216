"""``virtualrep serve`` at its edges, as an operator meets them: real processes, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from langchain_core.embeddings import Embeddings

import knowledge.base as kb_base
from bot.serve import bind, loop_name, run, serve
from bot.settings import SettingsError, load_settings
from knowledge.base import IngestStopped, KnowledgeBase
from knowledge.sample import ensure_sample_library
from tests.storage_backends import free_port

HANG_GUARD_S = 120.0  # only stops a hung process; no speed is asserted


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )


def test_a_port_in_use_ends_with_one_line_and_exit_code_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"virtualrep: cannot serve on 127.0.0.1:{port}: Address already in use"
    ]
    assert "serving" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_an_unresolvable_host_ends_with_one_line_and_exit_code_2(host: str) -> None:
    result = run_serve("--host", host, "--port", str(free_port()))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"virtualrep: cannot serve on {host}:")
    assert "serving" not in result.stderr


def test_ctrl_c_during_the_first_ingest_ends_the_process_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VREP_KB_DIR": str(tmp_path / "kb"),  # empty: the first start ingests the library
        "VREP_DATA_DIR": str(tmp_path / "data"),
        "VREP_PORT": str(free_port()),
        "VREP_LOG_LEVEL": "DEBUG",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + HANG_GUARD_S
    for line in process.stderr:
        seen.append(line)
        if "checking the sample library" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=HANG_GUARD_S)
    log = "".join(seen) + rest
    assert process.returncode == 130
    assert "stopping the sample library ingest" in log
    assert "Traceback" not in log and "athrow" not in log
    assert '"serving"' not in log


class _StopAfterFirstBatch(Embeddings):
    """Embeddings that ask the ingest to stop while encoding their first batch (as Ctrl-C
    would), and record every batch they were given."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.batches: list[int] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        self.stop.set()
        return [[1.0] + [0.0] * 383 for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0] + [0.0] * 383


def test_a_stopped_ingest_encodes_no_batch_after_the_stop_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """What bounds Ctrl-C during the first ingest: the batches are small while a stop may
    come, and none starts encoding once the stop is set (the process then exits at once)."""
    settings = load_settings(kb_dir=tmp_path / "kb")
    stop = threading.Event()
    embeddings = _StopAfterFirstBatch(stop)
    knowledge = KnowledgeBase(settings, kb_base._client(settings), embeddings, "fake")
    try:
        with pytest.raises(IngestStopped):
            ensure_sample_library(knowledge, stop)
        assert embeddings.batches == [kb_base._STOPPABLE_BATCH]  # one small batch, no other
        assert knowledge.list_documents() == []
    finally:
        knowledge.close()


@pytest.mark.parametrize(
    ("choice", "expected"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")]
)
def test_serve_answers_on_the_event_loop_the_settings_name(choice: str, expected: str) -> None:
    """``serve`` as ``virtualrep serve`` runs it (``run`` with ``VREP_EVENT_LOOP``): a request
    is answered on the named loop ("auto" is uvloop, a declared dependency), and SIGTERM ends it."""
    event_loop = load_settings(event_loop=choice).event_loop
    app = web.Application()

    async def which(request: web.Request) -> web.Response:
        return web.Response(text=loop_name())

    app.router.add_get("/loop", which)
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/loop"
    answers: list[str] = []
    served = threading.Event()  # set once serve returned: nothing to ask or stop any more

    def ask_then_stop() -> None:
        while not answers and not served.is_set():
            try:
                with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:
                    answers.append(response.read().decode())
            except OSError:  # not listening yet
                time.sleep(0.05)
        if answers:  # serve's SIGTERM handler is in place while it answers
            os.kill(os.getpid(), signal.SIGTERM)

    asker = threading.Thread(target=ask_then_stop)
    asker.start()
    try:
        with pytest.raises(asyncio.CancelledError):
            run(serve(app, sock, "127.0.0.1", 0, workers=1), event_loop=event_loop)
    finally:
        served.set()
        asker.join()
    assert answers == [expected]


def test_uvloop_named_but_not_installed_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    with pytest.raises(SettingsError, match=r"^invalid VREP_EVENT_LOOP: uvloop is not installed"):
        load_settings(event_loop="uvloop")
