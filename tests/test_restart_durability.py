"""The embedded default across restarts: processes come and go over one data directory.

A doctor reports in ``virtualrep chat`` (which delivers it), the server starts on the same
store, chat starts again, another report
gets the next case id, a form left half-way resumes in the next process, and ``pv list`` sees
every case. Nothing is renumbered, lost or overwritten.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import create_app
from bot.cli import main
from bot.settings import load_settings
from tests.test_app import eventually
from tests.test_chat_cli import run_chat

CASE_ID = re.compile(r"AE-\d{8}-\d{4}")


def chat(tmp_path: Path, user: str, *lines: str) -> str:
    """One ``virtualrep chat`` process on ``tmp_path/store`` (the durable default)."""
    result = run_chat("".join(line + "\n" for line in lines), tmp_path, "--user", user)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def serve_until_exported(data: Path, *case_ids: str) -> None:
    """Run the server app on ``data`` until the cases' export files exist, then stop it."""
    settings = load_settings(
        data_dir=data, embedded_storage="sqlite", pv_export_dir=data / "pv", redis_url=None
    )
    wanted = [
        data / "pv" / f"{case_id}.{suffix}" for case_id in case_ids for suffix in ("xml", "json")
    ]

    async def exported() -> bool:
        return await asyncio.to_thread(lambda: all(path.exists() for path in wanted))

    async def run() -> None:
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()  # starts the workers, as `virtualrep serve` does
        try:
            await eventually(exported, f"the exports of {', '.join(case_ids)}")
        finally:
            await runner.cleanup()

    asyncio.run(run())


def test_cases_survive_restarts_with_new_ids_and_untouched_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "store"  # where run_chat keeps it (apart from its working directory)
    first_chat = chat(tmp_path, "doctor-a", "我的病人吃了诺拉维以后出现严重皮疹，住院了", "停止")
    [first] = set(CASE_ID.findall(first_chat))
    assert f"已提交给药物警戒部门，病例编号 {first}" in first_chat
    serve_until_exported(data, first)
    exported = {path: (path.read_bytes(), path.stat().st_ino) for path in (data / "pv").iterdir()}

    # Another doctor reports, and the process stops in the middle of the form.
    second_chat = chat(tmp_path, "doctor-b", "患者用了诺拉维后出现肝损伤，ALT 升到 300")
    [second] = set(CASE_ID.findall(second_chat))
    assert second != first and second > first  # numbered on from durable state
    assert "请提供患者的姓名首字母、年龄和性别" in second_chat
    # The next process resumes that form: the answer lands in the same case.
    resumed = chat(tmp_path, "doctor-b", "ZS，45岁，男", "停止")
    assert f"已提交给药物警戒部门，病例编号 {second}" in resumed
    assert set(CASE_ID.findall(resumed)) == {second}
    serve_until_exported(data, second)

    for path, (content, inode) in exported.items():  # the first case's files are untouched
        assert (path.read_bytes(), path.stat().st_ino) == (content, inode)
    monkeypatch.delenv("VREP_EMBEDDED_STORAGE")
    monkeypatch.setenv("VREP_DATA_DIR", str(data))
    monkeypatch.setenv("VREP_PV_EXPORT_DIR", str(data / "pv"))
    assert main(["pv", "list"]) == 0
    header, *listed = capsys.readouterr().out.splitlines()
    assert header.startswith("CASE\tSTATE\tSTATUS\tDELIVERY\t")
    # case id, queue state, status, delivery: both submitted and delivered, awaiting PV's ack
    assert [line.split("\t")[:4] for line in listed] == [
        [first, "awaiting", "submitted", "delivered"],
        [second, "awaiting", "submitted", "delivered"],
    ]
    assert main(["pv", "show", second]) == 0
    patient = json.loads(capsys.readouterr().out)["case"]["patient"]
    assert (patient["initials"], patient["sex"]) == ("ZS", "male")  # answered after the restart
