"""`virtualrep chat` end to end in a subprocess fed through stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_chat(stdin: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VREP_")}
    env["VREP_DATA_DIR"] = str(tmp_path / "data")
    env["VREP_PRIVACY_NOTICE"] = "false"  # a doctor who consented outside the chat (#21)
    env["VREP_KB_DIR"] = os.environ["VREP_KB_DIR"]  # the session's embedded sample library
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def doctor_chat(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One doctor's chat process for the two doctor tests below: greetings in Chinese then
    English, then a menu number. Each process loads the models (seconds on a busy machine),
    and what each test reads of the transcript is its own."""
    return run_chat("你好\nhello\nhi\n4\n", tmp_path_factory.mktemp("doctor-chat"))


def test_help_menu_in_chinese_then_english(
    doctor_chat: subprocess.CompletedProcess[str],
) -> None:
    assert doctor_chat.returncode == 0, doctor_chat.stderr
    out = doctor_chat.stdout
    zh = out.index("您好！我是医学信息助手")
    en = out.index("Hello! I am the medical information assistant")
    assert zh < en
    assert "1. 文献与产品问答" in out and "1. Literature and product questions" in out


def test_menu_number_is_a_click(doctor_chat: subprocess.CompletedProcess[str]) -> None:
    # 4 = "Talk to a representative", typed after the last menu ("hi")
    assert doctor_chat.returncode == 0, doctor_chat.stderr
    out = doctor_chat.stdout
    assert "4. Talk to a representative" in out
    assert "bot → rep_" in out and "Handoff" in out  # the click reached handoff
    assert out.index("bot → rep_") > out.rindex("4. Talk to a representative")  # after it
    assert "Traceback" not in doctor_chat.stderr


def test_rep_sees_rep_commands(tmp_path: Path) -> None:
    result = run_chat("help\n", tmp_path, "--as", "rep", "--user", "rep_li")
    assert result.returncode == 0, result.stderr
    assert "/takeover" in result.stdout
