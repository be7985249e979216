"""The meeting flows through `virtualrep chat` in a subprocess, in Chinese and in English."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.meetings.helpers import meeting_entry, write_catalog


def run_chat(stdin: str, catalog_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VREP_")}
    env["VREP_DATA_DIR"] = str(catalog_path.parent / "data")
    env["VREP_PRIVACY_NOTICE"] = "false"  # a doctor who consented outside the chat (#21)
    env["VREP_KB_DIR"] = os.environ["VREP_KB_DIR"]  # the session's embedded sample library
    env["VREP_MEETINGS_FILE"] = str(catalog_path)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", *args],
        input=stdin,
        env=env,
        cwd=catalog_path.parent,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def catalog(tmp_path: Path) -> Path:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    return write_catalog(
        tmp_path / "meetings.yaml",
        [
            meeting_entry("later", soon + timedelta(days=2)),
            meeting_entry(
                "kidney", soon, capacity=1, audience_specialties=["肾内科", "nephrology"]
            ),
        ],
    )


def test_register_and_list_in_chinese(tmp_path: Path) -> None:
    path = catalog(tmp_path)
    # list → first meeting → register → name, hospital, department → confirm → my registrations
    script = "会议\n1\n1\n张伟\n示例市人民医院\n心内科\n1\n我的报名\n"
    result = run_chat(script, path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "近期学术会议（按时间排序）：" in out
    assert "请输入您的姓名" in out and "请输入您所在的医院" in out and "请输入您所在的科室" in out
    assert "报名成功：测试会议" in out and ".ics, " in out
    assert "您的会议报名：" in out and "— 已报名" in out
    assert "Traceback" not in result.stderr


def test_register_details_and_cancel_in_english(tmp_path: Path) -> None:
    path = catalog(tmp_path)
    # list → second meeting → register → details → confirm → my registrations → it → cancel
    script = (
        "meetings\n2\n1\nJane Smith\nSample General Hospital\nCardiology\n1\n"
        "my registrations\n1\n1\n"
    )
    result = run_chat(script, path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Upcoming academic meetings (by date):" in out
    assert "Please confirm your registration:" in out and "Name: Jane Smith" in out
    assert "You are registered: Test meeting" in out
    assert "Your meeting registrations:" in out and "You are registered." in out
    assert 'Your registration for "Test meeting later" is cancelled.' in out


def test_rep_commands_in_chat(tmp_path: Path) -> None:
    path = catalog(tmp_path)
    script = (
        "hello\n/meetings\n/attendees kidney\n/invite kidney nobody\n"  # an English-speaking rep
    )
    result = run_chat(script, path, "--as", "rep", "--user", "admin_ops")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "kidney | Test meeting kidney" in out and "registered 0/1, waitlist 0" in out
    assert "[file kidney-attendees.csv" in out
    assert "- nobody: no such doctor" in out
