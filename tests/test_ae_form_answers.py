"""Every yes/no question of the report form, answered in many words, through the dispatcher.

The tables (tests/yesno_phrasings.py) hold 60+ ways each of saying yes, no and something
else. At each question: a yes never turns into a no, a no is never stored as a yes (the
"不同意" bug), and anything unclear is asked again once, then recorded as unknown.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.middlewares import load_conversation, save_conversation
from bot.storage.memory import MemoryStorage
from skills.adverse_events.cases import AECase, CaseStatus, ReporterContact, SubmitReason
from tests.ae_support import AEBot, ae_settings
from tests.yesno_phrasings import NO, UNCLEAR, YES

# Everything but the other medicines and the consent is in the report.
REPORT = "患者ZS，45岁男性，服用诺拉维3天后出现皮疹，已住院，目前好转"
_doctors = (f"doc{n}" for n in itertools.count())
_case_ids: dict[str, str] = {}


def _bot(tmp_path: Path) -> AEBot:
    # One doctor answers a whole table within a minute of test time: no flood limit here.
    return AEBot(ae_settings(tmp_path, flood_messages_per_min=100_000), MemoryStorage())


async def _case(bot: AEBot, doctor: str) -> tuple[AECase, ReporterContact | None]:
    case = await bot.case(_case_ids[doctor])
    contact = await bot.ae.store.read_contact(case.case_id, reader="t", purpose="t", at=bot.clock())
    return case, contact


async def _report(bot: AEBot, doctor: str, text: str = REPORT) -> None:
    await bot.say(text, doctor)
    conversation = await load_conversation(bot.storage, doctor)
    assert conversation is not None and conversation.form is not None
    _case_ids[doctor] = str(conversation.form.slots["case_id"])


async def _reach(bot: AEBot, step: str) -> str:
    """A new doctor whose report form is now asking ``step``."""
    doctor = next(_doctors)
    await _report(bot, doctor)
    answers = {"concomitant": "无", "consent": "不同意"}
    while (current := await bot.form_step(doctor)) != step:
        assert current in answers, current
        await bot.say(answers[current], doctor)
    return doctor


async def _rewind(bot: AEBot, doctor: str, step: str) -> None:
    """Put the form back to asking ``step`` with nothing answered there (one report serves a
    whole table; the answer itself still goes through the dispatcher)."""
    conversation = await load_conversation(bot.storage, doctor)
    assert conversation is not None and conversation.form is not None
    form = conversation.form
    form.step = step
    form.slots["done"] = [done for done in form.slots.get("done", []) if done != step]
    form.slots.pop("missed", None)
    await save_conversation(bot.storage, conversation, bot.settings.conversation_ttl_s)
    case, contact = await _case(bot, doctor)
    assert case.status is CaseStatus.COLLECTING and contact is not None
    case.unknown, case.concomitant = [], []
    case.seriousness = None if step == "seriousness" else case.seriousness
    contact.consent_to_follow_up, contact.preferred_contact = None, None
    await bot.ae.store.save(case)
    await bot.ae.store.save_contact(contact)


def _unclear_at_menu(choices: int) -> list[str]:
    """Unclear answers, without the numbers that pick an option of the menu showing."""
    return [t for t in UNCLEAR if not (t.strip().isdigit() and 1 <= int(t) <= choices)]


@pytest.mark.parametrize(
    ("table", "consent", "next_step"),
    [(YES, True, "contact"), (NO, False, "confirm")],  # a no asks no contact details
    ids=["yes", "no"],
)
async def test_consent_yes_and_no(
    tmp_path: Path, table: tuple[str, ...], consent: bool, next_step: str
) -> None:
    bot = _bot(tmp_path)
    doctor = await _reach(bot, "consent")
    for text in table:
        await _rewind(bot, doctor, "consent")
        await bot.say(text, doctor)
        _, contact = await _case(bot, doctor)
        assert contact is not None and contact.consent_to_follow_up is consent, text
        assert await bot.form_step(doctor) == next_step, text


async def test_consent_unclear_is_asked_again_once_then_unknown(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    doctor = await _reach(bot, "consent")
    for text in _unclear_at_menu(len(("yes", "no"))):
        await _rewind(bot, doctor, "consent")
        again = await bot.say(text, doctor)
        assert again and await bot.form_step(doctor) == "consent", text  # asked again
        await bot.say(text, doctor)
        case, contact = await _case(bot, doctor)
        assert contact is not None and contact.consent_to_follow_up is not True, text
        assert await bot.form_step(doctor) in ("consent", "confirm"), text  # never the contact
        if await bot.form_step(doctor) == "confirm":
            assert "consent" in case.unknown and contact.consent_to_follow_up is None, text


async def test_consent_menu_clicks_and_numbers_still_work(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    for answer, consent in (("ae:a:consent:yes", True), ("ae:a:consent:no", False)):
        doctor = await _reach(bot, "consent")
        await bot.say("同意" if consent else "不同意", doctor, click_id=answer)
        _, contact = await _case(bot, doctor)
        assert contact is not None and contact.consent_to_follow_up is consent
    for number, consent in (("1", True), ("2", False)):
        doctor = await _reach(bot, "consent")
        await bot.say(number, doctor)
        _, contact = await _case(bot, doctor)
        assert contact is not None and contact.consent_to_follow_up is consent


async def test_confirm_yes_no_unclear(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    for text in YES:
        doctor = await _reach(bot, "confirm")
        await bot.say(text, doctor)
        case, _ = await _case(bot, doctor)
        assert case.submit_reason is SubmitReason.CONFIRMED, text
    doctor = await _reach(bot, "confirm")
    for text in [*NO, *_unclear_at_menu(1)]:
        case, _ = await _case(bot, doctor)
        if case.status is not CaseStatus.COLLECTING:  # "算了" submits as it is
            doctor = await _reach(bot, "confirm")
        await _rewind(bot, doctor, "confirm")
        await bot.say(text, doctor)
        case, _ = await _case(bot, doctor)
        assert case.submit_reason is not SubmitReason.CONFIRMED, text
        if case.status is CaseStatus.COLLECTING:
            assert await bot.form_step(doctor) == "confirm", text  # the summary again


async def test_seriousness_no_is_none_and_never_a_criterion(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    report = "患者ZS，45岁男性，服用诺拉维3天后出现皮疹，目前好转"  # seriousness not said
    doctor = next(_doctors)
    await _report(bot, doctor, report)
    for table, expect_none in ((NO, True), (YES, False), (_unclear_at_menu(8), False)):
        for text in table:
            case, _ = await _case(bot, doctor)
            if case.status is not CaseStatus.COLLECTING:  # "算了" submits as it is
                doctor = next(_doctors)
                await _report(bot, doctor, report)
            await _rewind(bot, doctor, "seriousness")
            await bot.say(text, doctor)
            case, _ = await _case(bot, doctor)
            if case.submit_reason is SubmitReason.STOPPED:
                continue  # "不用了" / "算了" also mean "stop": the report goes as it is
            if expect_none:
                assert case.seriousness == [], text
            else:  # a bare "yes" names no criterion: asked again, never read as "none"
                assert case.seriousness != [], text


async def test_concomitant_no_means_none(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    doctor = await _reach(bot, "concomitant")
    for text in NO:
        case, _ = await _case(bot, doctor)
        if case.status is not CaseStatus.COLLECTING:  # "算了" submits as it is
            doctor = await _reach(bot, "concomitant")
        await _rewind(bot, doctor, "concomitant")
        await bot.say(text, doctor)
        case, _ = await _case(bot, doctor)
        if case.submit_reason is SubmitReason.STOPPED:
            continue  # "不用了" / "算了" also mean "stop": the report goes as it is
        assert case.concomitant == [] and await bot.form_step(doctor) == "consent", text
    for text in YES:  # "有" / "yes" without names: the list is asked for
        await _rewind(bot, doctor, "concomitant")
        replies = await bot.say(text, doctor)
        case, _ = await _case(bot, doctor)
        assert case.concomitant == [] and await bot.form_step(doctor) == "concomitant", text
        assert replies, text
