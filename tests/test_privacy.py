"""Privacy end to end through the kf callback: the full app, the fake WeCom API, what a doctor
types and what crossed the seams (kf messages and uploaded files, the stored state, the audit
trail). State that must survive (consent, a pending erasure confirmation) is tested on the
durable backends, SQLite and Redis, across a restart of the bot."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.keys import SERVICES, STORAGE
from bot.middlewares import load_conversation
from bot.models import ActiveForm
from bot.profiles import ProfileStore
from bot.services import Services
from bot.wecom.simulator import FakeWeComServer
from privacy.holdings import audit_records
from privacy.recorded import flush_audit, pv_relevant
from privacy.records import ConsentEvent
from privacy.service import privacy_service
from privacy.texts import AGREE_CLICK, ERASE_YES_CLICK, LATER_CLICK
from skills.adverse_events.cases import CASES_SET
from skills.adverse_events.form import takes_aside
from skills.adverse_events.service import AE_FORM
from skills.meetings.registrations import Registration, RegistrationStore, Status
from skills.qa.mi import MIStore
from tests.test_handoff_wecom import kf_texts
from tests.test_wecom_app import Bot, running_bots, until
from tests.wecom_harness import CORP_ID, OPEN_KFID, SECRET

DOCTOR = "wmPRIVACYDOC01"
OTHER = "wmPRIVACYDOC02"
DPO = "dpo_li"
REPORT = "患者ZS，45岁男性，服用诺拉维后出现皮疹，已住院，目前好转"
QUESTION = "达格列净在心衰患者中的临床试验疗效？"
MEETING = "htn-2027-01"  # in the packaged sample catalog


def _backend_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if backend == "sqlite":
        return {"embedded_storage": "sqlite"}
    url: str = request.getfixturevalue("redis_url")
    return {"redis_url": url, "redis_key_prefix": f"test-{uuid.uuid4().hex[:12]}:"}


@asynccontextmanager
async def _api() -> AsyncIterator[FakeWeComServer]:
    """A fake WeCom API that outlives a bot's restart."""
    api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
    await api.start()
    try:
        yield api
    finally:
        await api.close()


@asynccontextmanager
async def _bot(
    tmp_path: Path, api: FakeWeComServer | None = None, **settings: Any
) -> AsyncIterator[tuple[FakeWeComServer, Bot]]:
    values = {"privacy_notice": True, "dpo_users": DPO, **settings}
    async with running_bots(tmp_path, api=api, **values) as (made, (bot,)):
        yield made, bot


async def _say(api: FakeWeComServer, bot: Bot, text: str, who: str = DOCTOR) -> list[str]:
    """The doctor types ``text`` on kf; what the bot sent back (texts and menu heads)."""
    before = len(api.kf_sent)
    await bot.sim.doctor_says(OPEN_KFID, who, text)
    await until(lambda: len(api.kf_sent) > before)
    await bot.drained()
    return kf_texts(api)[before:]


async def _click(api: FakeWeComServer, bot: Bot, click: str, label: str) -> list[str]:
    before = len(api.kf_sent)
    await bot.sim.doctor_clicks(OPEN_KFID, DOCTOR, click, label)
    await until(lambda: len(api.kf_sent) > before)
    await bot.drained()
    return kf_texts(api)[before:]


def _services(bot: Bot) -> Services:
    return bot.app[SERVICES]


async def _sunk(bot: Bot, kind: str) -> list[dict[str, Any]]:
    """The doctor's audit records of ``kind`` in the system of record, the storage stream's
    newest included (the chain trails the stream; ``flush_audit`` does the sink's work)."""
    await flush_audit(_services(bot))
    return await audit_records(_services(bot), DOCTOR, kind)


async def _events(bot: Bot, doctor: str = DOCTOR) -> list[tuple[str, str, str]]:
    history = await privacy_service(_services(bot)).records.history(doctor)
    return [(r.event.value, r.notice_version, r.channel) for r in history]


async def _interests(bot: Bot, doctor: str = DOCTOR) -> dict[str, int]:
    profile = await ProfileStore(bot.app[STORAGE]).get(doctor)
    assert profile is not None
    return {**profile.topics, **profile.therapeutic_areas, **profile.products}


def _menu_ids(api: FakeWeComServer, since: int) -> list[str]:
    return [
        item["click"]["id"]
        for body in api.kf_sent[since:]
        for item in body.get("msgmenu", {}).get("list", [])
    ]


def _welcomes(api: FakeWeComServer) -> list[dict[str, Any]]:
    """The menus sent with enter_session welcome codes (errcode 0: WeCom took them)."""
    calls = api.calls_to("kf/send_msg_on_event")
    assert all(call.errcode == 0 and call.body is not None for call in calls)
    return [call.body["msgmenu"] for call in calls if call.body is not None]


async def test_the_kf_welcome_carries_the_notice_and_the_first_reply_does_not_repeat_it(
    tmp_path: Path,
) -> None:
    url = "https://example.com/privacy"
    async with _bot(tmp_path, privacy_policy_url=url) as (api, bot):
        await bot.sim.doctor_enters(OPEN_KFID, DOCTOR)
        await until(lambda: len(_welcomes(api)) == 1)
        await bot.drained()
        (welcome,) = _welcomes(api)
        head = welcome["head_content"]
        assert "医学信息助手" in head and "个人信息告知" in head and "Privacy notice" in head
        assert "药物警戒" in head and url in head  # AEs to PV by law; the full policy
        ids = [item["click"]["id"] for item in welcome["list"]]
        assert ids == [AGREE_CLICK, LATER_CLICK]  # the main menu follows the answer
        first = await _say(api, bot, QUESTION)
        assert not any("个人信息告知" in text for text in first)  # shown once, in the welcome
        assert await _events(bot) == []  # shown is not answered
        assert await _interests(bot) == {}
        agreed = await _click(api, bot, AGREE_CLICK, "同意 / Agree")  # the welcome's button
        assert "已记录您的同意" in agreed[0] and "请问需要什么帮助" in agreed[-1]
        assert await _events(bot) == [("agreed", "1", "kf")]
        notices = await _sunk(bot, "message")
        assert any(r.get("annotations", {}).get("audit_privacy_notice") == "1" for r in notices)
        await bot.sim.doctor_enters(OPEN_KFID, DOCTOR)  # the notice was answered
        await until(lambda: len(_welcomes(api)) == 2)
        assert "个人信息告知" not in _welcomes(api)[1]["head_content"]
        assert AGREE_CLICK not in [i["click"]["id"] for i in _welcomes(api)[1]["list"]]
        # A doctor whose welcome could not carry it (no welcome code: already in a session)
        # gets the notice with the first reply, as before.
        api.queue_event(OPEN_KFID, OTHER, {"event_type": "enter_session"})
        await bot.sim.kf_notify(OPEN_KFID)
        other = await _say(api, bot, "你好", who=OTHER)
        assert "个人信息告知" in other[0]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_first_contact_not_now_agree_and_a_new_version_asks_again(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = _backend_settings(backend, tmp_path, request)
    async with _api() as api:
        async with _bot(tmp_path, api, privacy_notice_version="7", **settings) as (_, bot):
            first = await _say(api, bot, "你好")
            assert "个人信息告知" in first[0] and "版本 7" in first[0]  # before anything else
            assert "药物警戒" in first[0] and "本公司" in first[0]
            assert _menu_ids(api, 0)[:2] == [AGREE_CLICK, LATER_CLICK]
            assert "医学信息助手" in first[-1]  # the greeting is still answered
            declined = await _say(api, bot, "不同意")  # a no, though it holds "同意"
            assert "暂不同意" in declined[0]
            assert await _events(bot) == [("declined", "7", "kf")]
            answer = await _say(api, bot, QUESTION)
            assert not any("个人信息告知" in text for text in answer)  # answered: not asked again
            assert await _interests(bot) == {}  # no interest profile before consent
            # Changing one's mind later: a short typed "我同意" while not consented, or the
            # notice again ("隐私政策") and its buttons.
            assert "已记录您的同意" in (await _say(api, bot, "我同意"))[0]
            assert "个人信息告知" in (await _say(api, bot, "隐私政策"))[0]
            await _click(api, bot, LATER_CLICK, "暂不同意")
            agreed = await _click(api, bot, AGREE_CLICK, "同意")
            assert "已记录您的同意" in agreed[0]
            assert await _events(bot) == [
                ("declined", "7", "kf"), ("agreed", "7", "kf"),
                ("declined", "7", "kf"), ("agreed", "7", "kf"),
            ]  # fmt: skip
            await _say(api, bot, QUESTION)
            assert await _interests(bot)  # built now
        async with _bot(tmp_path, api, privacy_notice_version="8", **settings) as (_, bot):
            before = await _interests(bot)
            again = await _say(api, bot, QUESTION)
            assert "版本 8" in again[0]  # the new version asks again on the next contact
            assert await _interests(bot) == before  # not extended until the new notice is agreed
            await _say(api, bot, "好的")  # thanks for the answer: no explicit consent
            assert (await _events(bot))[-1] == ("agreed", "7", "kf")
            await _say(api, bot, "我同意")  # an explicit typed yes to the notice
            assert (await _events(bot))[-1] == ("agreed", "8", "kf")


async def test_an_adverse_event_before_consent_is_captured_and_the_doctor_told(
    tmp_path: Path,
) -> None:
    async with _bot(tmp_path, embedded_storage="sqlite", pv_users="pv_chen") as (api, bot):
        replies = await _say(api, bot, REPORT)
        assert "个人信息告知" in replies[0]
        assert any("什么时候" in text for text in replies)  # the report form goes on
        assert any("依据法律" in text and "药物警戒" in text for text in replies[1:])
        assert await bot.app[STORAGE].set_members(CASES_SET)  # the case is with PV
        profile = await ProfileStore(bot.app[STORAGE]).get(DOCTOR)
        assert profile is not None and not profile.contact_consented
        assert await _events(bot) == []  # nothing decided: the notice is pending


async def test_agree_typed_while_the_report_form_asks_for_initials_answers_the_notice(
    tmp_path: Path,
) -> None:
    """Consent is pending and the form asks for the patient's initials: "同意" is the notice's
    (no initials), the form asks its question again and takes the next answer; at the form's
    own yes/no question (may PV contact you?) "同意" stays the form's."""
    async with _bot(tmp_path, embedded_storage="sqlite", pv_users="pv_chen") as (api, bot):
        replies = await _say(api, bot, "患者服用诺拉维后出现皮疹，已住院，目前好转")
        assert "个人信息告知" in replies[0] and "首字母" in replies[-1]
        agreed = await _say(api, bot, "同意")
        assert "已记录您的同意" in agreed[0] and "首字母" in agreed[-1]
        assert [event for event, _, _ in await _events(bot)] == ["agreed"]
        storage = bot.app[STORAGE]
        [case_id] = await storage.set_members(CASES_SET)
        case = await storage.get_json(f"ae:case:{case_id}")
        assert case is not None and case["patient"]["initials"] is None
        assert "patient" not in case["unknown"]  # not counted as a miss either
        await _say(api, bot, "ZS，45岁，男")
        case = await storage.get_json(f"ae:case:{case_id}")
        assert case is not None and case["patient"]["initials"] == "ZS"


def test_only_a_report_form_at_a_free_text_question_leaves_the_notice_its_answer() -> None:
    assert takes_aside(ActiveForm(name=AE_FORM, step="patient"))
    assert takes_aside(ActiveForm(name=AE_FORM, step="onset"))
    for step in ("consent", "confirm"):  # there "同意" answers the form
        assert not takes_aside(ActiveForm(name=AE_FORM, step=step))
    assert not takes_aside(ActiveForm(name="meeting_registration", step="name"))
    assert not takes_aside(None)


async def test_opt_out_clears_the_profile_and_stops_building_it(tmp_path: Path) -> None:
    async with _bot(tmp_path, embedded_storage="sqlite") as (api, bot):
        await _say(api, bot, "你好")
        await _say(api, bot, "同意")
        await _say(api, bot, QUESTION)
        assert await _interests(bot)
        off = await _say(api, bot, "关闭个性化推荐")
        assert "已关闭个性化推荐" in off[-1]
        assert await _interests(bot) == {}
        await _say(api, bot, QUESTION)
        assert await _interests(bot) == {}
        assert [event for event, _, _ in await _events(bot)] == ["agreed", "personalisation_off"]
        listed = await _click(api, bot, "meetings:list", "学术会议")
        assert "按时间排序" in listed[-1]  # not ranked by a profile any more
        assert "已撤回您的同意" in (await _say(api, bot, "撤回同意"))[-1]
        again = await _say(api, bot, "撤回同意")  # nothing in force: told so, recorded once
        assert "没有有效的同意" in again[-1]
        assert [e for e, _, _ in await _events(bot)][-2:] == ["personalisation_off", "withdrawn"]


async def _seed(services: Services, doctor: str) -> None:
    """A registration (holding a seat) and an MI request of ``doctor``."""
    now = datetime.now(UTC)
    store = RegistrationStore(services.storage)
    await store.take_seat(MEETING, doctor, 300)
    await store.save(
        Registration(
            meeting_id=MEETING, doctor_id=doctor, status=Status.REGISTERED, name=f"name-{doctor}",
            hospital="示例医院", department="心内科", created_at=now, updated_at=now,
        )
    )  # fmt: skip
    await MIStore(services.storage, services.records).create(
        question=f"question-of-{doctor}", doctor_id=doctor, conversation_key=f"kf:x:{doctor}",
        channel="kf", profile=None, at=now, response_hours=48, timezone="UTC",
    )  # fmt: skip


def _files(api: FakeWeComServer, since: int) -> dict[str, bytes]:
    media = [body["file"]["media_id"] for body in api.kf_sent[since:] if "file" in body]
    return dict(api.media[media_id] for media_id in media)


async def test_my_data_exports_the_doctors_own_data_and_nobody_elses(tmp_path: Path) -> None:
    async with _bot(tmp_path) as (api, bot):
        for doctor in (DOCTOR, OTHER):
            await _seed(_services(bot), doctor)
            await _say(api, bot, "你好", who=doctor)
            await _say(api, bot, f"同意 {doctor[-2:]}", who=doctor)
        await _say(api, bot, "阿托伐他汀的用法用量", who=OTHER)
        before = len(api.kf_sent)
        summary = await _say(api, bot, "查看我得数据")  # with a typo
        assert "数据概要" in summary[0] and "会议报名：1" in summary[0]
        await until(lambda: len(_files(api, before)) == 2)  # files follow the summary
        files = _files(api, before)
        (json_name,) = [name for name in files if name.endswith(".json")]
        (text_name,) = [name for name in files if name.endswith(".txt")]
        document = json.loads(files[json_name])
        assert document["doctor_id"] == DOCTOR
        assert [r["meeting_id"] for r in document["meeting_registrations"]] == [MEETING]
        assert [r["question"] for r in document["mi_requests"]] == [f"question-of-{DOCTOR}"]
        assert [r["event"] for r in document["consent_history"]] == ["agreed"]
        assert any("你好" in turn["you"] for turn in document["transcripts"])
        # The message right before the request, which the audit sink may not have moved into
        # the chain yet, is in the export (the export appends the stream's rest first).
        assert document["transcripts"][-1]["you"] == f"同意 {DOCTOR[-2:]}"
        assert document["profile"]["doctor_id"] == DOCTOR and document["conversations"]
        everything = files[json_name].decode() + files[text_name].decode()
        assert OTHER not in everything and "阿托伐他汀" not in everything
        assert "会议报名" in files[text_name].decode()
        routed = await _say(api, bot, "更正我的数据")  # needs a person: to the DPO
        assert "数据保护负责人" in routed[-1]
        assert any(body["touser"] == DPO and "correct" in str(body) for body in api.app_sent)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_delete_survives_a_restart_before_the_confirmation_and_keeps_pv_records(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = {
        **_backend_settings(backend, tmp_path, request),
        "pv_users": "pv_chen",
        # the system of record outlives the restart, as it does in production (the memory
        # store's records, which the Redis leg would get, are a throw-away file)
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
    }
    async with _api() as api:
        async with _bot(tmp_path, api, **settings) as (_, bot):
            await _seed(_services(bot), DOCTOR)
            await _seed(_services(bot), OTHER)
            await _say(api, bot, "你好")
            await _say(api, bot, "同意")
            await _say(api, bot, REPORT)  # an adverse-event case, kept by law
            cases = await bot.app[STORAGE].set_members(CASES_SET)
            assert cases
            cancelled = await _say(api, bot, "删除我的数据")
            assert "确认删除" in cancelled[-1] and "依法保留" in cancelled[-1]
            assert "未被删除" in (await _say(api, bot, "不要删"))[-1]
            await _say(api, bot, "删除我的数据")
            assert "请回复" in (await _say(api, bot, "嗯…"))[-1]  # hesitant: asked again
            assert "请回复" in (await _say(api, bot, "确任"))[-1]  # a typo: asked again
            assert "未被删除" in (await _say(api, bot, "取消"))[-1]
            assert await ProfileStore(bot.app[STORAGE]).get(DOCTOR) is not None
            asked = await _say(api, bot, "delete my data")
            assert "确认删除" in asked[-1] or "Delete your data" in asked[-1]
        async with _bot(tmp_path, api, **settings) as (_, bot):  # restarted in between
            storage = bot.app[STORAGE]
            done = await _say(api, bot, "确认")
            assert "deleted" in done[-1] or "已删除" in done[-1]
            assert "pharmacovigilance" in done[-1] or "药物警戒" in done[-1]
            assert await ProfileStore(storage).get(DOCTOR) is None
            assert await RegistrationStore(storage).for_doctor(DOCTOR) == []
            assert (await storage.seats(f"meeting:{MEETING}"))[0] == [OTHER]  # the seat is free
            left = await MIStore(storage).list(include_closed=True)
            assert [request.doctor_id for request in left] == [OTHER]
            conversation = await load_conversation(storage, f"kf:{OPEN_KFID}:{DOCTOR}")
            assert conversation is None or not conversation.data.get("handoff_transcript")
            assert await storage.set_members(CASES_SET) == cases  # PV keeps the case
            assert [e for e, _, _ in await _events(bot)][-1] == ConsentEvent.ERASED.value
            # The transcripts are redacted in the system of record's chain, not routed to the
            # DPO; the messages of the AE report stay, and the chain still verifies.
            assert not any(body["touser"] == DPO for body in api.app_sent)
            kept = await _sunk(bot, "message")
            # the confirming message is audited after the erasure that it asked for: without
            # its words
            assert [p["text"] for p in kept if not pv_relevant(p)] == [None]
            assert any(p["annotations"].get("audit_ae_case") for p in kept)  # the report's
            records = _services(bot).records
            assert records is not None
            check = await records.verify_audit()
            erasures = await _sunk(bot, "privacy_erasure")
            assert [(e["doctor"], e["by"], e["channel"]) for e in erasures] == [
                (DOCTOR, "doctor", "kf")
            ]
            assert check.ok and check.redacted == erasures[0]["removed"]["transcripts"] > 0
            # In the system of record: the MI request, and the registration (projected from the
            # cancellation the erasure audited) are gone; the other doctor's request stays.
            assert erasures[0]["removed"]["system_of_record"] == 2
            # the serious AE's handoff (offered to reps) is part of the report: kept for PV
            assert erasures[0]["retained"]["handoffs"] == 1
            assert [r.doctor_id for r in (await records.mi_requests(status=None)).items] == [OTHER]
            assert "消息记录已从审计记录中抹去" in done[-1]
            # Asked again: the notice comes back (consent ended with the data), and a second
            # erasure removes only what the new messages made (profile, conversation).
            assert "个人信息告知" in (await _say(api, bot, "删除我的数据"))[0]
            await _click(api, bot, ERASE_YES_CLICK, "确认删除")
            last = (await _sunk(bot, "privacy_erasure"))[-1]
            assert last["removed"] == {
                "conversations": 1, "meeting_registrations": 0, "mi_requests": 0, "profile": 1,
                "handoffs": 0,
                "system_of_record": 0,
                "transcripts": 2,  # "确认" (audited, textless, after the first one) and the request
            }  # fmt: skip
            assert await RegistrationStore(storage).for_doctor(OTHER)  # another doctor untouched
