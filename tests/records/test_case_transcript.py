"""``virtualrep audit export --case``: the case's audit with its conversation transcript (the
doctor's messages and the bot's replies from day 0 to submission, masked as the audit keeps
them), in CSV and JSON Lines; other conversations and talk before or after stay out."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from records import CaseSnapshot, Records, open_records
from tests.ae_support import AEBot, ae_settings
from tests.helpers import audit_trail
from tests.records.test_records import T0, case_document

PHONE = "13812345678"


async def test_case_export_holds_the_masked_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VREP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VREP_EMBEDDED_STORAGE", "sqlite")
    storage = MemoryStorage()
    async with open_records(load_settings()) as records:
        bot = AEBot(ae_settings(tmp_path), storage, records=records)
        await bot.say("你好，想问个问题")  # before the case: not its transcript
        bot.clock.advance(minutes=1)
        await bot.say(f"患者ZS，45岁男性，用了XX药后出现皮疹，我电话{PHONE}")
        case_id = (await bot.only_case()).case_id
        bot.clock.advance(minutes=1)
        await bot.say("另一位医生的话", doctor="doc2")  # another conversation
        await bot.say("停止")
        bot.clock.advance(minutes=5)
        await bot.say("谢谢，再见")  # after the submission
        await audit_trail(records, storage)  # the sink has moved the stream into the chain
    day = f"{bot.clock.now:%Y-%m-%d}"
    args = ["audit", "export", "--from", day, "--to", day, "--case", case_id]

    assert await asyncio.to_thread(main, [*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    said = [json.loads(r["payload"]) for r in rows if r["kind"] == "message"]
    texts = [m["text"] for m in said]
    assert texts[0].startswith("患者ZS，45岁男性") and texts[-1] == "停止"
    assert {m["conversation"] for m in said} == {"doc1"}
    assert "ae_case_read" in {r["kind"] for r in rows}  # the case's own records too
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)  # chain order

    assert await asyncio.to_thread(main, [*args, "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["seq"] for line in lines] == [int(r["seq"]) for r in rows]
    whole = json.dumps(lines, ensure_ascii=False)
    assert PHONE not in whole  # masked as everywhere in the audit
    for outside in ("你好，想问个问题", "另一位医生的话", "谢谢，再见"):
        assert outside not in whole


@pytest.mark.parametrize(("reason", "closing"), [("stopped", True), ("idle", False)])
async def test_the_submitting_message_is_recorded_after_submission(
    records: Records, reason: str, closing: bool
) -> None:
    """A message's audit is written once it is handled, so the doctor's "stop" comes just after
    ``submitted_at``; an idle submission has no such message (what follows is not the case's)."""
    submitted = T0 + timedelta(minutes=5)
    document = case_document(
        "AE-1",
        status="submitted",
        conversation_key="kf:doc-1",
        submitted_at=submitted.isoformat(),
        submit_reason=reason,
    )
    await records.save_case(CaseSnapshot.from_document(document))
    for at, text in (
        (T0 - timedelta(minutes=1), "before"),
        (T0 + timedelta(seconds=1), "report"),
        (submitted + timedelta(milliseconds=200), "stop"),
        (submitted + timedelta(minutes=5), "thanks"),
    ):
        said = {"sender": "doc-1", "conversation": "kf:doc-1", "text": text}
        await records.append_audit("message", at, said)
    await records.append_audit("message", T0 + timedelta(seconds=2), {"sender": "doc-2"})
    texts = [(record.payload or {}).get("text") async for record in records.case_audit("AE-1")]
    assert texts == (["report", "stop"] if closing else ["report"])
