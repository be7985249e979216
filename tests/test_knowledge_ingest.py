"""Ingestion: every format, refusals with nothing written, versions, withdraw, restart, model id."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.settings import Settings, load_settings
from knowledge.base import KnowledgeBase, ModelMismatchError
from knowledge.sample import ensure_sample_library

FRONT = "approval_code: T-{n}\nexpires_on: 2030-01-01\naudience: hcp\nlanguage: en\n"
BOTH = frozenset({"hcp", "public"})


def _settings(tmp_path: Path) -> Settings:
    return load_settings(kb_dir=tmp_path / "kb")


def _md(path: Path, doc_id: str, body: str, version: str = "1", extra: str = "") -> Path:
    path.write_text(
        f"---\ndoc_id: {doc_id}\ntitle: {doc_id}\nversion: '{version}'\n"
        f"{FRONT.format(n=doc_id)}{extra}---\n\n# {doc_id}\n\n{body}\n",
        encoding="utf-8",
    )
    return path


def _tiny_pdf(path: Path, text: str) -> None:
    """A one-page PDF with a text layer, written by hand (no PDF writer dependency)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))


def test_every_format_is_ingested_and_found(tmp_path: Path) -> None:
    import docx

    src = tmp_path / "src"
    src.mkdir()
    _md(src / "a.md", "MD-1", "Zorbitol tablets are stored below 25 degrees.")
    _tiny_pdf(src / "b.pdf", "Quintavir dosing is 20 mg twice daily")
    (src / "b.pdf.meta.yaml").write_text(
        "doc_id: PDF-1\ntitle: Quintavir\napproval_code: P-1\nexpires_on: 2030-01-01\n"
    )
    document = docx.Document()
    document.add_heading("Pellamin safety", level=1)
    document.add_paragraph("Pellamin may cause drowsiness in elderly patients.")
    document.save(str(src / "c.docx"))
    (src / "c.yaml").write_text("doc_id: DOCX-1\napproval_code: D-1\nexpires_on: 2030-01-01\n")
    (src / "d.txt").write_text("Fenorazine should be taken with food.", encoding="utf-8")
    (src / "d.json").write_text(
        json.dumps(
            {
                "doc_id": "TXT-1",
                "title": "Fenorazine",
                "approval_code": "X-1",
                "expires_on": "2030-01-01",
            }
        )
    )
    (src / "e.jsonl").write_text(
        json.dumps(
            {
                "id": "JL-1",
                "title": "Halvorin",
                "text": "Halvorin 5 mg for migraine.",
                "lang": "en",
                "approval_code": "J-1",
                "expires_on": "2030-01-01",
            }
        )
        + "\n"
    )
    kb = KnowledgeBase.open(_settings(tmp_path))
    report = kb.ingest_paths([src])
    assert report.refused == []
    assert sorted(report.added) == ["DOCX-1", "JL-1", "MD-1", "PDF-1", "TXT-1"]
    for query, doc_id in [
        ("Zorbitol storage", "MD-1"),
        ("Quintavir dose", "PDF-1"),
        ("Pellamin drowsiness", "DOCX-1"),
        ("Fenorazine food", "TXT-1"),
        ("Halvorin migraine", "JL-1"),
    ]:
        assert kb.search(query, 1, audiences=BOTH)[0].doc_id == doc_id
    docx_hit = kb.search("Pellamin drowsiness", 1, audiences=BOTH)[0]
    assert docx_hit.section == "Pellamin safety"
    assert docx_hit.approval_code == "D-1" and "D-1" in docx_hit.citation


def test_missing_approval_metadata_is_refused_and_nothing_written(tmp_path: Path) -> None:
    src = tmp_path / "bad.md"
    src.write_text("---\ndoc_id: BAD\ntitle: Bad\nexpires_on: 2030-01-01\n---\nText.\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"id": "R1", "title": "t", "text": "x", "approval_code": "A"}) + "\n"
    )
    kb = KnowledgeBase.open(_settings(tmp_path))
    report = kb.ingest_paths([src, rows])
    assert [(r.field, r.origin) for r in report.refused] == [
        ("approval_code", str(src)),
        ("expires_on", f"{rows}:1"),
    ]
    assert "bad.md" in report.refused[0].line and "approval_code" in report.refused[0].line
    assert kb.chunk_count() == 0 and kb.list_documents() == []
    # The evaluation escape hatch accepts them, marked and hidden from users.
    kb.ingest_paths([rows], unapproved_eval=True)
    assert kb.search("x", 3, audiences=BOTH) == []
    assert kb.search("x", 3, audiences=BOTH, include_unapproved_eval=True)[0].doc_id == "R1"


def test_a_damaged_pdf_or_docx_is_refused_and_the_rest_ingested(tmp_path: Path) -> None:
    """A file that is not what its name says is one refusal line, not a traceback that
    stops the whole ingest (seen with ``virtualrep ingest`` on a folder)."""
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\ngarbage, no objects, no EOF marker")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not a zip archive")
    _md(folder / "good.md", "GOOD", "Bexoran tablets are taken once daily.")
    kb = KnowledgeBase.open(_settings(tmp_path))
    report = kb.ingest_paths([folder])
    refused = {Path(r.origin).name: r for r in report.refused}
    assert sorted(refused) == ["broken.docx", "broken.pdf"]
    assert "damaged or not a PDF" in refused["broken.pdf"].line
    assert "damaged or not a DOCX" in refused["broken.docx"].line
    assert report.added == ["GOOD"]
    assert [meta.doc_id for meta in kb.list_documents()] == ["GOOD"]


def test_filters_expiry_status_audience_product(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _md(src / "old.md", "OLD", "Velocor expired leaflet text.", extra="product: Velocor\n")
    (src / "old.md").write_text((src / "old.md").read_text().replace("2030-01-01", "2024-01-01"))
    _md(src / "pub.md", "PUB", "Velocor patient leaflet text.", extra="product: Velocor\n")
    (src / "pub.md").write_text(
        (src / "pub.md").read_text().replace("audience: hcp", "audience: public")
    )
    _md(src / "hcp.md", "HCP", "Velocor leaflet text for doctors.", extra="product: Velocor\n")
    _md(src / "other.md", "OTHER", "Other product leaflet text.", extra="product: Other\n")
    kb = KnowledgeBase.open(_settings(tmp_path))
    kb.ingest_paths([src])
    today = date(2025, 6, 1)
    public = {h.doc_id for h in kb.search("leaflet text", 10, today=today)}
    assert public == {"PUB"}
    hcp = {h.doc_id for h in kb.search("leaflet text", 10, audiences=BOTH, today=today)}
    assert hcp == {"PUB", "HCP", "OTHER"}
    old_day = {h.doc_id for h in kb.search("leaflet", 10, audiences=BOTH, today=date(2023, 6, 1))}
    assert "OLD" in old_day
    velocor = {
        h.doc_id for h in kb.search("leaflet", 10, audiences=BOTH, product="Velocor", today=today)
    }
    assert velocor == {"PUB", "HCP"}
    assert kb.withdraw("HCP")
    assert "HCP" not in {h.doc_id for h in kb.search("leaflet", 10, audiences=BOTH, today=today)}
    assert kb.get_document("HCP") is not None and kb.get_document("HCP").status == "withdrawn"  # type: ignore[union-attr]


def test_versions_replace_atomically_and_reingest_is_a_no_op(tmp_path: Path) -> None:
    src = tmp_path / "doc.md"
    kb = KnowledgeBase.open(_settings(tmp_path))
    _md(src, "VER", "Ardexil version one says take 10 mg.")
    assert kb.ingest_paths([src]).added == ["VER"]
    again = kb.ingest_paths([src])
    assert again.unchanged == ["VER"] and again.chunks_written == 0
    _md(src, "VER", "Ardexil version two says take 20 mg.", version="2")
    seen: list[set[str]] = []
    original = kb._registry.upsert

    def spy(*args: object, **kwargs: object) -> None:
        # Just before and after the flip, a search sees exactly one version.
        seen.append({h.version for h in kb.search("Ardexil", 5, audiences=BOTH)})
        original(*args, **kwargs)
        seen.append(
            {
                h.version
                for h in KnowledgeBase.open(_settings(tmp_path)).search(
                    "Ardexil", 5, audiences=BOTH
                )
            }
        )

    kb._registry.upsert = spy  # type: ignore[method-assign]
    assert kb.ingest_paths([src]).replaced == ["VER"]
    kb._registry.upsert = original  # type: ignore[method-assign]
    assert all(len(versions) == 1 for versions in seen[:2])
    assert [h.version for h in kb.search("Ardexil", 5, audiences=BOTH)] == ["2"]
    assert kb.chunk_count() == 1


def test_failed_ingest_leaves_previous_state(tmp_path: Path) -> None:
    src = tmp_path / "doc.md"
    kb = KnowledgeBase.open(_settings(tmp_path))
    _md(src, "KEEP", "Bexoran version one text.")
    kb.ingest_paths([src])
    _md(src, "KEEP", "Bexoran version two text.", version="2")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    kb._registry.upsert = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        kb.ingest_paths([src])
    reopened = KnowledgeBase.open(_settings(tmp_path))
    assert [h.version for h in reopened.search("Bexoran", 5, audiences=BOTH)] == ["1"]
    assert reopened.ingest_paths([src]).replaced == ["KEEP"]
    assert [h.version for h in reopened.search("Bexoran", 5, audiences=BOTH)] == ["2"]


def test_lexical_index_consistent_after_withdraw_and_restart(
    tmp_path: Path, sample_kb_dir: Path
) -> None:
    """Starts from a copy of the session's embedded sample library (embedding it again here
    cost half a minute of a loaded run); the withdraw and the reopen are this test's own."""
    shutil.copytree(sample_kb_dir, tmp_path / "kb")
    kb = KnowledgeBase.open(_settings(tmp_path))
    assert ensure_sample_library(kb) == 0  # the copy holds the whole library
    kb.withdraw("SR-NRX-ZH-09")
    reopened = KnowledgeBase.open(_settings(tmp_path))
    ids = {h.doc_id for h in reopened.search("漏服了怎么办", 10, audiences=BOTH)}
    assert "SR-NRX-ZH-09" not in ids
    assert all(row.doc_id != "SR-NRX-ZH-09" for row in reopened._snapshot.rows)
    # The sample library does not resurrect a withdrawn document (same version).
    assert ensure_sample_library(reopened) == 0


def test_model_mismatch_is_refused_naming_reindex(tmp_path: Path) -> None:
    first = KnowledgeBase.open(_settings(tmp_path))
    first.ingest_paths([_md(tmp_path / "m.md", "M", "Some text.")])
    first._client.get_collection("vrep-kb-chunks").modify(
        metadata={"embedding_model": "other:model"}
    )
    with pytest.raises(ModelMismatchError, match="kb reindex"):
        KnowledgeBase.open(_settings(tmp_path))
    kb = KnowledgeBase.open(_settings(tmp_path), allow_model_change=True)
    assert kb.reindex() == 1
    assert KnowledgeBase.open(_settings(tmp_path)).search("Some text", 1, audiences=BOTH)


def test_ingest_in_two_worker_processes_equals_one_by_one_even_after_a_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches on two encoders (worker processes) give the same chunks, ids, BM25 tokens,
    vectors and search results as one chunk at a time in this process; an ingest stopped
    after its first batch wrote nothing, and running it again loses and doubles nothing."""
    import threading

    from knowledge import base
    from knowledge.base import IngestStopped

    library = Path(__file__).parent / "qa_library"
    queries = ("Norvexa dose in renal impairment", "诺维莎 孕妇", "adverse reactions rash")

    def build(name: str, batch: int, cores: int) -> KnowledgeBase:
        monkeypatch.setattr(base, "_INGEST_BATCH", batch)
        monkeypatch.setattr(base, "_ingest_cores", lambda: cores)
        kb = KnowledgeBase.open(load_settings(kb_dir=tmp_path / name))
        kb.ingest_paths([library])
        return kb

    one_by_one = build("one", batch=1, cores=1)
    stop = threading.Event()
    add = base._CachingEmbeddings.add

    def add_then_stop(self: base._CachingEmbeddings, texts: list[str], vectors: Any) -> None:
        add(self, texts, vectors)
        stop.set()

    monkeypatch.setattr(base._CachingEmbeddings, "add", add_then_stop)
    monkeypatch.setattr(base, "_ingest_cores", lambda: 2)
    stopped = KnowledgeBase.open(load_settings(kb_dir=tmp_path / "batched"))
    with pytest.raises(IngestStopped):
        stopped.ingest_paths([library], stop=stop)
    assert stopped.chunk_count() == 0 and not stopped.list_documents()
    stopped.close()
    monkeypatch.setattr(base._CachingEmbeddings, "add", add)
    batched = build("batched", batch=3, cores=2)
    try:
        assert batched.chunk_count() == one_by_one.chunk_count()
        rerun = batched.ingest_paths([library])
        assert not rerun.added and not rerun.replaced and rerun.chunks_embedded == 0
        assert batched.chunk_count() == one_by_one.chunk_count()
        docs = [meta.doc_id for meta in one_by_one.list_documents()]
        assert docs == [meta.doc_id for meta in batched.list_documents()]
        for doc_id in docs:
            assert one_by_one.document_chunks(doc_id) == batched.document_chunks(doc_id)
        for query in queries:
            expected = one_by_one.search(query, 8, audiences=BOTH)
            got = batched.search(query, 8, audiences=BOTH)
            assert expected, query
            # Same passages; scores within float noise (which of two tied passages comes
            # first is not asserted).
            assert {hit.chunk_id for hit in got} == {hit.chunk_id for hit in expected}
            scores = {hit.chunk_id: hit.score for hit in expected}
            for hit in got:
                assert hit.score == pytest.approx(scores[hit.chunk_id], abs=1e-4)
        stored = one_by_one._store.get(include=["metadatas", "embeddings"])
        again = batched._store.get(include=["metadatas", "embeddings"])
        by_id = dict(
            zip(
                again["ids"], zip(again["metadatas"], again["embeddings"], strict=True), strict=True
            )
        )
        assert sorted(stored["ids"]) == sorted(by_id)
        for chunk_id, meta, vector in zip(
            stored["ids"], stored["metadatas"], stored["embeddings"], strict=True
        ):
            assert meta["words"] == by_id[chunk_id][0]["words"]  # BM25 tokens
            assert float(np.dot(vector, by_id[chunk_id][1])) == pytest.approx(1.0, abs=1e-4)
    finally:
        one_by_one.close()
        batched.close()


def test_the_operator_is_told_what_was_skipped_refused_or_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``virtualrep ingest`` on a folder names each file of another format (it was skipped
    silently), stays quiet about hidden folders and sidecars, ingests a PDF whose xref
    offset pypdf has to repair without pypdf's own log line, and says how to fix a YAML
    value read as a boolean (``title: Off``)."""
    from bot.cli import main

    src = tmp_path / "src"
    (src / ".git").mkdir(parents=True)
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (src / "scan.xyz").write_bytes(b"\x00\x01")
    _tiny_pdf(src / "repaired.pdf", "Quintavir dosing is 20 mg twice daily")
    raw = (src / "repaired.pdf").read_bytes()
    start = raw.rindex(b"startxref\n") + len(b"startxref\n")
    end = raw.index(b"\n", start)
    (src / "repaired.pdf").write_bytes(
        raw[:start] + str(int(raw[start:end]) + 7).encode() + raw[end:]
    )
    (src / "repaired.pdf.meta.yaml").write_text(
        "doc_id: PDF-2\ntitle: Quintavir\napproval_code: P-2\nexpires_on: 2030-01-01\n"
    )
    (src / "switch.md").write_text(
        "---\ndoc_id: SW-1\ntitle: Off\napproval_code: S-1\nexpires_on: 2030-01-01\n---\n\nText.\n"
    )
    monkeypatch.setenv("VREP_DATA_DIR", str(tmp_path / "data"))

    assert main(["ingest", "--kb-dir", str(tmp_path / "kb"), str(src)]) == 1

    out, err = capsys.readouterr()
    assert "added 1," in out and "refused 1;" in out and "skipped 1 of another format" in out
    lines = err.splitlines()
    assert any(line.startswith(f"skipped {src / 'scan.xyz'}: .xyz is not") for line in lines)
    assert not any(".git" in line or "meta.yaml" in line for line in lines)
    assert any("switch.md: title" in line and "put the value in quotes" in line for line in lines)
    assert not any("pypdf" in line or "startxref" in line for line in lines)


def test_a_mistyped_path_leaves_no_knowledge_base_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("VREP_DATA_DIR", str(tmp_path / "data"))

    assert main(["ingest", "--kb-dir", str(tmp_path / "kb"), str(tmp_path / "libary")]) == 1

    assert "path does not exist" in capsys.readouterr().err
    assert not (tmp_path / "kb").exists()


def test_each_folder_is_walked_once_for_sources_and_skipped_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One walk per folder gives both lists (the ingest walked each folder twice); a file
    reached twice is listed once; hidden files and sidecars are in neither."""
    from knowledge import loaders

    tree = tmp_path / "docs"
    for name in ("a.md", "sub/b.txt", "sub/c.xyz", "d.pdf", "d.pdf.meta.yaml", ".hidden/e.md"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("x")
    (tree / "scan.bin").write_bytes(b"\x00")
    walked: list[Path] = []
    walk = loaders._content_files

    def counting(folder: Path) -> Iterator[Path]:
        walked.append(folder)
        return walk(folder)

    monkeypatch.setattr(loaders, "_content_files", counting)
    found = loaders.find_source_files([tree, tree / "sub", tree / "a.md"])
    assert walked == [tree, tree / "sub"]
    assert found.sources == [tree / "a.md", tree / "d.pdf", tree / "sub" / "b.txt"]
    assert found.skipped == [tree / "scan.bin", tree / "sub" / "c.xyz"]
