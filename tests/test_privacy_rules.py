"""Privacy rules without a running bot: requests recognised with typos and negations, the
standing folded from the consent history, and what personalisation and consent switch off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.audit import AuditLog
from bot.metrics import Metrics
from bot.models import Channel, Conversation, Locale, TextReply
from bot.proactive import UnreachableReason, reachability
from bot.profiles import ContactRoute, DoctorProfile
from bot.runtime import build_runtime
from bot.scheduler import ScheduleRunner
from bot.services import Services, system_clock
from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from handlers.kf import default_welcome_menu
from privacy.chat import NOTICE_AGAIN_AFTER, NOTICE_KEY, notice_due
from privacy.commands import Request, recognise
from privacy.records import ConsentEvent, ConsentRecord, standing
from privacy.service import PrivacyService
from privacy.texts import AGREE_CLICK, LATER_CLICK, notice, welcome_notice
from privacy.welcome import MENU_TEXT_MAX_BYTES, with_notice
from skills.meetings.ranking import relevance
from skills.meetings.service import meetings_service

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("查看我的数据", Request.MY_DATA),
        ("查看我得数据", Request.MY_DATA),  # typo
        ("My data!", Request.MY_DATA),
        ("my dta", Request.MY_DATA),  # typo
        ("请删除我的数据", Request.DELETE),
        ("delet my data", Request.DELETE),  # typo
        ("撤回同意", Request.WITHDRAW),
        ("withdraw consent", Request.WITHDRAW),
        ("关闭个性化推荐", Request.PERSONALISATION_OFF),
        ("stop personalization", Request.PERSONALISATION_OFF),
        ("不要个性化推荐", Request.PERSONALISATION_OFF),  # a refusal that is the request
        ("开启个性化推荐", Request.PERSONALISATION_ON),
        ("隐私政策", Request.NOTICE),
        ("更正我的数据", Request.CORRECT),
    ],
)
def test_requests_are_recognised_with_typos(text: str, wanted: Request) -> None:
    assert recognise(text) is wanted


@pytest.mark.parametrize(
    "text",
    [
        "不要删除我的数据",  # negated
        "don't delete my data",
        "别撤回同意",
        "我的数学",  # one character from "我的数据" but another word
        "二甲双胍的常用剂量是多少？",
        "你好",
        "",
    ],
)
def test_negations_and_other_messages_are_not_requests(text: str) -> None:
    assert recognise(text) is None


def _record(event: ConsentEvent, version: str = "1") -> ConsentRecord:
    return ConsentRecord(
        doctor_id="d", event=event, notice_version=version, at=NOW, channel="kf", by="doctor"
    )


def test_standing_follows_the_last_decision_and_a_new_version_is_unanswered() -> None:
    history = [_record(ConsentEvent.DECLINED), _record(ConsentEvent.AGREED)]
    assert standing(history).consented("1") and not standing(history).consented("2")
    assert not standing(history).answered("2")
    history.append(_record(ConsentEvent.WITHDRAWN))
    assert not standing(history).consented("1") and standing(history).answered("1")
    history += [_record(ConsentEvent.PERSONALISATION_OFF), _record(ConsentEvent.ERASED)]
    after = standing(history)
    assert not after.answered("1") and after.personalisation_off  # a refusal survives erasure


async def test_unsolicited_messages_need_consent_and_rankings_need_personalisation() -> None:
    route = ContactRoute(
        channel=Channel.KF, conversation_key="kf:k:d", recipient_id="d", last_inbound_at=NOW
    )
    profile = DoctorProfile(doctor_id="d", contact=route, therapeutic_areas={"cardiovascular": 5})
    later = NOW + timedelta(hours=1)
    profile.contact_consented = False
    assert reachability(profile, later) is None  # a reply to what the doctor asked
    assert reachability(profile, later, unsolicited=True) is UnreachableReason.NO_CONSENT

    services, _ = build_runtime(load_settings(), MemoryStorage())
    catalog = await meetings_service(services).catalog()
    meeting = next(m for m in catalog.meetings.values() if m.therapeutic_area == "cardiovascular")
    assert relevance(meeting, profile) > 0
    profile.personalised = False
    assert relevance(meeting, profile) == 0


async def test_the_same_decision_twice_in_a_row_is_recorded_once() -> None:
    storage = MemoryStorage()
    metrics = Metrics()
    services = Services(
        settings=load_settings(),
        storage=storage,
        metrics=metrics,
        audit=AuditLog(storage),
        scheduler=ScheduleRunner(storage, system_clock, metrics),
    )
    service = PrivacyService(services)
    for event in (ConsentEvent.AGREED, ConsentEvent.AGREED, ConsentEvent.DECLINED):
        await service.decide("d", event, channel="kf", by="doctor")
    await service.decide("d", ConsentEvent.AGREED, channel="kf", by="doctor")
    events = [record.event for record in await service.records.history("d")]
    assert events == [ConsentEvent.AGREED, ConsentEvent.DECLINED, ConsentEvent.AGREED]


def test_an_ignored_notice_is_due_again_a_day_later_or_for_a_new_version() -> None:
    conversation = Conversation(key="kf:k:d", channel=Channel.KF, user_id="d")
    assert notice_due(conversation, "1", NOW)
    conversation.data[NOTICE_KEY] = {"version": "1", "at": NOW.isoformat()}
    assert not notice_due(conversation, "1", NOW + timedelta(hours=23))
    assert notice_due(conversation, "1", NOW + NOTICE_AGAIN_AFTER)
    assert notice_due(conversation, "2", NOW + timedelta(minutes=1))


def test_the_welcome_notice_fits_wecoms_menu_limits_or_is_left_for_the_first_reply() -> None:
    menu = default_welcome_menu("", "")
    url = "https://example.com/privacy"
    welcome = with_notice(load_settings(privacy_policy_url=url), menu)
    assert welcome is not None and url in welcome.head and "药物警戒" in welcome.head
    assert [o.id for o in welcome.options] == [AGREE_CLICK, LATER_CLICK]  # no main menu next to it
    assert len(welcome.head.encode()) <= MENU_TEXT_MAX_BYTES
    assert len(welcome.tail.encode()) <= MENU_TEXT_MAX_BYTES
    long_url = "https://example.com/" + "p" * 200  # fits without the link: the link is dropped
    welcome = with_notice(load_settings(privacy_policy_url=long_url), menu)
    assert welcome is not None and long_url not in welcome.head and "隐私政策" in welcome.head
    long_controller = load_settings(privacy_controller="某某医药" * 60)
    assert with_notice(long_controller, menu) is None  # the first reply carries the notice


def test_each_notice_names_the_controller_in_its_own_language() -> None:
    """The default named "本公司 (the company)" in both notices; each now reads in one
    language, and a company sets its English name apart from its Chinese one."""

    def head(settings_kw: dict[str, str], locale: Locale) -> str:
        first = notice(load_settings(**settings_kw), locale)[0]
        assert isinstance(first, TextReply)
        return first.text.splitlines()[1]

    assert head({}, Locale.ZH) == "个人信息处理者：本公司。"
    assert head({}, Locale.EN) == "Controller: the company."
    named = {
        "privacy_controller": "诺华康医药有限公司",
        "privacy_controller_en": "Novakang Pharma Ltd",
    }
    assert head(named, Locale.ZH) == "个人信息处理者：诺华康医药有限公司。"
    assert head(named, Locale.EN) == "Controller: Novakang Pharma Ltd."
    assert head({"privacy_controller": "Novakang Pharma Ltd."}, Locale.EN) == (
        "Controller: Novakang Pharma Ltd."
    )
    short = welcome_notice(load_settings(**named), with_url=False)
    assert "诺华康医药有限公司记录" in short and "Novakang Pharma Ltd records" in short
