"""``virtualrep pv`` over real Redis: list (--overdue), show, export, ack, redeliver."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.storage.redis import RedisStorage
from records import open_records
from tests.ae_support import AEBot, ae_settings, walk_to
from tests.storage_backends import free_port


def test_pv_commands(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("VREP_REDIS_URL", redis_url)
    monkeypatch.setenv("VREP_REDIS_KEY_PREFIX", prefix)
    monkeypatch.setenv("VREP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}")

    async def report() -> str:
        """A doctor reports to the bot, which writes the case to storage and the records (where
        ``pv list`` and ``pv show`` read it, as the console does)."""
        storage = RedisStorage.from_url(redis_url, prefix=prefix)
        try:
            async with open_records(load_settings()) as records:
                bot = AEBot(ae_settings(tmp_path), storage, records=records)
                bot.clock.now = bot.clock.now.replace(year=2020)  # long overdue by now
                await bot.say("患者ZS，45岁男性，用了XX药后出现皮疹")
                await walk_to(bot, "consent")
                await bot.say("不用了，别联系我")  # declines follow-up: PV must see it
                return (await bot.only_case()).case_id
        finally:
            await storage.close()

    case_id = asyncio.run(report())
    assert main(["pv", "list", "--overdue"]) == 0
    listed = capsys.readouterr()
    header, row = listed.out.splitlines()
    assert header.split("\t")[:4] == ["CASE", "STATE", "STATUS", "DELIVERY"]
    assert row.startswith(f"{case_id}\toverdue\t")
    assert row.split("\t")[3] == "in form"  # the doctor has not finished: said so, once
    assert listed.err.count("1 case still in the report form: submitted when") == 1
    assert main(["pv", "show", case_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["case"]["case_id"] == case_id and shown["ack"] is None
    assert "created" in [event["kind"] for event in shown["events"]]
    assert shown["reporter"]["consent_to_follow_up"] is False
    assert main(["pv", "export", case_id, "--format", "e2b"]) == 0
    assert "<E.i.1.1a>" in capsys.readouterr().out
    assert main(["pv", "export", case_id, "--format", "json"]) == 0
    assert case_id in capsys.readouterr().out
    assert main(["pv", "ack", case_id, "--by", "pv-lead"]) == 0
    assert f"{case_id} acknowledged by pv-lead at " in capsys.readouterr().out
    assert main(["pv", "ack", case_id, "--by", "pv-zhou"]) == 0  # the first one stands
    again = capsys.readouterr().out
    assert f"{case_id} was already acknowledged by pv-lead at " in again
    assert "nothing changed" in again and "pv-zhou" not in again
    assert main(["pv", "show", case_id]) == 0
    ack = json.loads(capsys.readouterr().out)["ack"]
    assert ack["by"] == "pv-lead" and ack["via"].startswith("cli:")  # who ran it, audited
    assert main(["pv", "list", "--overdue"]) == 0
    assert capsys.readouterr().out == "no overdue case (没有逾期病例)\n"
    assert main(["pv", "show", "AE-00000000-0000"]) == 1
    capsys.readouterr()
    assert main(["pv", "redeliver", case_id, "AE-00000000-0000"]) == 1
    refused = capsys.readouterr().err
    assert f"{case_id}: not submitted yet" in refused and "0000: no such case" in refused
    assert main(["pv", "redeliver", "--dead"]) == 0  # none dead-lettered
    assert "no dead-lettered case" in capsys.readouterr().err
    assert main(["pv", "redeliver"]) == 2  # neither cases nor --dead

    async def reads_audited() -> int:  # in the records' audit chain
        async with open_records(load_settings()) as records:
            page = await records.search_audit(kind="ae_case_read", limit=1000)
        return sum(1 for r in page.items if str((r.payload or {}).get("reader")).startswith("cli:"))

    assert asyncio.run(reads_audited()) >= 4


def test_storage_down_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VREP_REDIS_URL", f"redis://127.0.0.1:{free_port()}")  # nobody listens
    assert main(["pv", "list"]) == 0  # it reads the system of record, which is up
    capsys.readouterr()
    for command in (["pv", "ack", "AE-1"], ["pv", "redeliver", "--dead"], ["dead", "list"]):
        assert main(command) == 3
        err = capsys.readouterr().err
        assert err.startswith("virtualrep: storage unavailable: ") and err.count("\n") == 1
