"""Forms check each answer for its slot: re-asked once with an example, questions answered.

Through the production dispatcher: the adverse-event report (product, onset, contact, the
summary) and the HCP verification (job title).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.middlewares import load_conversation
from bot.profiles import ProfileStore
from bot.storage.memory import MemoryStorage
from tests.ae_support import AEBot, ae_settings
from tests.qa_support import build_bot, message, reply_texts

REPORT_WITHOUT_PRODUCT = "患者ZS，45岁男性，3天前出现皮疹，已住院，目前好转"


async def _case_id(bot: AEBot, doctor: str = "doc1") -> str:
    conversation = await load_conversation(bot.storage, doctor)
    assert conversation is not None and conversation.form is not None
    return str(conversation.form.slots["case_id"])


async def test_a_time_is_not_a_product_and_is_asked_once_more_then_unknown(
    tmp_path: Path,
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage())
    if any("用药后发生的吗" in text for text in await bot.say(REPORT_WITHOUT_PRODUCT)):
        await bot.say("是")  # no product named: screening may ask once, "yes" opens the case
    assert await bot.form_step("doc1") == "product"
    again = await bot.say("昨天")
    assert any("例如：诺拉维" in text for text in again)  # the example
    assert await bot.form_step("doc1") == "product"
    await bot.say("昨天")
    case = await bot.case(await _case_id(bot))
    assert case.products == [] and "product" in case.unknown
    assert await bot.form_step("doc1") != "product"


async def test_a_number_typed_at_a_free_text_question_is_not_a_menu_choice(
    tmp_path: Path,
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage())
    await bot.say("患者ZS，45岁男性，服用诺拉维后出现皮疹，已住院，目前好转")
    assert await bot.form_step("doc1") == "onset"
    await bot.say("3")
    case = await bot.case(await _case_id(bot))
    assert case.events[0].onset is None and await bot.form_step("doc1") == "onset"
    await bot.say("3天前")
    case = await bot.case(await _case_id(bot))
    assert case.events[0].onset == "3天前"


async def test_contact_must_be_a_phone_or_email_and_a_question_at_the_summary_is_answered(
    tmp_path: Path,
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage())
    await bot.say("患者ZS，45岁男性，服用诺拉维3天后出现皮疹，已住院，目前好转")
    await bot.say("无")
    await bot.say("同意")
    assert await bot.form_step("doc1") == "contact"
    again = await bot.say("确认")
    assert any("13800000000" in text for text in again)
    assert await bot.form_step("doc1") == "contact"
    await bot.say("邮箱 zhang@hospital.cn")
    assert await bot.form_step("doc1") == "confirm"
    case_id = await _case_id(bot)
    sources = len((await bot.case(case_id)).sources)
    answered = await bot.say("诺拉维的推荐剂量是多少？")
    case = await bot.case(case_id)
    assert len(case.sources) == sources  # not stored as an addition to the report
    assert await bot.form_step("doc1") == "confirm" and "报告摘要" in answered[-1]
    contact = await bot.ae.store.read_contact(case_id, reader="t", purpose="t", at=bot.clock())
    assert contact is not None and contact.preferred_contact == "邮箱 zhang@hospital.cn"


async def test_a_question_at_the_job_title_is_answered_not_stored(qa_kb: Any) -> None:
    services, dispatcher, _ = build_bot(qa_kb, full=True)
    await dispatcher.feed(message("我要认证医生身份"))
    for answer in ("张医生", "协和医院", "内分泌科"):
        await dispatcher.feed(message(answer))
    ctx = await dispatcher.feed(message("诺维莎应该怎么储存？"))
    texts = reply_texts(ctx.replies)
    assert "NVX-PAT-ZH-2025-02" in "\n".join(texts)  # answered from approved content
    assert "职称" in texts[-1]  # and the pending question again
    assert ctx.conversation.form is not None and "title" not in ctx.conversation.form.slots
    ctx = await dispatcher.feed(message("3"))
    assert "例如：主任医师" in "\n".join(reply_texts(ctx.replies))
    ctx = await dispatcher.feed(message("主任医师"))
    assert "已提交" in reply_texts(ctx.replies)[0]
    profile = await ProfileStore(services.storage).get("doc1")
    assert profile is not None and profile.title == "主任医师"


async def test_a_title_that_never_fits_is_left_unknown_after_one_more_try(qa_kb: Any) -> None:
    services, dispatcher, _ = build_bot(qa_kb, full=True)
    await dispatcher.feed(message("我要认证医生身份"))
    for answer in ("张医生", "协和医院", "内分泌科", "确认", "好的"):
        ctx = await dispatcher.feed(message(answer))
    assert "已提交" in reply_texts(ctx.replies)[0]
    profile = await ProfileStore(services.storage).get("doc1")
    assert profile is not None and profile.hospital == "协和医院" and profile.title is None
