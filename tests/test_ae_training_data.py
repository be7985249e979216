"""The hand-written adverse-event training files are well-formed and kept apart from test data.

``bench/train_ae.py`` reads every ``skills/adverse_events/data/train_*.jsonl`` file listed in its
``TRAINING_FILES``; a row with a missing field or a label other than 0/1 would fail a retrain
late, and a row copied from the held-back test set would make its numbers meaningless. This
checks the files themselves, so a new data file is validated the moment it is added.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "skills" / "adverse_events" / "data"
HELDOUT = Path(__file__).resolve().parent / "data" / "ae_heldout.jsonl"
TRAIN_FILES = sorted(DATA.glob("train_*.jsonl"))


def _rows(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _key(text: object) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


@pytest.mark.parametrize("path", TRAIN_FILES, ids=lambda p: p.name)
def test_rows_have_the_training_schema(path: Path) -> None:
    rows = _rows(path)
    assert rows
    for row in rows:
        assert {"id", "text", "label", "lang", "source"} <= row.keys(), row
        assert row["label"] in (0, 1), row
        assert row["lang"] in ("zh", "en"), row
        assert isinstance(row["text"], str) and row["text"].strip(), row


def test_ids_are_unique_across_files() -> None:
    seen: dict[object, str] = {}
    for path in [*sorted(DATA.glob("*.jsonl")), HELDOUT]:
        for row in _rows(path):
            assert row["id"] not in seen, (row["id"], path.name, seen.get(row["id"]))
            seen[row["id"]] = path.name


def test_no_training_row_repeats_a_held_back_row() -> None:
    held_back = {_key(row["text"]) for row in _rows(HELDOUT)}
    copied = [
        (path.name, row["id"])
        for path in TRAIN_FILES
        for row in _rows(path)
        if _key(row["text"]) in held_back
    ]
    assert not copied


def test_no_training_row_repeats_a_plain_negative() -> None:
    """``plain_negatives.jsonl`` is the measured false-alarm corpus: rows written for training
    must not copy it, or its false-alarm rate would be measured on memorised text.
    ``train_zh.jsonl`` predates it and shares four one-phrase greetings with it ("早上好")."""
    plain = {_key(row["text"]) for row in _rows(DATA / "plain_negatives.jsonl")}
    copied = [
        (path.name, row["id"])
        for path in TRAIN_FILES
        if path.name != "train_zh.jsonl"
        for row in _rows(path)
        if _key(row["text"]) in plain
    ]
    assert not copied
