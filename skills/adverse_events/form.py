"""The guided adverse-event report (bot mode): one short question at a time.

The screening middleware opens the case and puts ``ActiveForm("ae_report")`` on the
conversation; this router (priority 90, with the other active forms) then asks only what the
case still lacks: event, patient (initials, age, sex), suspect product and batch, onset,
seriousness, outcome, concomitant medicines, consent to PV follow-up and contact. "Don't know"
is accepted everywhere; "stop" submits the case as it is. Every answer is saved before the next
question is sent, and every step re-arms the idle timer that submits an abandoned form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from bot import forms
from bot.dispatcher import UNHANDLED, Context, HandlerResult, Router
from bot.forms import SlotKind
from bot.middlewares import load_conversation, save_conversation
from bot.models import (
    ActiveForm,
    ConversationMode,
    Locale,
    MenuOption,
    MenuReply,
    MessageKind,
    Reply,
    SenderType,
)
from bot.services import Services
from bot.storage.base import ScheduledItem
from bot.yesno import YesNo, read_yes_no
from skills.adverse_events.cases import (
    CASE_STEPS,
    AECase,
    Asked,
    CaseStatus,
    Event,
    Outcome,
    Product,
    ReporterContact,
    Seriousness,
    SourceMessage,
    SubmitReason,
)
from skills.adverse_events.confirmation import (
    asks,
    asks_a_question,
    asks_without_telling,
    names_a_query_topic,
)
from skills.adverse_events.cues import PATIENT, normalize
from skills.adverse_events.extraction import OWN_PRODUCT, denied_seriousness, extract
from skills.adverse_events.facts import extract_facts, mask
from skills.adverse_events.screener import Verdict
from skills.adverse_events.service import (
    ADDED_TO_OPEN_CASE,
    AE_FORM,
    IDLE_SCHEDULE,
    QUESTION_ONLY,
    QUESTION_TEXT,
    SEPARATE_CASE,
    AEService,
    ae_service,
)
from skills.help import HELP_CLICK

REPORT_CLICK = "ae:report"
ANSWER_CLICK = "ae:a:"  # + "<step>:<value>"
READER = "ae-form"

_DONT_KNOW = re.compile(
    r"不知道|不清楚|不确定|不详|未知|不记得|记不清|忘了|没注意|"
    r"\b(don'?t know|do not know|not sure|unknown|no idea|can'?t remember|n/?a)\b",
    re.IGNORECASE,
)
_STOP = re.compile(
    r"^\s*(停止|停|算了|不用了|结束|取消|不填了|不想填了|就这样|stop|quit|cancel|enough|"
    r"that'?s all)\s*[。.!！]*\s*$",
    re.IGNORECASE,
)
_NONE = re.compile(
    r"^\s*(无|没有|都没有|没|都不是|以上都不是|none|no|nothing|neither|"
    r"none of (?:these|those|them|the above))\s*[。.!！]*\s*$",
    re.IGNORECASE,
)
# Withdrawing or restarting the report: a command, never a step's value.
_WITHDRAW = re.compile(
    r"不报了|不想报|不用报|别报|不要报|撤回报告|重新开始|重来|从头(?:开始|来)|"
    r"\b(?:start over|restart|withdraw (?:the|my|this) report|don'?t (?:report|file)|"
    r"never ?mind|forget it|cancel (?:the|my|this) report)\b",
    re.IGNORECASE,
)
# A greeting, perhaps impatient ("hi", "hello??", "在吗"): never a step's value.
_GREETING = re.compile(
    r"^\s*(?:(?:hi|hello|hey|hiya|yo|你好|您好|在吗|在不在|哈喽|嗨|喂)(?:\s*there)?[\s,，]*){1,3}"
    r"[\s?？!！.。~～]*$",
    re.IGNORECASE,
)
# Impatience with the questions ("怎么这么多问题", "快点", "too many questions"): said to, and
# the question asked again; never a step's value, never a question for Q&A.
_IMPATIENT = re.compile(
    r"这么多问题|问题(?:太|好|真)多|太多问题|快点|快一点|还要多久|还有几个|有完没完|烦死|好烦|太烦|"
    r"(?<![a-z])(?:too many questions|so many questions|hurry|how many more|how much longer|"
    r"are we done|this is taking)(?![a-z])",
    re.IGNORECASE,
)
# Asking in words the screening's question reader leaves to Q&A: colloquial Chinese ("吃多了咋整",
# "为啥"), "whats …".
_ASKS_COLLOQUIALLY = re.compile(r"咋|(?<!没)啥|怎么办|(?<![a-z])what'?s(?![a-z])", re.IGNORECASE)
_INITIALS_ANY = re.compile(r"(?<![A-Za-z])([A-Za-z]{2,3})(?![A-Za-z])")
_AGE_NUMBER = re.compile(r"(?<!\d)(\d{1,3})(?!\d)")


@dataclass(frozen=True)
class Choice:
    value: str
    zh: str
    en: str


SERIOUSNESS_CHOICES = (
    Choice(Seriousness.DEATH, "死亡", "Death"),
    Choice(Seriousness.LIFE_THREATENING, "危及生命", "Life-threatening"),
    Choice(Seriousness.HOSPITALISATION, "住院或住院延长", "Hospitalisation"),
    Choice(Seriousness.DISABILITY, "残疾或功能障碍", "Disability"),
    Choice(Seriousness.CONGENITAL_ANOMALY, "先天异常", "Congenital anomaly"),
    Choice(Seriousness.OTHER_MEDICALLY_IMPORTANT, "其他重要医学事件", "Other medically important"),
    Choice("none", "以上都没有", "None of these"),
    Choice("unknown", "不知道", "Don't know"),
)
OUTCOME_CHOICES = (
    Choice(str(Outcome.RECOVERED.value), "已恢复", "Recovered"),
    Choice(str(Outcome.RECOVERING.value), "好转中", "Recovering"),
    Choice(str(Outcome.NOT_RECOVERED.value), "未恢复", "Not recovered"),
    Choice(str(Outcome.RECOVERED_WITH_SEQUELAE.value), "恢复但有后遗症", "Recovered with sequelae"),
    Choice(str(Outcome.FATAL.value), "死亡", "Fatal"),
    Choice("unknown", "不知道", "Don't know"),
)
YES_NO_CHOICES = (Choice("yes", "同意", "Yes"), Choice("no", "不同意", "No"))
CONFIRM_CHOICES = (Choice("yes", "确认提交", "Submit"),)


def _menu(ctx: Context, step: str, head: str, choices: tuple[Choice, ...]) -> MenuReply:
    return MenuReply(
        head=head,
        options=tuple(
            MenuOption(id=f"{ANSWER_CLICK}{step}:{c.value}", label=ctx.t(c.zh, c.en))
            for c in choices
        ),
        tail=ctx.t(
            "也可以直接回复文字；回复“停止”可随时结束并提交。",
            "You can also type your answer; reply 'stop' to finish and submit now.",
        ),
    )


# -- what each step needs and how it asks ---------------------------------------------------------


@dataclass
class FormState:
    """What one turn works on: the case, the reporter's contact and the conversation's form."""

    case: AECase
    contact: ReporterContact
    form: ActiveForm

    def done(self, step: str) -> bool:
        return step in self.form.slots.setdefault("done", [])

    def mark(self, step: str, how: Asked = Asked.ANSWERED) -> None:
        if not self.done(step):
            self.form.slots["done"].append(step)
        self.case.record(step, how)


def _needed(step: str, state: FormState) -> bool:
    case, contact = state.case, state.contact
    if state.done(step):
        return False
    if step in CASE_STEPS:  # onset once there is an event to date
        return case.empty(step) and (step != "onset" or bool(case.events))
    return {
        "consent": contact.consent_to_follow_up is None,
        "contact": bool(contact.consent_to_follow_up) and not contact.preferred_contact,
        "confirm": True,
    }[step]


STEPS = (
    "event",
    "patient",
    "product",
    "onset",
    "seriousness",
    "outcome",
    "concomitant",
    "consent",
    "contact",
    "confirm",
)


def _question(ctx: Context, step: str, state: FormState) -> Reply | str:
    if step == "seriousness":
        head = ctx.t(
            "是否出现以下任一情况？（可多选，如“3”或“住院”）",
            "Did any of these happen? (several allowed, e.g. '3' or 'hospitalised')",
        )
        return _menu(ctx, step, head, SERIOUSNESS_CHOICES)
    if step == "outcome":
        return _menu(
            ctx, step, ctx.t("目前患者情况如何？", "What is the outcome so far?"), OUTCOME_CHOICES
        )
    if step == "consent":
        head = ctx.t(
            "药物警戒部门可能需要就此病例与您联系随访，您是否同意？",
            "May our pharmacovigilance team contact you to follow up on this case?",
        )
        return _menu(ctx, step, head, YES_NO_CHOICES)
    if step == "confirm":
        head = (
            summary(ctx, state)
            + "\n"
            + ctx.t(
                "以上信息确认无误请回复“确认”提交；也可以直接补充说明。",
                "Reply 'confirm' to submit, or add anything you want to add.",
            )
        )
        return _menu(ctx, step, head, CONFIRM_CHOICES)
    texts = {
        "event": (
            "请简要描述患者出现了什么情况（不良反应或事件）。",
            "Please describe briefly what happened to the patient.",
        ),
        "patient": (
            "请提供患者的姓名首字母、年龄和性别（例如：ZS，45岁，男）。请勿提供全名或身份证号。",
            "Patient's initials, age and sex? (e.g. 'JS, 45, male'). Please no full name "
            "or ID number.",
        ),
        "product": (
            "怀疑是哪个药品引起的？如知道批号也请一并告诉我。",
            "Which product do you suspect? Please add the batch/lot number if known.",
        ),
        "onset": ("大约什么时候开始出现的？", "When did it start, roughly?"),
        "concomitant": (
            "患者是否同时使用其他药物？如有请列出（没有可回复“无”）。",
            "Is the patient taking other medicines? Please list them (or reply 'none').",
        ),
        "contact": (
            "请留下方便联系您的方式（电话或邮箱）。",
            "How should PV contact you (phone or email)?",
        ),
    }
    zh, en = texts[step]
    return ctx.t(zh, en)


def summary(ctx: Context, state: FormState) -> str:
    case = state.case
    unknown = ctx.t("不详", "unknown")
    patient = (
        ctx.t("，", ", ").join(
            part
            for part in (
                case.patient.initials,
                case.patient.age,
                case.patient.sex
                and ctx.t("男" if case.patient.sex == "male" else "女", case.patient.sex),
            )
            if part
        )
        or unknown
    )
    # English punctuation in English summaries: "Event: rash (3 days ago); …".
    opened, closed, sep = ctx.t("（", " ("), ctx.t("）", ")"), ctx.t("；", "; ")
    products = (
        sep.join(
            p.name + (f"{opened}{ctx.t('批号', 'lot')} {p.batch}{closed}" if p.batch else "")
            for p in case.products
        )
        or unknown
    )
    events = sep.join(  # the onset in brackets when the words do not already say it
        e.verbatim + (f"{opened}{e.onset}{closed}" if e.onset and e.onset not in e.verbatim else "")
        for e in case.events
    )
    if case.seriousness is None:
        serious = unknown
    elif not case.seriousness:
        serious = ctx.t("否", "no")
    else:
        labels = {c.value: ctx.t(c.zh, c.en) for c in SERIOUSNESS_CHOICES}
        serious = "、".join(labels[flag.value] for flag in case.seriousness)
    outcome_labels = {c.value: ctx.t(c.zh, c.en) for c in OUTCOME_CHOICES}
    outcome = outcome_labels.get(str(case.outcome.value), unknown) if case.outcome else unknown
    lines = [
        ctx.t(f"报告摘要（{case.case_id}）：", f"Report summary ({case.case_id}):"),
        ctx.t(f"患者：{patient}", f"Patient: {patient}"),
        ctx.t(f"怀疑药品：{products}", f"Suspect product: {products}"),
        ctx.t(f"事件：{events or unknown}", f"Event: {events or unknown}"),
        ctx.t(f"严重性：{serious}", f"Serious: {serious}"),
        ctx.t(f"转归：{outcome}", f"Outcome: {outcome}"),
    ]
    if case.concomitant:
        lines.append(ctx.t("合并用药：", "Other medicines: ") + "；".join(case.concomitant))
    return "\n".join(lines)


# -- how each step reads an answer ---------------------------------------------------------------
# Each reader returns False when the answer does not fit the step: the form asks once more with
# an example, then records the step as unknown (bot.forms). Yes/no answers go through
# bot.yesno, so "不同意" or "不用了" is a no and nothing unclear becomes a yes.


def _choice_values(ctx: Context, step: str, choices: tuple[Choice, ...]) -> list[str]:
    """Values chosen by a menu click, by option numbers ("1,3") or by their label words.

    Only the step whose menu is showing calls this, so a number typed at a free-text question
    is never read as an option of an earlier menu.
    """
    message = ctx.message
    if message.kind is MessageKind.CLICK and message.click_id:
        prefix = f"{ANSWER_CLICK}{step}:"
        return [message.click_id[len(prefix) :]] if message.click_id.startswith(prefix) else []
    text = message.text
    numbers = [int(n) for n in re.findall(r"\d+", text) if 1 <= int(n) <= len(choices)]
    if numbers and not re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", re.sub(r"\d", "", text)):
        return [choices[n - 1].value for n in numbers]
    return [c.value for c in choices if c.zh in text or c.en.lower() in text.lower()]


def _today(ctx: Context) -> date:
    return ctx.now.date()


# Only the patient's initials, age or sex ("AB 31 F", "ZS，45岁，男"): no description of an event.
_PATIENT_ONLY = re.compile(
    r"^\s*(?:[A-Za-z]{1,3}\.?){0,3}[\s,，、]*(?:\d{1,3}\s*(?:岁|y|yo|yrs?|years?(?: old)?)?)?"
    r"[\s,，、]*(?:男|女|男性|女性|m|f|male|female)?\s*[。.]?\s*$",
    re.IGNORECASE,
)


# Nothing happened (a quality complaint, a pregnancy exposure without a reaction): no event to
# describe, never an event's text ("nothing happened to anyone", "没有什么不良反应").
_NO_EVENT = re.compile(
    r"nothing (?:has )?happened|"
    r"no (?:adverse )?(?:reactions?|events?|harm|side effects?|symptoms?)\b|"
    r"no (?:pt|patient|one)s? (?:took|has taken|was harmed)|nobody|"
    r"没有(?:什么|任何)?(?:不良)?(?:反应|事件|不舒服|症状)|没(?:什么|有)?(?:不良)?(?:反应|事)|"
    r"没有发生|没出现",
    re.IGNORECASE,
)
# A denial followed by what did happen ("没有什么反应，但是肝酶升高了") is an event.
_BUT = re.compile(r"但|可是|不过|只是|除了|\b(?:but|however|except|apart from)\b", re.IGNORECASE)
# No patient involved ("there is no patient", "还没有病人用过").
_NO_PATIENT = re.compile(
    r"\bno (?:pt|patient|one)\b|there (?:is|was) no (?:pt|patient)|nobody|"
    r"没有(?:患者|病人)|没(?:有)?人(?:用|吃)过|还没(?:有)?(?:患者|病人)",
    re.IGNORECASE,
)


def _patient_details(text: str) -> bool:
    """Only initials, an age or a sex, with an age or sex in it ("AB 31 F", "JB 71 M")."""
    return bool(_PATIENT_ONLY.match(text)) and bool(
        re.search(r"\d|男|女|\b[mf]\b", text, re.IGNORECASE)
    )


def _answer_event(ctx: Context, state: FormState, text: str) -> bool:
    if _NONE.match(text) or (_NO_EVENT.search(text) and not _BUT.search(text)):
        state.case.add_source(_note(ctx))  # "nothing happened to anyone": no event, PV reads it
        return True
    if not forms.check(SlotKind.TEXT, _without_denied_what(text), _today(ctx)):
        return False
    if _patient_details(text):
        _answer_patient(ctx, state, text)  # kept where it belongs; the event is asked again
        return False
    state.case.events.append(Event(verbatim=mask(text), language=str(ctx.locale.value)))
    facts = extract_facts(text)
    if facts.seriousness and state.case.seriousness is None:
        state.case.seriousness = facts.seriousness
    return True


def _answer_patient(ctx: Context, state: FormState, text: str) -> bool:
    if re.fullmatch(r"\s*\d\s*[。.]?\s*", text):
        return False  # "1": a menu choice meant for another question, never an age
    if _NO_PATIENT.search(text):
        return True  # "there is no patient" (a quality complaint): nothing to record
    facts = extract_facts(text)
    patient = state.case.patient
    age = facts.age or (m.group(1) if (m := _AGE_NUMBER.search(text)) else None)
    initials = facts.initials
    # Letters alone are initials only in a patient-details answer, beside an age or sex or
    # typed as capitals ("JB"): never a word of a question or a greeting ("noravex max dose",
    # "hi").
    found = _INITIALS_ANY.search(text) if _PATIENT_ONLY.match(text) else None
    if initials is None and found and (age or facts.sex or found.group(1).isupper()):
        initials = found.group(1).upper()
    if initials and initials.lower() in ("male", "man", "yo"):
        initials = None
    if not (facts.sex or age or initials):
        return False
    patient.sex = facts.sex or patient.sex
    patient.age = age or patient.age
    patient.initials = initials or patient.initials
    return True


def _answer_product(ctx: Context, state: FormState, text: str) -> bool:
    facts = extract_facts(text)
    if _narrative(text) and facts.products:  # a story: the product it names, the words kept
        state.case.add_source(_note(ctx))
        state.case.products += [Product(name=name, batch=facts.batch) for name in facts.products]
        return True
    if names_a_query_topic(text) and asks_without_telling(text, ()) and not re.search(r"\d", text):
        return False  # "noravex max dose" is a question about the product, answered
    if _hedged_product(text):  # "应该是诺拉维", "probably noravex?": the product it names
        found = OWN_PRODUCT.search(text)
        assert found is not None
        state.case.products.append(Product(name=found.group(0), batch=facts.batch))
        return True
    if not forms.check(SlotKind.PRODUCT, text, _today(ctx)) or _patient_details(text):
        return False  # "JB 71 M" is the patient, not a product
    name = re.split(r"[，,；;]?\s*(?:批号|批次|lot|batch)", text, maxsplit=1, flags=re.I)[0]
    state.case.products.append(Product(name=mask(name.strip() or text), batch=facts.batch))
    return True


# A product answer is a name (and a batch); a sentence about a person this long is a story
# ("My patient has been on Noravex for a year, LDL at goal, no complaints").
_NARRATIVE_UNITS = 8
_UNIT = re.compile(r"[\u3400-\u9fff]|[A-Za-z0-9']+")


def _hedged_product(text: str) -> bool:
    """A short answer naming our product, perhaps hedged or with a question mark ("应该是诺拉维",
    "可能是诺拉维？", "probably noravex"), asking about no topic."""
    return (
        OWN_PRODUCT.search(text) is not None
        and len(_UNIT.findall(text)) <= _NARRATIVE_UNITS
        and not names_a_query_topic(text)
    )


def _narrative(text: str) -> bool:
    return bool(PATIENT.search(normalize(text))) and len(_UNIT.findall(text)) > _NARRATIVE_UNITS


def _answer_onset(ctx: Context, state: FormState, text: str) -> bool:
    if not forms.check(SlotKind.WHEN, text, _today(ctx)):
        return False
    state.case.events[0].onset = mask(text.strip())
    return True


def _answer_seriousness(ctx: Context, state: FormState, text: str) -> bool:
    values = _choice_values(ctx, "seriousness", SERIOUSNESS_CHOICES)
    if "unknown" in values:
        state.case.unknown.append("seriousness")
        return True
    flags = [Seriousness(v) for v in values if v not in ("none", "unknown")]
    flags += [flag for flag in extract_facts(text).seriousness if flag not in flags]
    if flags:
        state.case.seriousness = flags
        return True
    denied = denied_seriousness(text)  # "没住院，门诊处理的": none of them
    outcome = extract_facts(text).outcome
    if outcome is not None and not ("none" in values or denied or _NONE.match(text)):
        # "还没好" tells the outcome, not that no criterion applies (its "没" is no "no"): kept
        # for the outcome question, and this one asked again.
        state.case.outcome = state.case.outcome or outcome
        return False
    if "none" in values or denied or _NONE.match(text) or read_yes_no(text) is YesNo.NO:
        state.case.seriousness = []
        return True
    return False


def _answer_outcome(ctx: Context, state: FormState, text: str) -> bool:
    values = [v for v in _choice_values(ctx, "outcome", OUTCOME_CHOICES) if v != "unknown"]
    outcome = Outcome(int(values[0])) if values else extract_facts(text).outcome
    if outcome is None and "unknown" not in _choice_values(ctx, "outcome", OUTCOME_CHOICES):
        return False
    state.case.outcome = outcome or Outcome.UNKNOWN
    return True


def _answer_concomitant(ctx: Context, state: FormState, text: str) -> bool:
    if _NONE.match(text) or read_yes_no(text) is YesNo.NO:
        return True  # none
    if read_yes_no(text) is YesNo.YES or not forms.check(SlotKind.TEXT, text, _today(ctx)):
        return False  # "有" without the names: ask for the list
    state.case.concomitant.append(mask(text.strip()))
    return True


def _answer_consent(ctx: Context, state: FormState, text: str) -> bool:
    # A click or the option's number while the menu shows; never the label words ("不同意"
    # holds "同意"): typed words go through the negation-aware reader.
    by_menu = ctx.message.click_id or text.strip().isdigit()
    values = _choice_values(ctx, "consent", YES_NO_CHOICES) if by_menu else []
    answer = YesNo(values[0]) if values else read_yes_no(text)
    if answer is YesNo.UNCLEAR:
        return False
    state.contact.consent_to_follow_up = answer is YesNo.YES
    return True


def _answer_contact(ctx: Context, state: FormState, text: str) -> bool:
    if not forms.check(SlotKind.CONTACT, text, _today(ctx)):
        return False
    state.contact.preferred_contact = text.strip()  # the separate contact record, not the case
    return True


ANSWERS: dict[str, Callable[[Context, FormState, str], bool]] = {
    "event": _answer_event,
    "patient": _answer_patient,
    "product": _answer_product,
    "onset": _answer_onset,
    "seriousness": _answer_seriousness,
    "outcome": _answer_outcome,
    "concomitant": _answer_concomitant,
    "consent": _answer_consent,
    "contact": _answer_contact,
}
# The example shown when a step is asked again.
REASK_KINDS: dict[str, SlotKind] = {
    "event": SlotKind.TEXT,
    "product": SlotKind.PRODUCT,
    "onset": SlotKind.WHEN,
    "contact": SlotKind.CONTACT,
}
YES_NO_STEPS = frozenset({"consent", "confirm"})
ANSWERED_ASIDE = "ae_form_answered_aside"
"""ctx.data key: a router before the form took this message as the answer to its own question
(the privacy notice's "同意" typed while the form asks for initials); the form then asks its
pending question again instead of reading the message as the answer."""


def takes_aside(form: ActiveForm | None) -> bool:
    """Whether the open form may leave an explicit yes/no to another question (the privacy
    notice) to it: the report form at a step that is not itself a yes/no question (there
    "同意" is the answer: PV may contact the doctor, the summary is confirmed)."""
    return form is not None and form.name == AE_FORM and form.step not in YES_NO_STEPS


def _reask_text(ctx: Context, step: str) -> str:
    if step in REASK_KINDS:
        return forms.reask_text(ctx, REASK_KINDS[step])
    return {
        "patient": ctx.t(
            "抱歉，没能识别。请提供姓名首字母、年龄或性别中的任意一项（例如：ZS，45岁，男）。",
            "Sorry, I could not read that. Initials, age or sex, any of them "
            "(e.g. 'JS, 45, male').",
        ),
        "concomitant": ctx.t(
            "请列出其他药物的名称（例如：阿司匹林、二甲双胍），没有请回复“无”。",
            "Please name the other medicines (e.g. 'aspirin, metformin'), or reply 'none'.",
        ),
        "consent": ctx.t(
            "请回复“同意”或“不同意”（也可以点选下方选项）。",
            "Please reply 'yes' or 'no' (or tap an option below).",
        ),
    }.get(step, ctx.t("请选择下方的一个选项（回复序号即可）。", "Please pick one option below."))


# -- the router ---------------------------------------------------------------------------------


def _in_form(ctx: Context) -> bool:
    form = ctx.conversation.form
    return form is not None and form.name == AE_FORM


def _doctor_in_bot_mode(ctx: Context) -> bool:
    return (
        ctx.message.sender_type is SenderType.EXTERNAL
        and ctx.has_conversation
        and ctx.conversation.mode is ConversationMode.BOT
    )


async def _load_state(ae: AEService, ctx: Context) -> FormState | None:
    form = ctx.conversation.form
    assert form is not None
    case_id = str(form.slots["case_id"])
    case = await ae.store.read(case_id, reader=READER, purpose="report form", at=ctx.now)
    if case is None or case.status is not CaseStatus.COLLECTING:
        return None
    contact = await ae.store.read_contact(
        case_id, reader=READER, purpose="report form", at=ctx.now
    ) or ReporterContact(case_id=case_id, doctor_id=case.doctor_id)
    return FormState(case, contact, form)


async def _ask_next(ae: AEService, ctx: Context, state: FormState) -> None:
    """Save everything, re-arm the idle timer, then queue the next question."""
    step = next(step for step in STEPS if _needed(step, state))
    state.form.step = step
    state.form.updated_at = state.case.updated_at = ctx.now
    await ae.store.save(state.case)
    await ae.store.save_contact(state.contact)
    await ae.schedule_idle(state.case)
    await ae.escalate_if_serious(state.case, ctx.now)
    ctx.reply(_question(ctx, step, state))


async def _finish(ae: AEService, ctx: Context, state: FormState, reason: SubmitReason) -> None:
    await ae.store.save_contact(state.contact)
    await ae.submit(state.case, reason)
    await ae.escalate_if_serious(state.case, ctx.now)
    restore_suspended_form(ctx.conversation.data, ctx)
    ctx.reply(submitted_text(ctx, state.case))


def restore_suspended_form(data: dict[str, object], ctx: Context) -> None:
    """Bring back a form the report interrupted (e.g. a meeting registration), if any."""
    suspended = data.pop("ae_suspended_form", None)
    ctx.conversation.form = ActiveForm.model_validate(suspended) if suspended else None


def submitted_text(ctx: Context, case: AECase) -> str:
    return ctx.t(
        f"已提交给药物警戒部门，病例编号 {case.case_id}。感谢您的报告！"
        "如有新的信息，可随时告诉我。",
        f"Submitted to pharmacovigilance, case reference {case.case_id}. Thank you for reporting! "
        "Tell me any time if you learn more.",
    )


def known_effect_question(ctx: Context, text: str) -> str:
    """The general question inside a report ("my patient got X on Y — is that known?"),
    rephrased without the patient so that it is answered like any literature question."""
    facts = extract(text)
    if not facts.products or not facts.events:
        return text
    product = facts.products[0]
    event = min(facts.events, key=len)
    return ctx.t(
        f"{event}是{product}已知的不良反应吗？",
        f"Is {event} a known adverse reaction of {product}?",
    )


def create_router(services: Services, priority: int) -> Router:
    """The report form (and the "report an adverse event" menu entry) for doctors in bot mode."""
    router = Router("adverse_events", priority)
    ae = ae_service(services)
    services.scheduler.register(IDLE_SCHEDULE, lambda item: submit_idle_form(ae, item))

    @router.message(_doctor_in_bot_mode, lambda ctx: ctx.message.click_id == REPORT_CLICK)
    async def start_from_menu(ctx: Context) -> HandlerResult:
        if _in_form(ctx):
            return UNHANDLED  # already reporting: the form handler repeats the question
        await open_case_from_menu(ae, ctx)
        return await continue_form(ctx)

    @router.message(_doctor_in_bot_mode, _in_form)
    async def continue_form(ctx: Context) -> HandlerResult:
        state = await _load_state(ae, ctx)
        if state is None:  # submitted meanwhile (idle timer, human takeover)
            restore_suspended_form(ctx.conversation.data, ctx)
            return UNHANDLED
        message = ctx.message
        if ctx.data.get("ae_opened") == state.case.case_id or message.click_id == REPORT_CLICK:
            _form_locale(ctx, state)  # the language the form runs in: the report's
            await _greet(ae, ctx, state)
            await _ask_next(ae, ctx, state)
            return None
        if ctx.data.get(ANSWERED_ASIDE):  # not an answer to this form: its question again
            ctx.conversation.locale = _form_locale(ctx, state)
            await _ask_next(ae, ctx, state)
            return None
        if message.click_id == HELP_CLICK:  # kf's "继续提问" invite under a form question:
            ctx.conversation.locale = _form_locale(ctx, state)  # the question again
            await _ask_next(ae, ctx, state)
            return None
        if message.kind is MessageKind.CLICK and not (message.click_id or "").startswith(
            ANSWER_CLICK
        ):
            await _finish(ae, ctx, state, SubmitReason.MENU)  # left for another menu entry
            return UNHANDLED
        if message.kind not in (MessageKind.TEXT, MessageKind.CLICK):
            return UNHANDLED
        text = message.text.strip()
        step = state.form.step or "confirm"
        form_locale = _form_locale(ctx, state)
        if await _another_report(ae, ctx, state, step, text):
            ctx.conversation.locale = form_locale
            await _ask_next(ae, ctx, state)
            return None
        typed = message.kind is MessageKind.TEXT
        answer = read_yes_no(text) if typed else YesNo.UNCLEAR
        if _STOP.match(text) and not (step == "consent" and answer is YesNo.NO):
            await _finish(ae, ctx, state, SubmitReason.STOPPED)
            return None
        reask = greeted = False
        if typed and _WITHDRAW.search(text):
            # "算了不报了", "never mind, don't report": never a step's value. What was reported
            # must reach PV (the case stays open, day 0 kept); said once, a second time stops
            # the questions and submits what we have.
            if state.form.slots.get("withdraw_told"):
                await _finish(ae, ctx, state, SubmitReason.STOPPED)
                return None
            state.form.slots["withdraw_told"] = True
            state.case.add_source(_note(ctx))
            ctx.reply(
                ctx.t(
                    "您已提到的不良事件信息依法必须转交药物警戒部门，这份报告会保留。"
                    "如不想继续回答，请回复“停止”，我们会提交已有的信息；如需补充或更正，直接告诉我即可。",
                    "An adverse event you have mentioned must be forwarded to pharmacovigilance by "
                    "law, so this report stays open. If you would rather stop the questions, reply "
                    "'stop' and we submit what we have; to add or correct something, just tell me.",
                )
            )
        elif step == "confirm":
            if message.kind is MessageKind.CLICK or answer is YesNo.YES:
                await _finish(ae, ctx, state, SubmitReason.CONFIRMED)
                return None
            if _asks_here(text) and _has_words(text) and not _corrects(text):  # a new question
                await _answer_aside(ctx, text)
            else:  # an addition or a correction before confirming: asked to confirm again
                state.case.add_source(_note(ctx))
                _correct_seriousness(state.case, text)
        elif typed and _IMPATIENT.search(text) and not _asks_about_the_product(text):
            ctx.reply(
                ctx.t(
                    "抱歉占用您的时间，只剩几个简短的问题。不清楚的回复“不知道”，"
                    "回复“停止”即可提交已有的信息。",
                    "Sorry for taking your time: only a few short questions are left. Reply "
                    "'don't know' to any of them, or 'stop' to submit what we have.",
                )
            )
        elif typed and _GREETING.match(text):
            greeted = True  # "hi" at the initials step: the step again, not a miss
        elif typed and _only_asks(ctx, step, text):
            # "喂奶的妈妈能吃这个药吗" at the initials step: never a step's answer.
            await _answer_aside(ctx, text)
        elif (
            typed
            and step not in YES_NO_STEPS  # there "不知道" is unclear: asked again once
            and _DONT_KNOW.search(text)
            and len(text) <= 20
        ):
            state.case.unknown.append(step)
            state.mark(step, Asked.DONT_KNOW)
        elif ANSWERS[step](ctx, state, text):
            state.mark(step)
            _add_stated_seriousness(state.case, text)  # "住了两天院" typed at the onset
        elif (
            typed
            and (_asks_here(text) or asks_without_telling(text, ()) or ctx.data.get(QUESTION_ONLY))
            and _has_words(text)  # "??" is no question: the step is asked again, with an example
        ):
            if not asks_without_telling(text, ()):  # "吃多了咋整" may tell of the patient
                state.case.add_source(_note(ctx))
            await _answer_aside(ctx, text)  # answered; the pending question follows
        elif forms.first_miss(state.form, step):
            reask = True
        else:  # asked twice: unknown, never a guess (a consent never becomes a yes)
            state.case.unknown.append(step)
            if typed and step not in ("consent", "contact"):
                state.case.add_source(_note(ctx))  # PV still reads the words
            state.mark(step, Asked.NO_ANSWER)
        ctx.conversation.locale = form_locale  # the form goes on in its own language
        if greeted:
            ctx.reply(
                ctx.t(
                    f"您好！我们正在完成不良事件报告（编号 {state.case.case_id}），"
                    "请回答下面的问题；回复“停止”可随时结束并提交。",
                    f"Hello! We are in the middle of the adverse-event report (reference "
                    f"{state.case.case_id}); please answer the question below, or reply 'stop' "
                    "to finish and submit now.",
                )
            )
        if reask:
            ctx.reply(_reask_text(ctx, step))
        await _ask_next(ae, ctx, state)
        return None

    return router


def _has_words(text: str) -> bool:
    return re.search(r"[A-Za-z\u4e00-\u9fff]", text) is not None


async def _answer_aside(ctx: Context, text: str) -> None:
    """Answer a question typed inside the form, without the answer's menu (MI request, verify,
    rep): the form's own question follows and takes the next message, so a menu would offer
    choices the doctor cannot make and make a digit typed next ambiguous. An answer that could
    not help does not count toward paging a sales rep ("not helped twice"): the doctor is
    reporting to PV, and the rep's card would carry words typed inside the report."""
    start = len(ctx.replies)
    await forms.answer_question(ctx, text)
    ctx.replies[start:] = _without_menus(ctx.replies[start:])
    ctx.conversation.unhelped_in_a_row = 0


_R = TypeVar("_R")


def _without_menus(replies: Iterable[_R]) -> list[_R]:
    return [reply for reply in replies if not isinstance(reply, MenuReply)]


def _form_locale(ctx: Context, state: FormState) -> Locale:
    """The language the form runs in, fixed on its first turn (the report's language): an
    answer or a question typed in another language ("AB 31 F", "what's noravex for") does not
    switch the questions that follow."""
    slots = state.form.slots
    if "locale" not in slots:
        slots["locale"] = str(ctx.locale.value)
    return Locale(slots["locale"])


def _asks_here(text: str) -> bool:
    """The message asks something: a question mark or word, a request, colloquial asking."""
    text = _without_denied_what(text)
    return forms.is_question(text) or asks(text) or bool(_ASKS_COLLOQUIALLY.search(text))


def _without_denied_what(text: str) -> str:
    """ "没有什么反应" denies, it does not ask: its "什么" is no question word."""
    return re.sub(r"没有?(?:什么|啥)", "没有", text)


# A correction typed at the summary, even as a question ("不对，没住院", "no, not hospitalised").
_CORRECTION = re.compile(
    r"^\s*(?:不对|不是|错了|说错了|更正|纠正|应该是|其实|no\b|not\b|actually|correction|sorry)",
    re.IGNORECASE,
)


def _asks_about_the_product(text: str) -> bool:
    """A question about the product itself, however impatient ("快点告诉我诺拉维的剂量")."""
    return bool(OWN_PRODUCT.search(text)) and asks_without_telling(text, ())


def _add_stated_seriousness(case: AECase, text: str) -> None:
    """A criterion an answer states in passing ("住了两天院" at the onset question) is added to
    the case's seriousness (read with its negation): recall first, the case is escalated."""
    known = case.seriousness or []
    stated = [flag for flag in extract_facts(text).seriousness if flag not in known]
    if stated:
        case.seriousness = [*known, *stated]


def _corrects(text: str) -> bool:
    return bool(_CORRECTION.match(text) or denied_seriousness(text))


def _correct_seriousness(case: AECase, text: str) -> None:
    """A correction typed at the summary ("不对，没住院", "he was not admitted") takes the denied
    criteria out of the case's seriousness; one that names a criterion adds it."""
    denied = {Seriousness(name) for name in denied_seriousness(text)}
    stated = extract_facts(text).seriousness
    if not (denied or stated) or (case.seriousness is None and not stated):
        return
    kept = [flag for flag in case.seriousness or [] if flag not in denied]
    case.seriousness = list(dict.fromkeys([*kept, *stated]))


def _only_asks(ctx: Context, step: str, text: str) -> bool:
    """A message screening flagged and found only asking, or one that asks in so many words
    and tells of nothing (``asks_without_telling``): answered before the step's answer is
    tried. A query without a question word is one when it names a question topic ("noravex
    max dose") at a step that expects no medicine; other unflagged queries ("ZS 45岁 女" reads
    like one) are tried as the answer first."""
    if step == "product" and _hedged_product(text):
        return False  # "可能是诺拉维？" answers the product question
    if ctx.data.get(QUESTION_ONLY):
        return True
    if not asks_without_telling(text, ()):
        return False
    return _asks_here(text) or (
        step not in ("product", "concomitant") and names_a_query_topic(text)
    )


# Steps whose answer has a shape the form can check (a menu choice, a time, a product): a
# report typed there is tried as the answer first ("住院了", "2 days after the dose went up").
_SHAPED_STEPS = frozenset({"seriousness", "outcome", "consent", "onset", "product"})


async def _another_report(
    ae: AEService, ctx: Context, state: FormState, step: str, text: str
) -> bool:
    """A report typed inside the form (screening added it to this case or opened a separate
    one). It is kept as a source of the case; when it also answers the pending question of a
    checkable shape (menu, time, product) it is that answer, otherwise the doctor is told it
    was added and the pending question is asked again. True when handled so."""
    separate = ctx.data.get(SEPARATE_CASE)
    added = ctx.data.get(ADDED_TO_OPEN_CASE) == state.case.case_id
    if separate:
        ctx.reply(
            ctx.t(
                f"您提到的另一位患者的情况已单独记录（编号 {separate}），会转交药物警戒部门。"
                f"我们先继续完成病例 {state.case.case_id} 的问题。",
                f"What you said about another patient is recorded as a separate case (reference "
                f"{separate}) and goes to pharmacovigilance. Let's finish case "
                f"{state.case.case_id} first.",
            )
        )
        return True
    if not added or step in ("event", "confirm"):
        return False  # the event's description, or an addition before confirming
    state.case.add_source(_note(ctx))
    if step in _SHAPED_STEPS and ANSWERS[step](ctx, state, text):
        state.mark(step)  # it answers the pending question: the form simply goes on
        return True
    ctx.reply(
        ctx.t(
            f"已把这条信息补充到正在报告的病例 {state.case.case_id}。如果说的是另一位患者，"
            "请告诉我“另一位患者：…”，我们会单独记录。",
            f"I have added this to the case being reported ({state.case.case_id}). If it is about "
            "another patient, tell me 'another patient: …' and it is recorded separately.",
        )
    )
    return True


def _note(ctx: Context) -> SourceMessage:
    message = ctx.message
    return SourceMessage(
        message_id=message.message_id,
        received_at=message.received_at,
        text=mask(message.text),
        language=str(ctx.locale.value),
        media=message.extra.get("media_ref"),
    )


async def _greet(ae: AEService, ctx: Context, state: FormState) -> None:
    """First turn of a report: thank, answer an accompanying question, explain stopping."""
    verdict = ctx.data.get("ae_verdict")
    if state.case.sources:
        ctx.reply(
            ctx.t(
                f"感谢告知。这属于需要报告的不良事件信息，已记录（编号 {state.case.case_id}），"
                "我们会转交药物警戒部门。",
                f"Thank you. This is adverse-event information we must report; it is recorded "
                f"(reference {state.case.case_id}) and goes to our pharmacovigilance team.",
            )
        )
    # None: the question was already answered (with the confirmation question).
    reported = ctx.data.get(QUESTION_TEXT, ctx.message.text)
    if isinstance(verdict, Verdict) and isinstance(reported, str):
        # The answer without its menu: the form's first question follows and takes the next
        # message (a "1" meant for the MI menu was stored as the patient's age).
        if verdict.is_known_effect_question:
            question = known_effect_question(ctx, reported)
            ctx.reply(*_without_menus(await ae.answer_known_effect_question(ctx, question)))
        elif asks_a_question(reported):
            # A report that also asks something ("… 这两个药能一起用吗？"): the case came
            # first, now the question is answered like any other.
            ctx.reply(*_without_menus(await ae.answer_known_effect_question(ctx, reported)))
    ctx.reply(
        ctx.t(
            "接下来问几个简短的问题，不清楚的回复“不知道”即可，随时回复“停止”结束。",
            "A few short questions follow; reply 'don't know' to any of them, or 'stop' at any "
            "time.",
        )
    )


async def open_case_from_menu(ae: AEService, ctx: Context) -> None:
    """The doctor chose "report an adverse event": day 0 is now; the form asks for the event."""
    message = ctx.message
    message_key = f"{message.channel.value}:{message.message_id}"
    case_id = await ae.store.case_for_message(message_key) or await ae.store.new_case_id(
        message.received_at, message_key
    )
    case = ae.blank_case(ctx, case_id, categories=["adverse_event"])
    await ae.store.save(case)
    await ae.store.save_contact(ReporterContact(case_id=case_id, doctor_id=case.doctor_id))
    await ae.schedule_sla(case)
    if ctx.conversation.form is not None:
        ctx.conversation.data["ae_suspended_form"] = ctx.conversation.form.model_dump(mode="json")
    ctx.conversation.form = ActiveForm(
        name=AE_FORM, slots={"case_id": case_id}, started_at=ctx.now, updated_at=ctx.now
    )
    ctx.data["ae_case"] = ctx.data["audit_ae_case"] = case_id


async def submit_idle_form(ae: AEService, item: ScheduledItem) -> None:
    """Scheduler handler: submit a form nobody touched for the idle time, flagged incomplete.

    Runs under the conversation's lock, so it never races an answer being handled.
    """
    storage = ae.services.storage
    conversation_key = str(item.payload.get("conversation_key", ""))
    async with storage.lock(f"lock:conv:{conversation_key}", timeout_s=60) as fence:
        case = await ae.store.read(item.item_id, reader="ae-idle", purpose="idle submit", at=ae.now)
        if case is None or case.status is not CaseStatus.COLLECTING:
            return
        await ae.submit(case, SubmitReason.IDLE)
        conversation = await load_conversation(storage, case.conversation_key)
        if conversation is None or conversation.form is None:
            return
        if conversation.form.slots.get("case_id") == case.case_id:
            suspended = conversation.data.pop("ae_suspended_form", None)
            conversation.form = ActiveForm.model_validate(suspended) if suspended else None
            ttl_s = ae.services.settings.conversation_ttl_s
            await save_conversation(storage, conversation, ttl_s, fence=fence)
