"""The meeting list and the doctor's registrations: shown from the meetings menu, from a
longer request the Q&A skill reads, and from inside the registration form."""

from __future__ import annotations

import re
from typing import Final

from bot.dispatcher import Context
from bot.models import MenuOption, MenuReply, MessageKind
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.ranking import rank_meetings
from skills.meetings.registrations import Status
from skills.meetings.service import MeetingsService
from skills.meetings.views import MAX_LISTED, meeting_label, meeting_list

LISTED_KEY = "meetings_listed"  # Conversation.data: ids of the meeting list last shown, in order
# Topics a doctor may ask the list for ("any lipid meetings coming up", "有没有血脂的会"): the
# words that name each in a message and in a meeting's titles, tags and area.
_TOPICS: Final = (
    (("血脂", "lipids"), r"血脂|胆固醇|降脂|他汀|lipid|cholesterol|statin|\bldl"),
    (("高血压", "hypertension"), r"高血压|血压|hypertension|blood pressure"),
    (("糖尿病", "diabetes"), r"糖尿病|降糖|血糖|diabet|glucose"),
    (("肿瘤", "oncology"), r"肺癌|肿瘤|癌|nsclc|oncolog|cancer"),
    (("慢阻肺", "COPD"), r"慢阻肺|copd|吸入|inhal"),
    (("肾脏病", "kidney disease"), r"肾|kidney|renal|\bckd"),
    (("偏头痛", "migraine"), r"偏头痛|头痛|migraine|headache"),
    (("心血管", "cardiology"), r"心血管|心内|cardio|heart"),
)


_MEETINGS = re.compile(
    r"会议|研讨会|论坛|[的个场]会|\bmeetings?\b|\bwebinars?\b|\bsymposi|\bcongress", re.I
)
# What a meeting said (its approved material) is a question for Q&A, not a list request.
_CONTENT = re.compile(
    r"讲了|说了|要点|内容|资料|材料|幻灯|结论|key messages?|slides|what was (said|presented)|"
    r"material|takeaways?",
    re.I,
)


def _topics_in(text: str) -> list[tuple[tuple[str, str], str]]:
    return [(names, pattern) for names, pattern in _TOPICS if re.search(pattern, text, re.I)]


def asks_for_meetings_on_a_topic(text: str) -> bool:
    """ "有没有糖尿病的会议", "any lipid meetings coming up": the list, filtered; "心血管会议
    诺拉维卫星会讲了什么要点" asks what a meeting said."""
    return bool(_MEETINGS.search(text) and _topics_in(text)) and not _CONTENT.search(text)


def _about(meeting: Meeting, pattern: str) -> bool:
    words = [meeting.title.zh, meeting.title.en, meeting.therapeutic_area, *meeting.tags]
    words += list(meeting.audience_specialties)
    return any(re.search(pattern, word, re.IGNORECASE) for word in words if word)


async def show_list(ctx: Context, service: MeetingsService) -> None:
    """Upcoming meetings, ranked for the doctor; only those on the topics a typed request
    names ("any lipid meetings coming up"), and when none is, a word saying so before the list
    by date (not "ranked for your specialty" around unrelated meetings). The ids shown are
    kept for "register me for the first one"."""
    catalog = await service.catalog()
    upcoming = [m for m in catalog.upcoming(ctx.now) if m.start > ctx.now]
    text = ctx.message.text if ctx.message.kind is MessageKind.TEXT else ""
    asked = _topics_in(text)
    head = None
    if asked and upcoming:
        topic = "、".join(ctx.t(*names) for names, _ in asked)
        on_topic = [m for m in upcoming if any(_about(m, pattern) for _, pattern in asked)]
        if on_topic:
            upcoming, head = on_topic, texts.LIST_HEAD_TOPIC.get(ctx.locale, topic=topic)
        else:
            ctx.reply(texts.LIST_NONE_ON_TOPIC.get(ctx.locale, topic=topic))
            head = texts.LIST_HEAD_OTHERS.get(ctx.locale)
            upcoming.sort(key=lambda meeting: meeting.start)
    ranked = upcoming if head else rank_meetings(upcoming, ctx.profile)
    ctx.conversation.data[LISTED_KEY] = [m.id for m in ranked[:MAX_LISTED]]
    ctx.reply(meeting_list(ctx, ranked, head))


async def show_registrations(
    ctx: Context, service: MeetingsService, *, list_when_none: bool = True
) -> None:
    """The doctor's current registrations and waitlist places, each with its details and its
    cancel; the meeting list when there are none (not inside the registration form, whose
    question follows)."""
    assert ctx.profile is not None
    catalog = await service.catalog()
    lines, options = [], []
    for registration in await service.registrations.for_doctor(ctx.profile.doctor_id):
        meeting = catalog.get(registration.meeting_id)
        if meeting is None or meeting.end <= ctx.now or registration.status is Status.CANCELLED:
            continue
        title = meeting.title.get(ctx.locale)
        if registration.status is Status.REGISTERED:
            lines.append(texts.MINE_REGISTERED.get(ctx.locale, title=title, when=meeting.when()))
        else:
            position = await service.registrations.waitlist_position(
                meeting.id, ctx.profile.doctor_id
            )
            lines.append(
                texts.MINE_WAITLISTED.get(
                    ctx.locale, title=title, when=meeting.when(), position=position
                )
            )
        options.append(
            MenuOption(id=f"meetings:detail:{meeting.id}", label=meeting_label(ctx, meeting))
        )
        if ctx.now < meeting.start:  # trial #57: how to cancel was one tap further, unseen
            label = f"{texts.OPTION_CANCEL.get(ctx.locale)}：{title}"
            options.append(MenuOption(id=f"meetings:cancel:{meeting.id}", label=label))
    if not lines:
        ctx.reply(texts.MINE_EMPTY.get(ctx.locale))
        if list_when_none:
            await show_list(ctx, service)
        return
    head = texts.MINE_HEAD.get(ctx.locale) + "\n" + "\n".join(lines)
    options.append(MenuOption(id="meetings:list", label=texts.OPTION_BACK.get(ctx.locale)))
    ctx.reply(MenuReply(head=head, options=tuple(options)))
