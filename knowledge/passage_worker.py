"""A passage encoder in a process of its own, for ingest on more than one core (issue 22).

In one process the fp32 encoder (``knowledge.dense_e5``) cannot keep two cores busy: its
Python parts (tokeniser, attention loop, the element-wise passes between BLAS calls) take
turns on the GIL. So ingest runs one ``PassageWorker`` per core, each a plain
``python -m knowledge.passage_worker`` with its own model (≈ 90 MB of fp32 weights plus the
71 MB model file), fed batches of texts through its stdin and answering vectors on its stdout
(pickles; parent and worker are the same code). Not ``multiprocessing``: its spawn start
re-imports the parent's main module, which breaks a caller without a ``__main__`` guard and
costs every worker the parent's imports; fork would copy Chroma's and tqdm's threads.

The worker ignores Ctrl-C (the parent stops the ingest and ends it) and ends when its stdin
closes, so it does not outlive the parent.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

FloatArray = np.ndarray[Any, Any]

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class WorkerError(RuntimeError):
    """The worker process failed or ended."""


class PassageWorker:
    """One worker process; ``passages`` may be called from several threads (one at a time)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # one worker per core
        self._process = subprocess.Popen(
            [sys.executable, "-m", "knowledge.passage_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._lock = threading.Lock()

    def passages(self, texts: list[str]) -> FloatArray:
        """``DenseE5.passages(texts)`` computed in the worker (L2-normalised, float32)."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        with self._lock:
            try:
                pickle.dump(texts, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
                ok, value = pickle.load(stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                raise WorkerError(
                    f"the passage worker ended (exit {self._process.poll()})"
                ) from exc
        if not ok:
            raise WorkerError(f"the passage worker failed: {value}")
        vectors: FloatArray = value
        return vectors

    def close(self) -> None:
        """End the worker. It holds nothing to lose (vectors go back only as replies), so it
        is terminated rather than waited for: a stopped ingest does not wait for a model that
        is still loading."""
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        self._process.terminate()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _serve(requests: BinaryIO, replies: BinaryIO) -> None:
    from knowledge.dense_e5 import DenseE5

    model = DenseE5()
    while True:
        try:
            texts = pickle.load(requests)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, model.passages(texts))
        except Exception as exc:  # the parent raises it as WorkerError
            reply = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The replies own the real stdout; anything printed by libraries goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
