"""Retrieval on the sample library (Chinese and English) and the Chroma server-mode path."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import load_settings
from knowledge.base import KnowledgeBase
from knowledge.sample import ensure_sample_library

BOTH = frozenset({"hcp", "public"})


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """One embedded sample library for the whole session (embedding is the slow part)."""
    kb = KnowledgeBase.open(load_settings(kb_dir=tmp_path_factory.mktemp("sample") / "kb"))
    ensure_sample_library(kb)
    return kb


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("肾功能不好的病人要减量吗", "SR-NRX-ZH-02"),
        ("孕妇能吃诺拉维吗", "SR-NRX-ZH-04"),
        ("忘记吃药了怎么办", "SR-NRX-ZH-09"),
        ("药吃多了怎么处理", "SR-NRX-ZH-10"),
        ("Can I give Noravex to a patient with kidney problems?", "SR-NRX-EN-02"),
        ("Is grapefruit juice a problem with nolavastatin?", "SR-NRX-EN-05"),
        ("What are the side effects of Noravex?", "SR-NRX-EN-06"),
    ],
)
def test_questions_find_the_right_sample_document(
    sample_kb: KnowledgeBase, question: str, doc_id: str
) -> None:
    # Membership, not first place: near pairs (overdose vs missed dose) sit within a
    # floating-point hair of each other in the fused score, and which one leads differs
    # between CPUs. The Q&A skill puts the passage on the question's topic first, with a
    # margin (tests/test_qa_answers.py::test_near_pairs_are_told_apart_with_a_margin).
    hits = sample_kb.search(question, 3, audiences=BOTH)
    assert doc_id in [hit.doc_id for hit in hits]
    assert all(h.approval_code and h.citation and h.dense_score is not None for h in hits)


def test_a_language_filter_ranks_another_languages_passages_among_themselves(
    sample_kb: KnowledgeBase,
) -> None:
    """A Chinese question about the two-year extension: among all passages every Chinese one
    outranks the English study (the encoder scores same-language pairs higher, the lexical
    retrievers share no words); among the English ones it leads by a clear margin."""
    question = "诺拉维连续吃两年以上有没有安全性研究"
    assert "ST-NOVA-LT" not in [h.doc_id for h in sample_kb.search(question, 5, audiences=BOTH)]
    hits = sample_kb.search(question, 3, audiences=BOTH, language="en")
    assert {h.language for h in hits} == {"en"}
    assert hits[0].doc_id == "ST-NOVA-LT"
    assert hits[0].score - hits[1].score >= 0.3


def test_storage_question_finds_the_storage_answer(sample_kb: KnowledgeBase) -> None:
    # The patient leaflet's storage section is an equally right answer; both must lead.
    ids = [h.doc_id for h in sample_kb.search("诺拉维怎么保存", 2, audiences=BOTH)]
    assert "SR-NRX-ZH-06" in ids


def test_expired_and_withdrawn_sample_documents_never_surface(sample_kb: KnowledgeBase) -> None:
    ids = {
        h.doc_id for h in sample_kb.search("Lipid Summit 2023 launch symposium", 20, audiences=BOTH)
    }
    ids |= {h.doc_id for h in sample_kb.search("NOVA-1 interim analysis", 20, audiences=BOTH)}
    assert "MM-NRX-EN-2023" not in ids and "ST-NOVA-1-INTERIM" not in ids
    public = {h.audience for h in sample_kb.search("诺拉维怎么保存", 10)}
    assert public == {"public"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    process = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        # chromadb's HTTP client leaves pooled sockets for the garbage collector even after
        # close(); collect them here, quietly, rather than in whichever test runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_server_mode_two_replicas_share_changes(chroma_server: str, tmp_path: Path) -> None:
    settings = load_settings(chroma_url=chroma_server, kb_dir=tmp_path / "unused")
    writer = KnowledgeBase.open(settings)
    reader = KnowledgeBase.open(settings)
    assert writer.ping()
    doc = tmp_path / "s.md"
    doc.write_text(
        "---\ndoc_id: SRV\ntitle: Server\napproval_code: S-1\nexpires_on: 2099-01-01\n---\n"
        "Tolvimex is taken once daily.\n",
        encoding="utf-8",
    )
    assert writer.ingest_paths([doc]).added == ["SRV"]
    reader._checked_at = 0.0  # skip the refresh throttle instead of sleeping
    assert reader.search("Tolvimex", 1, audiences=BOTH)[0].doc_id == "SRV"
    writer.withdraw("SRV")
    reader._checked_at = 0.0
    assert reader.search("Tolvimex", 1, audiences=BOTH) == []
    writer.close()
    reader.close()
    assert not (tmp_path / "unused").exists()
