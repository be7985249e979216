"""`virtualrep chat` end to end in a subprocess fed through stdin, run from a working directory
apart from its store (``VREP_DATA_DIR``), as an operator may."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(
    tmp_path: Path, *args: str, stdin: str = "", kb: bool = True
) -> subprocess.CompletedProcess[str]:
    """``virtualrep ARGS`` with the store in ``tmp_path/store``, run from ``tmp_path/cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VREP_")}
    env["VREP_DATA_DIR"] = str(tmp_path / "store")
    env["VREP_PRIVACY_NOTICE"] = "false"  # a doctor who consented outside the chat (#21)
    if kb:
        env["VREP_KB_DIR"] = os.environ["VREP_KB_DIR"]  # the session's embedded sample library
    (tmp_path / "cwd").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        env=env,
        cwd=tmp_path / "cwd",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def run_chat(stdin: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(tmp_path, "chat", *args, stdin=stdin)


@pytest.fixture(scope="module")
def doctor_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("doctor-chat")


@pytest.fixture(scope="module")
def doctor_chat(doctor_chat_dir: Path) -> subprocess.CompletedProcess[str]:
    """One doctor's chat process for the doctor tests below: greetings in Chinese then
    English, then a menu number, then an adverse event reported and submitted ("停止") as the
    last line. Each process loads the models (seconds on a busy machine), and what each test
    reads of the transcript is its own."""
    return run_chat(f"你好\nhello\nhi\n4\n{AE_REPORT}\n停止\n", doctor_chat_dir)


AE_REPORT = "我的患者服用诺拉维后出现皮疹，已经住院了"


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


def test_a_case_reported_in_chat_reaches_the_pv_archive_of_its_store(
    doctor_chat: subprocess.CompletedProcess[str], doctor_chat_dir: Path
) -> None:
    """Chat runs the server's PV delivery: the case submitted by the session's last line is in
    the archive under VREP_DATA_DIR (not the working directory's data/) before chat exits, and
    `pv list` on the same store shows it delivered (finding 46, 47)."""
    assert doctor_chat.returncode == 0, doctor_chat.stderr
    assert "已提交给药物警戒部门，病例编号 AE-" in doctor_chat.stdout, doctor_chat.stdout[-2000:]
    case_id = doctor_chat.stdout.split("已提交给药物警戒部门，病例编号 ")[1][:16]
    archive = doctor_chat_dir / "store" / "pv"
    files = sorted(p.name for p in archive.iterdir()) if archive.exists() else []
    assert files == [f"{case_id}.json", f"{case_id}.xml"], doctor_chat.stderr[-2000:]
    assert AE_REPORT in (archive / f"{case_id}.json").read_text(encoding="utf-8")
    assert not (doctor_chat_dir / "cwd" / "data").exists()  # nothing beside the working dir
    listed = run_cli(doctor_chat_dir, "pv", "list", kb=False)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(case_id))
    assert row.split("\t")[3] == "delivered", (listed.stdout, doctor_chat.stderr[-3000:])


def test_a_rep_presses_a_card_button_by_typing_its_key() -> None:
    """The terminal prints a card's buttons as ``(hcp:approve:d3) 确认 Approve``; a rep typing
    that key presses it (the skills check the right to it), nothing else does."""
    from bot.models import MessageKind
    from handlers.terminal import console_message

    pressed = console_message(" hcp:approve:d3\n", "rep_li", True, None)
    assert (pressed.kind, pressed.click_id) == (MessageKind.CLICK, "hcp:approve:d3")
    assert console_message("handoff:accept:d52ed84c", "rep_li", True, None).click_id
    assert console_message("hcp:approve:d3", "d3", False, None).kind is MessageKind.TEXT
    for text in ("/takeover d1", "note: call back", "hcp:approve:d3 please", "hcp:approve:"):
        assert console_message(text, "rep_li", True, None).kind is MessageKind.TEXT, text


def test_a_notice_of_another_conversation_is_marked_as_not_for_the_user() -> None:
    """F23: a new chat process runs the store's due reminders, e.g. another doctor's handoff
    reminder to a console rep. It is printed (the terminal is the console rep's only channel)
    but marked as another conversation's notice; what the user's own line causes is not."""
    import asyncio
    import io
    from contextlib import AsyncExitStack

    from bot.models import Channel, InboundMessage, OutboundMessage, TextReply
    from handlers.terminal import OTHER_CONVERSATION, ConsoleSender
    from handlers.terminal import run_chat as run_terminal

    def message(key: str, to: str, text: str) -> OutboundMessage:
        return OutboundMessage(
            channel=Channel.CONSOLE, conversation_key=key, recipient_id=to,
            replies=(TextReply(text=text),),
        )  # fmt: skip

    class Dispatcher:
        """Its turn runs while the scheduler's task (started before) sends a reminder."""

        def __init__(self, sender: ConsoleSender, scheduler: asyncio.Task[None]) -> None:
            self.sender, self.scheduler = sender, scheduler
            self.turn = asyncio.Event()

        async def feed(self, inbound: InboundMessage) -> None:
            self.turn.set()
            await self.scheduler  # the reminder goes out in the middle of the user's turn
            await self.sender.send(message(inbound.conversation_key, "d1", "已为您联系值班代表"))
            await self.sender.send(message("console:rep_li", "rep_li", "[转人工：d1]"))

    async def factory(stack: AsyncExitStack, sender: ConsoleSender) -> Dispatcher:
        async def scheduler() -> None:
            await dispatcher.turn.wait()
            await sender.send(message("console:rep_li", "rep_li", "⏰ 未在时限内响应 (d5)"))

        dispatcher = Dispatcher(sender, asyncio.create_task(scheduler()))
        return dispatcher

    out = io.StringIO()
    code = asyncio.run(
        run_terminal(factory, user="d1", as_rep=False, stdin=io.StringIO("找代表\n"), stdout=out)
    )
    assert code == 0
    assert out.getvalue().splitlines() == [
        f"bot → rep_li {OTHER_CONVERSATION}> ⏰ 未在时限内响应 (d5)",
        "bot> 已为您联系值班代表",
        "bot → rep_li> [转人工：d1]",  # the flow the user's own line started
    ]
