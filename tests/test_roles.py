"""Roles and least privilege: every rep-side command and card action against every kind of
caller, through the production dispatcher (``skills.roles``).

The state: doctor ``doctor`` (assigned to rep_own, team east) asked for a rep; rep_own and
their backup rep_backup declined, so the handoff is now offered to the pool (rep_offered).
Each case feeds one action from one caller and checks the answer: allowed actions are not
refused; refused ones get one "没有权限" answer, change nothing, are audited and counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.models import MessageKind
from bot.profiles import ProfileStore
from bot.settings import SettingsError, load_settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from skills.adverse_events.service import ACK_CLICK_PREFIX
from skills.handoff.roster import Role, RosterError, load_roster
from skills.handoff.service import ACCEPT_PREFIX, DECLINE_PREFIX
from skills.qa.hcp_review import APPROVE_PREFIX, HcpRequests
from tests.handoff_support import Harness
from tests.test_wecom_app import running_bots

ROSTER = """\
timezone: Asia/Shanghai
hours: [mon-sun 00:00-23:59]
reps:
  rep_own: {name: 张伟, team: east, backups: [rep_backup]}
  rep_backup: {name: 李娜, team: east, roles: [backup]}
  rep_offered: {name: 王磊, team: north}
  rep_other: {name: 刘洋, team: south}
  mgr_east: {name: 赵敏, roles: [manager], team: east}
  pv_officer: {name: 周静, roles: [pv]}
  admin_ops: {name: Ops, roles: [admin]}
doctors: {doctor: rep_own}
pool: [rep_offered]
"""

CALLERS = (
    "doctor",
    "intruder_x",
    "rep_other",
    "rep_own",
    "rep_offered",
    "rep_backup",
    "mgr_east",
    "pv_officer",
    "admin_ops",
)
# action → the callers allowed (the doctor never reaches a rep action).
ALLOWED: dict[str, set[str]] = {
    "profile": {"rep_own", "rep_offered", "mgr_east", "admin_ops"},
    "takeover": {"rep_offered", "mgr_east", "admin_ops"},  # offered to others: not rep_own
    "release": {"rep_own", "rep_offered", "mgr_east", "admin_ops"},
    "verify": {"rep_own", "mgr_east", "admin_ops"},
    "hcp_approve": {"rep_own", "mgr_east", "admin_ops"},
    "invite": {"rep_own", "rep_offered", "mgr_east", "admin_ops"},
    "attendees": {"rep_other", "rep_own", "rep_offered", "rep_backup", "mgr_east", "admin_ops"},
    "meetings": {"rep_other", "rep_own", "rep_offered", "rep_backup", "mgr_east", "admin_ops"},
    "accept": {"rep_own", "rep_offered", "rep_backup", "mgr_east", "admin_ops"},
    "decline": {"rep_own", "rep_offered", "rep_backup", "mgr_east", "admin_ops"},
    "pv_ack": {"pv_officer"},
}
STATEFUL = {"takeover", "release", "verify", "hcp_approve", "accept", "decline", "invite"}
CASES = [
    pytest.param(action, caller, caller in allowed, id=f"{action}-{caller}")
    for action, allowed in ALLOWED.items()
    for caller in CALLERS
]


def roster_file(tmp_path: Path) -> Path:
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER, encoding="utf-8")
    return path


async def offered_to_the_pool(tmp_path: Path, storage: Storage) -> tuple[Harness, str]:
    settings = load_settings(rep_roster=roster_file(tmp_path), kb_sample_library=False)
    bot = Harness(storage, settings=settings)
    await bot.doctor_says("转人工")
    await bot.drain()
    handoff_id = bot.reps_out.cards_for("rep_own")[-1].buttons[0].key.removeprefix(ACCEPT_PREFIX)
    for rep in ("rep_own", "rep_backup"):
        await bot.rep_sends(rep, click_id=DECLINE_PREFIX + handoff_id)
    handoff = await bot.service.store.get(handoff_id)
    assert handoff is not None and handoff.offered_to == ["rep_offered"]
    return bot, handoff_id


async def perform(bot: Harness, action: str, caller: str, handoff_id: str) -> list[str]:
    commands = {
        "profile": "/profile doctor",
        "takeover": "/takeover doctor",
        "release": "/release doctor",
        "verify": "/verify doctor",
        "invite": "/invite M-1 doctor",
        "attendees": "/attendees M-1",
        "meetings": "/meetings",
    }
    clicks = {
        "accept": ACCEPT_PREFIX + handoff_id,
        "decline": DECLINE_PREFIX + handoff_id,
        "pv_ack": ACK_CLICK_PREFIX + "AE-20250616-0001",
        "hcp_approve": APPROVE_PREFIX + "doctor",
    }
    if caller == "doctor":
        if action in clicks:
            message = bot.doctor_message(kind=MessageKind.CLICK, click_id=clicks[action])
            ctx = await bot.dispatcher.feed(message)
            return [getattr(r, "text", "") or getattr(r, "head", "") for r in ctx.replies]
        return await bot.doctor_says(commands[action])
    if action in clicks:
        return await bot.rep_sends(caller, click_id=clicks[action])
    return await bot.rep_sends(caller, commands[action])


async def snapshot(bot: Harness, handoff_id: str) -> dict[str, Any]:
    handoff = await bot.service.store.get(handoff_id)
    profile = await ProfileStore(bot.services.storage).get("doctor")
    assert handoff is not None and profile is not None
    return {
        "handoff": handoff.model_dump(exclude={"stages"}),
        "verified": profile.verified,
        "mode": (await bot.conversation()).mode,
    }


def forbidden_count(bot: Harness) -> float:
    return bot.services.metrics.errors.labels("forbidden")._value.get()  # type: ignore[attr-defined]


async def check(bot: Harness, handoff_id: str, action: str, caller: str, allowed: bool) -> None:
    before = await snapshot(bot, handoff_id)
    told_doctor = len(bot.doctor_out.sent)
    answers = await perform(bot, action, caller, handoff_id)
    refused = [a for a in answers if "没有权限" in a or "not allowed" in a]
    if allowed:
        assert not refused, answers
        return
    assert await snapshot(bot, handoff_id) == before  # nothing changed
    if caller == "doctor":  # passes the rep routes by: the doctor's own flows answer
        assert forbidden_count(bot) == 0
        return
    assert refused and len(answers) == 1, answers
    assert len(bot.doctor_out.sent) == told_doctor
    assert forbidden_count(bot) == 1
    records = [r for r in await bot.audit_records() if r.get("kind") == "forbidden"]
    assert [(r["who"], r["action"]) for r in records] == [(caller, records[0]["action"])]
    assert records[0]["target"]


@pytest.mark.parametrize(
    ("action", "caller", "allowed"), [c for c in CASES if c.values[0] in STATEFUL]
)
async def test_stateful_actions(
    tmp_path: Path, storage: Storage, action: str, caller: str, allowed: bool
) -> None:
    bot, handoff_id = await offered_to_the_pool(tmp_path, storage)
    await check(bot, handoff_id, action, caller, allowed)


@pytest.mark.parametrize(
    ("action", "caller", "allowed"), [c for c in CASES if c.values[0] not in STATEFUL]
)
async def test_read_only_actions(tmp_path: Path, action: str, caller: str, allowed: bool) -> None:
    bot, handoff_id = await offered_to_the_pool(tmp_path, MemoryStorage())
    await check(bot, handoff_id, action, caller, allowed)


def test_roster_roles_from_yaml_and_csv(tmp_path: Path) -> None:
    roster = load_roster(roster_file(tmp_path), "Asia/Shanghai")
    assert roster.roles_of("rep_own") == {Role.REP}
    assert roster.roles_of("rep_backup") == {Role.BACKUP}
    assert roster.roles_of("mgr_east") == {Role.MANAGER} and roster.team_of("mgr_east") == "east"
    assert roster.roles_of("intruder_x") == frozenset()
    csv_path = tmp_path / "roster.csv"
    csv_path.write_text(
        "kind,key,value\nrep,rep_a,张伟\nteam,rep_a,east\nrole,mgr,manager\nrole,mgr,admin\n"
        "team,mgr,east\nlanguage,mgr,en\nbackup,rep_a,rep_b\nmi,msl_x,\n",
        encoding="utf-8",
    )
    roster = load_roster(csv_path, "Asia/Shanghai")
    assert roster.roles_of("mgr") == {Role.MANAGER, Role.ADMIN}
    assert roster.language_of("mgr") is not None and roster.language_of("mgr").value == "en"
    assert roster.roles_of("rep_b") == {Role.REP, Role.BACKUP}
    assert roster.roles_of("msl_x") == {Role.MSL}


def test_a_roster_without_roles_stays_valid_and_pv_users_are_officers(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("reps: {rep_a: {name: A, backups: [rep_b]}}\nmi_group: [msl]\n", "utf-8")
    roster = load_roster(path, "Asia/Shanghai")
    assert roster.roles_of("rep_a") == {Role.REP}
    assert roster.roles_of("rep_b") == {Role.REP, Role.BACKUP}
    assert roster.roles_of("msl") == {Role.MSL}
    roster.with_pv_officers(("pv_1", "rep_a"))
    assert roster.members_with(Role.PV) == ("pv_1", "rep_a")


@pytest.mark.parametrize(
    "text",
    [
        "reps: {rep_a: {roles: [salesman]}}\n",
        "reps: {rep_a: {roles: 7}}\n",
        "reps: {rep_a: {language: fr}}\n",
    ],
)
def test_a_malformed_role_stops_start_up_naming_the_setting(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError) as error:
        load_roster(path, "Asia/Shanghai")
    message = str(error.value)
    assert message.startswith("invalid VREP_REP_ROSTER: reps.rep_a.") and "\n" not in message


def test_the_cli_refuses_a_malformed_role_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("kind,key,value\nrole,rep_a,boss\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input="你好\n",
        env={  # the durable default in its own data dir: no test-only storage warning
            **{key: value for key, value in os.environ.items() if key != "VREP_EMBEDDED_STORAGE"},
            "VREP_DATA_DIR": str(tmp_path / "data"),
            "VREP_REP_ROSTER": str(path),
            "VREP_KB_SAMPLE_LIBRARY": "false",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "virtualrep: invalid VREP_REP_ROSTER: CSV roster line 2: unknown role 'boss' "
        "(expected one of rep, backup, msl, pv, manager, admin)"
    ]


def test_a_malformed_roster_is_refused_before_anything_opens(tmp_path: Path) -> None:
    """``create_app`` reads the roster first: no store, model or database opens for a set-up
    that cannot start, so the one-line refusal comes at once, not after the models load."""
    path = tmp_path / "bad.csv"
    path.write_text("kind,key,value\nrole,rep_a,boss\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown role 'boss'"):
        create_app(load_settings(rep_roster=path, data_dir=tmp_path / "data"))
    assert not (tmp_path / "data").exists()


async def test_start_up_refuses_pv_cards_without_a_pv_officer(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no PV officer"):
        async with running_bots(tmp_path, pv_users=""):
            pass


async def test_hcp_verification_card_reaches_the_rep_and_approval_tells_the_doctor(
    tmp_path: Path, storage: Storage
) -> None:
    settings = load_settings(rep_roster=roster_file(tmp_path), kb_sample_library=False)
    bot = Harness(storage, settings=settings)
    await bot.doctor_says("你好")
    await bot.dispatcher.feed(bot.doctor_message(kind=MessageKind.CLICK, click_id="qa:verify"))
    for answer in ("张医生", "北京协和医院", "心内科", "主任医师"):
        await bot.doctor_says(answer)
    (card,) = bot.reps_out.cards_for("rep_own")  # the doctor's own rep
    assert [button.key for button in card.buttons] == ["hcp:approve:doctor", "hcp:decline:doctor"]
    pending = await HcpRequests(storage).pending()
    assert [(r.doctor_id, r.offered_to) for r in pending] == [("doctor", ["rep_own"])]

    refused = await bot.rep_sends("rep_other", click_id=card.buttons[0].key)
    assert "没有权限" in refused[0]
    told = len(bot.doctor_out.sent)
    answer = await bot.rep_sends("rep_own", click_id=card.buttons[0].key)
    assert "已确认 张医生" in answer[0]
    profile = await ProfileStore(storage).get("doctor")
    assert profile is not None and profile.verified and profile.verified_by == "rep_own"
    assert "身份已确认" in bot.doctor_out.texts(bot.doctor_out.sent[told].conversation_key)[-1]
    assert await HcpRequests(storage).pending() == []


async def test_a_declined_verification_keeps_the_doctor_unverified(tmp_path: Path) -> None:
    settings = load_settings(rep_roster=roster_file(tmp_path), kb_sample_library=False)
    bot = Harness(MemoryStorage(), settings=settings)
    await bot.dispatcher.feed(bot.doctor_message(kind=MessageKind.CLICK, click_id="qa:verify"))
    for answer in ("张医生", "北京协和医院", "心内科", "主任医师"):
        await bot.doctor_says(answer)
    (card,) = bot.reps_out.cards_for("rep_own")
    answer = await bot.rep_sends("mgr_east", click_id=card.buttons[1].key)  # the rep's manager
    assert "已拒绝" in answer[0]
    profile = await ProfileStore(bot.services.storage).get("doctor")
    assert profile is not None and not profile.verified
    assert "暂未能确认" in bot.doctor_out.texts(bot.doctor_out.sent[-1].conversation_key)[-1]


async def test_reps_get_rep_help_in_their_language_per_role(tmp_path: Path) -> None:
    settings = load_settings(rep_roster=roster_file(tmp_path), kb_sample_library=False)
    bot = Harness(MemoryStorage(), settings=settings)
    (help_text,) = await bot.rep_sends("rep_own", "/help")
    assert "/takeover" in help_text and "/verify" in help_text and "不良事件" not in help_text
    (unknown,) = await bot.rep_sends("rep_own", "/foo bar")
    assert unknown.startswith("未知命令 /foo") and "/profile" in unknown
    (free,) = await bot.rep_sends("rep_own", "诺拉维的剂量是多少？")
    assert "代表助手" in free and "联系您的医药代表" not in free
    (english,) = await bot.rep_sends("rep_own", "what can I do here?")
    assert english.startswith("Rep assistant commands:")
    (pv,) = await bot.rep_sends("pv_officer", "/help")
    assert "确认收到" in pv and "/takeover" not in pv
    (stranger,) = await bot.rep_sends("intruder_x", "hi")
    assert "not in the rep roster" in stranger  # "hi" is English


async def test_the_roster_language_sets_a_reps_replies(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("reps: {rep_en: {name: Ann, language: en}}\n", encoding="utf-8")
    bot = Harness(MemoryStorage(), settings=load_settings(rep_roster=path))
    (answer,) = await bot.rep_sends("rep_en", "/profile nobody")
    assert answer == "No doctor matches 'nobody'."
    (chinese,) = await bot.rep_sends("rep_en", "帮助")
    assert chinese.startswith("代表助手可用的命令")


async def test_a_second_click_on_a_decided_verification_card_is_told_it_was_handled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("hours: [mon-sun 00:00-23:59]\npool: [rep_a, rep_b]\n", encoding="utf-8")
    bot = Harness(MemoryStorage(), settings=load_settings(rep_roster=path))
    await bot.dispatcher.feed(bot.doctor_message(kind=MessageKind.CLICK, click_id="qa:verify"))
    for answer in ("张医生", "北京协和医院", "心内科", "主任医师"):
        await bot.doctor_says(answer)
    (card,) = bot.reps_out.cards_for("rep_b")  # no rep of their own: the on-duty pool
    assert "已确认" in (await bot.rep_sends("rep_a", click_id=card.buttons[0].key))[0]
    (late,) = await bot.rep_sends("rep_b", click_id=card.buttons[1].key)
    assert late == "该请求已由 rep_a 处理。"
    profile = await ProfileStore(bot.services.storage).get("doctor")
    assert profile is not None and profile.verified
