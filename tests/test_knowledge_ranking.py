"""Fusion features: hubness, per-query scales that do not depend on the collection's size."""

from __future__ import annotations

import numpy as np

from knowledge import ranking


def _unit(rows: list[list[float]]) -> np.ndarray:  # type: ignore[type-arg]
    matrix = np.array(rows, dtype=np.float32)
    normalised: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)  # type: ignore[type-arg]
    return normalised


def test_hubness_ignores_chunks_of_the_same_document() -> None:
    # Chunks 0 and 1 are one document and identical; chunk 2 is another document near them,
    # chunk 3 is far from everything.
    vectors = _unit([[1, 0, 0], [1, 0, 0], [1, 0.2, 0], [0, 0, 1]])
    hubs = ranking.hubness(vectors, ["a", "a", "b", "c"], block=2)
    assert hubs.shape == (4,)
    # Without the same-document rule chunk 0's nearest neighbour would be chunk 1 (cosine 1).
    expected = np.mean(np.sort(vectors[[2, 3]] @ vectors[0]))
    assert np.isclose(hubs[0], expected)
    assert hubs[3] < hubs[2]


def test_features_do_not_blow_up_when_few_chunks_match_lexically() -> None:
    # One lexical match among many chunks: scales over the whole collection would make the
    # non-matching candidates' BM25 gap huge; over the candidates it stays bounded.
    size = 10_000
    rng = np.random.default_rng(0)
    dense = rng.uniform(0.7, 0.9, size).astype(np.float32)
    lexical = np.zeros(size, dtype=np.float32)
    lexical[7] = 12.0
    scores = {"dense": dense, "bm25_char": lexical, "bm25_word": lexical}
    local = ranking.candidate_rows(scores)
    assert 7 in local and len(local) <= ranking.CANDIDATES_PER_RETRIEVER + 1
    query = ranking.terms(["肾", "功", "能"], ["肾功能"])
    chunk = ranking.terms(["肾", "功"], ["肾"])
    matrix = ranking.features(
        scores, np.zeros(size, dtype=np.float32), local, query, [chunk] * len(local)
    )
    assert matrix.shape == (len(local), len(ranking.FEATURES))
    assert np.isfinite(matrix).all()
    gaps = [ranking.FEATURES.index(f"{name}_gap") for name in ranking.RETRIEVERS]
    assert matrix[:, gaps].min() >= -ranking.GAP_FLOOR


def test_shipped_weights_match_the_features() -> None:
    model = ranking.load_model()
    assert model.weights.shape == (len(ranking.FEATURES),)
