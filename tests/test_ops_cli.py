"""Operator commands on the embedded default (a SQLite store in ``VREP_DATA_DIR``), run through
``virtualrep``'s entry point as an operator types them."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.dead_letters_cli import NONE_LISTED
from bot.profiles import DoctorProfile, ProfileStore
from bot.settings import load_settings
from bot.storage.sqlite import SqliteStorage
from records import open_records
from skills.adverse_events.cases import DeliveryState
from skills.adverse_events.pv_cli import delivery_shown


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "store"
    monkeypatch.setenv("VREP_DATA_DIR", str(data))
    monkeypatch.setenv("VREP_EMBEDDED_STORAGE", "sqlite")
    monkeypatch.delenv("VREP_REDIS_URL", raising=False)
    monkeypatch.delenv("VREP_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    async def create() -> None:  # as the bot's first start does
        storage = SqliteStorage.in_data_dir(data)
        try:
            await storage.set_json("created-by-test", True)
        finally:
            await storage.close()

    asyncio.run(create())
    return data


def _profile(data: Path, doctor_id: str) -> DoctorProfile | None:
    async def read() -> DoctorProfile | None:
        storage = SqliteStorage.in_data_dir(data)
        try:
            return await ProfileStore(storage).get(doctor_id)
        finally:
            await storage.close()

    return asyncio.run(read())


def _verifications() -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        async with open_records(load_settings()) as records:
            page = await records.search_audit(kind="hcp_verification", limit=100)
        return [dict(r.payload or {}) for r in page.items]

    return asyncio.run(read())


def test_doctor_verify_before_the_first_message_needs_new_and_is_audited(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator told by a rep about a doctor who has not written yet: a plain verify is
    refused with what to do (nothing created), --new verifies in advance, audited with the
    login; a second verify keeps the first verifier."""
    assert main(["doctor", "verify", "wmNew01"]) == 1
    refused = capsys.readouterr()
    assert refused.out == ""
    assert "no doctor wmNew01 has written to the bot yet" in refused.err
    assert "run again with --new" in refused.err and refused.err.count("\n") == 1
    assert _profile(store, "wmNew01") is None  # nothing changed

    assert main(["doctor", "verify", "wmNew01", "--new", "--by", "ops_li"]) == 0
    assert capsys.readouterr().out == "verified wmNew01 (wmNew01) before their first message\n"
    profile = _profile(store, "wmNew01")
    assert profile is not None and profile.verified and profile.verified_by == "ops_li"
    [audited] = _verifications()
    assert audited["doctor"] == "wmNew01" and audited["by"] == "ops_li"
    assert str(audited["via"]).startswith("cli:") and audited["before_first_message"] is True

    assert main(["doctor", "verify", "wmNew01", "--by", "ops_wu"]) == 0  # again: kept as it was
    again = capsys.readouterr().out
    assert "wmNew01 (wmNew01) was already verified by ops_li at " in again
    assert "nothing changed" in again
    profile = _profile(store, "wmNew01")
    assert profile is not None and profile.verified_by == "ops_li"
    assert len(_verifications()) == 1

    assert main(["doctor", "verify", " wm x", "--new"]) == 2  # not an id: refused
    assert "not a doctor id" in capsys.readouterr().err
    assert _profile(store, " wm x") is None


def test_kb_withdraw_is_audited_and_kb_list_says_what_cannot_answer(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kb withdraw` takes approved content out of answers: audited like the console's
    withdrawal (who, and the login that ran it); an unknown id is one line, nothing audited."""
    kb = tmp_path / "kb"
    shutil.copytree(os.environ["VREP_KB_DIR"], kb)  # the session's sample library, a copy
    assert main(["kb", "withdraw", "NOPE", "--kb-dir", str(kb)]) == 1
    assert capsys.readouterr().err == "virtualrep: no document NOPE\n"
    assert main(["kb", "withdraw", "PI-NRX-EN", "--kb-dir", str(kb), "--by", "med_lu"]) == 0
    assert capsys.readouterr().out == "withdrawn PI-NRX-EN\n"

    async def withdrawals() -> list[dict[str, object]]:
        async with open_records(load_settings()) as records:
            page = await records.search_audit(kind="content_withdraw", limit=10)
        return [dict(r.payload or {}) for r in page.items]

    [audited] = asyncio.run(withdrawals())
    assert (audited["doc_id"], audited["by"]) == ("PI-NRX-EN", "med_lu")
    assert str(audited["via"]).startswith("cli:")

    assert main(["kb", "list", "--kb-dir", str(kb)]) == 0  # what answers can use, at a glance
    status = dict(line.split("\t")[:2] for line in capsys.readouterr().out.splitlines())
    assert status["PI-NRX-EN"] == "withdrawn"
    assert status["MM-NRX-EN-2023"] == "approved (expired)"  # the 2023 symposium, until 2024
    assert status["MM-NRX-EN-01"] == "approved"


def test_ingest_of_approved_content_is_audited_as_the_consoles_upload(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`virtualrep ingest` puts content into answers, as the console's upload does: audited
    the same way (who, the login that ran it, what changed); an evaluation corpus is not."""
    doc = tmp_path / "leaflet.md"
    doc.write_text(
        "---\ndoc_id: LF-1\ntitle: Leaflet\napproval_code: LF-1-2026\nexpires_on: 2030-01-01\n"
        "---\n\nNoravex is taken once a day with food.\n"
    )
    assert main(["ingest", "--kb-dir", str(tmp_path / "kb"), str(doc), "--by", "med_lu"]) == 0
    assert "added 1," in capsys.readouterr().out
    eval_kb = str(tmp_path / "eval-kb")
    assert main(["ingest", "--unapproved-eval", "--kb-dir", eval_kb, str(doc)]) == 0

    async def uploads() -> list[dict[str, object]]:
        async with open_records(load_settings()) as records:
            page = await records.search_audit(kind="content_upload", limit=10)
        return [dict(r.payload or {}) for r in page.items]

    [audited] = asyncio.run(uploads())
    assert (audited["by"], audited["added"], audited["refused"]) == ("med_lu", ["LF-1"], [])
    assert str(audited["via"]).startswith("cli:") and audited["paths"] == [str(doc.resolve())]


def test_dead_list_with_nothing_says_so(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dead", "list"]) == 0
    assert capsys.readouterr().out == f"{NONE_LISTED}\n"
    with pytest.raises(SystemExit):
        main(["dead", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert "PV cases" in helped and "`virtualrep pv redeliver --dead`" in helped


def test_pv_show_labels_the_error_of_an_attempt_before_the_delivery() -> None:
    at = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    failing = DeliveryState(attempts=2, last_error="webhook: webhook unreachable")
    assert delivery_shown(failing)["last_error"] == "webhook: webhook unreachable"
    assert "earlier_attempt_error" not in delivery_shown(failing)
    delivered = failing.model_copy(update={"delivered_at": at, "sinks": {"webhook": at}})
    shown = delivery_shown(delivered)
    assert "last_error" not in shown  # a delivered case does not read as failed
    assert shown["earlier_attempt_error"] == "webhook: webhook unreachable"  # nor is it lost
    assert shown["delivered_at"] == at.isoformat().replace("+00:00", "Z")
    assert "earlier_attempt_error" not in delivery_shown(DeliveryState(delivered_at=at))


@pytest.mark.parametrize(
    "command", [["pv", "list"], ["mi", "list"], ["doctor", "pending"], ["dead", "list"]]
)
def test_ops_commands_refuse_a_data_folder_without_a_store(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mistyped VREP_DATA_DIR read as an empty store would tell PV "no case": refused with
    one line naming the folder (exit 3), and nothing is created there."""
    typo = tmp_path / "dtaa"
    monkeypatch.setenv("VREP_DATA_DIR", str(typo))
    monkeypatch.setenv("VREP_EMBEDDED_STORAGE", "sqlite")
    monkeypatch.delenv("VREP_REDIS_URL", raising=False)
    monkeypatch.delenv("VREP_DATABASE_URL", raising=False)
    assert main(command) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"virtualrep: storage unavailable: no store in {typo} ")
    assert "check VREP_DATA_DIR" in err
    assert not typo.exists()
