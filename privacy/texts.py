"""What the doctor reads: the privacy notice and the answers to their requests (zh and en)."""

from __future__ import annotations

from bot.i18n import counted, pick
from bot.models import Locale, MenuOption, MenuReply, Reply, TextReply
from bot.settings import Settings
from skills.meetings.registrations import REGISTRATION_TTL_S

AGREE_CLICK = "privacy:agree"
LATER_CLICK = "privacy:later"
ERASE_YES_CLICK = "privacy:erase:yes"
ERASE_NO_CLICK = "privacy:erase:no"

_DAY = 24 * 3600


def _period(seconds: int, locale: Locale) -> str:
    """A retention period as people say it: whole years when it is some, else days."""
    days = seconds // _DAY
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return pick(locale, f"{years} 年", counted(years, "year"))
    return pick(locale, f"{days} 天", counted(days, "day"))


def controller_name(settings: Settings, locale: Locale) -> str:
    """The controller as the notice names it in ``locale``: each language reads in its own
    words (the bilingual default "本公司 (the company)" showed both in either notice)."""
    name = settings.privacy_controller
    if locale is Locale.EN and settings.privacy_controller_en:
        name = settings.privacy_controller_en
    return (name or pick(locale, "本公司", "the company")).rstrip("。.")


def notice(settings: Settings, locale: Locale) -> tuple[Reply, ...]:
    """The notice (controller, what is recorded, AEs to PV by law, retention, rights, the
    policy and its version) and the agree / not-now menu."""
    url = settings.privacy_policy_url
    controller = controller_name(settings, locale)
    version = settings.privacy_notice_version
    conversation = _period(settings.conversation_ttl_s, locale)
    profile = _period(settings.retention_profile_days * _DAY, locale)
    transcript = _period(settings.retention_transcript_days * _DAY, locale)
    registration = _period(REGISTRATION_TTL_S, locale)
    text = pick(
        locale,
        f"【个人信息告知】（版本 {version}）\n"
        f"个人信息处理者：{controller}。\n"
        "我们记录：您发送的消息和对话记录、您提供的资料（姓名、医院、科室）、会议报名、"
        "医学信息请求，以及根据您的提问形成的兴趣画像（用于推荐会议）。\n"
        "不良事件：依据法律，您报告的不良事件及您提供的报告人信息必须转交药物警戒部门；"
        "这不需要您的同意，删除数据时也依法保留。\n"
        f"保存期限：对话状态 {conversation}，消息记录 {transcript}，资料与兴趣画像 {profile}，"
        f"会议报名 {registration}；不良事件报告按药物警戒法规保存。\n"
        "您的权利：随时发送“查看我的数据”“更正我的数据”“删除我的数据”“撤回同意”“关闭个性化推荐”。"
        + (f"\n完整隐私政策：{url}" if url else ""),
        f"[Privacy notice] (version {version})\n"
        f"Controller: {controller}.\n"
        "We record: the messages you send and our conversation, the details you give (name, "
        "hospital, department), meeting registrations, medical-information requests, and an "
        "interest profile built from your questions (to recommend meetings).\n"
        "Adverse events: by law, an adverse event you report, with the reporter details you "
        "give, must be forwarded to pharmacovigilance; this needs no consent and is kept when "
        "you delete your data.\n"
        f"Retention: conversation state {conversation}, message transcripts {transcript}, "
        f"details and interest profile "
        f"{profile}, meeting registrations {registration}; adverse-event reports as "
        "pharmacovigilance law requires.\n"
        "Your rights: send 'my data', 'correct my data', 'delete my data', 'withdraw "
        "consent' or 'stop personalisation' at any time."
        + (f"\nFull privacy policy: {url}" if url else ""),
    )
    menu = MenuReply(  # answered in words or by a tap: a typed digit is the main menu's
        head=pick(
            locale,
            "您是否同意我们按上述方式处理您的个人信息？请回复“同意”或“暂不同意”"
            "（不同意也可以继续咨询）。",
            "Do you agree to this processing of your personal information? Reply 'agree' or "
            "'not now' (you can keep asking questions either way).",
        ),
        options=(
            MenuOption(id=AGREE_CLICK, label=pick(locale, "同意", "Agree")),
            MenuOption(id=LATER_CLICK, label=pick(locale, "暂不同意", "Not now")),
        ),
        numbered=False,
    )
    return TextReply(text=text), menu


def agreed(locale: Locale) -> str:
    return pick(
        locale,
        "谢谢，已记录您的同意。随时可发送“撤回同意”或“关闭个性化推荐”。",
        "Thank you, your consent is recorded. Send 'withdraw consent' or "
        "'stop personalisation' at any time.",
    )


def declined(locale: Locale) -> str:
    return pick(
        locale,
        "好的，已记录您暂不同意。您仍可咨询经审批的产品信息；我们不会为您建立兴趣画像，"
        "也不会主动发送消息。您报告的不良事件仍会依法转交药物警戒部门。"
        "改变主意时回复“同意”即可（发送“隐私政策”可再看告知）。",
        "All right, recorded that you do not agree for now. You can still ask about approved "
        "product information; we build no interest profile and send you no unsolicited "
        "messages. Adverse events you report are still forwarded to pharmacovigilance by law. "
        "Reply 'I agree' if you change your mind (send 'privacy' to read the notice again).",
    )


def withdrawn(locale: Locale, had_agreed: bool) -> str:
    """The withdrawal's answer; a doctor who had no consent in force is told so (recorded
    all the same: the history shows the doctor's wish)."""
    if not had_agreed:
        return pick(
            locale,
            "您目前没有有效的同意，已记录您的撤回：不会为您建立兴趣画像，也不会主动发送消息。"
            "如需删除其他数据，请发送“删除我的数据”。",
            "You have no consent in force; your withdrawal is recorded: no interest profile is "
            "built and no unsolicited messages are sent. To delete your other data, send "
            "'delete my data'.",
        )
    return pick(
        locale,
        "已撤回您的同意：兴趣画像已清除，不再建立，也不再主动发送消息。"
        "如需删除其他数据，请发送“删除我的数据”。",
        "Your consent is withdrawn: your interest profile is cleared and no longer built, and "
        "no unsolicited messages will be sent. To delete your other data, send "
        "'delete my data'.",
    )


def personalisation_off(locale: Locale) -> str:
    return pick(
        locale,
        "已关闭个性化推荐：您的兴趣画像已清除且不再建立，会议列表按时间排序。"
        "发送“开启个性化推荐”可重新开启。",
        "Personalisation is off: your interest profile is cleared and no longer built, and "
        "meeting lists are in date order. Send 'start personalisation' to turn it back on.",
    )


def personalisation_on(locale: Locale, consented: bool) -> str:
    if consented:
        return pick(
            locale,
            "已开启个性化推荐。",
            "Personalisation is on.",
        )
    return pick(
        locale,
        "已记录。个性化推荐需要您先同意隐私告知，发送“隐私政策”查看。",
        "Noted. Personalisation also needs your agreement to the privacy notice; send "
        "'privacy' to see it.",
    )


def ae_before_consent(locale: Locale) -> str:
    return pick(
        locale,
        "（说明：您尚未同意隐私告知，但依据法律，不良事件报告及您提供的报告人信息"
        "必须转交药物警戒部门。）",
        "(Note: you have not agreed to the privacy notice, but by law an adverse-event report, "
        "with the reporter details you give, must be forwarded to pharmacovigilance.)",
    )


def erase_confirmation(locale: Locale) -> MenuReply:
    return MenuReply(
        head=pick(
            locale,
            "确认删除您的数据？将删除：您的资料与兴趣画像、会议报名（已占名额将释放）、"
            "医学信息请求、对话记录。依法保留：您报告的不良事件及其审计记录（药物警戒）。"
            "删除后无法恢复。",
            "Delete your data? This deletes your details and interest profile, meeting "
            "registrations (seats are given up), medical-information requests and conversation "
            "records. Kept by law: adverse events you reported and their audit records "
            "(pharmacovigilance). This cannot be undone.",
        ),
        options=(
            MenuOption(id=ERASE_YES_CLICK, label=pick(locale, "确认删除", "Yes, delete")),
            MenuOption(id=ERASE_NO_CLICK, label=pick(locale, "取消", "Cancel")),
        ),
        tail=pick(locale, "也可以回复“确认”或“取消”。", "You can also reply 'yes' or 'no'."),
    )


def erase_cancelled(locale: Locale) -> str:
    return pick(locale, "已取消，您的数据未被删除。", "Cancelled; nothing was deleted.")


def erase_unclear(locale: Locale) -> str:
    return pick(
        locale,
        "请回复“确认删除”或“取消”。",
        "Please reply 'yes, delete' or 'cancel'.",
    )


def correction_routed(locale: Locale, routed: bool) -> str:
    if routed:
        return pick(
            locale,
            "已转交数据保护负责人，他们会与您联系更正。您也可以直接发送需要更正的内容。",
            "Passed to our data-protection officer, who will contact you to correct it. You can "
            "also send what needs correcting.",
        )
    return pick(
        locale,
        "已记录您的更正请求，数据保护负责人会处理。",
        "Your correction request is recorded for our data-protection officer.",
    )


def welcome_notice(settings: Settings, *, with_url: bool) -> str:
    """The notice in short, both languages, for the kf welcome (one menu message whose head
    WeCom caps at 1024 bytes); "隐私政策" / "privacy" brings the whole notice."""
    controller, controller_en = (
        controller_name(settings, Locale.ZH),
        controller_name(settings, Locale.EN),
    )
    version = settings.privacy_notice_version
    url = settings.privacy_policy_url
    return (
        f"【个人信息告知】（版本 {version}）{controller}记录您的消息、资料、会议报名和"
        "医学信息请求，"
        "并据您的提问形成兴趣画像（用于推荐会议）；您报告的不良事件依法转交药物警戒部门，无需同意。"
        "发送“隐私政策”查看完整告知（保存期限、您的权利）。\n"
        f"[Privacy notice, version {version}] {controller_en} records your messages, details, "
        "meeting registrations and medical-information requests, and builds an interest "
        "profile from your questions (for meeting recommendations); adverse events you report "
        "go to pharmacovigilance by law, without consent. Send 'privacy' for the full notice "
        "(retention, your rights)."
        + (f"\n隐私政策 / Privacy policy: {url}" if url and with_url else "")
    )


WELCOME_TAIL = (
    "同意上述处理请点“同意”；不同意也可以继续咨询：直接输入您的问题，或发送“菜单”查看全部功能。\n"
    "Tap 'Agree' to consent; you can ask questions either way: just type your question, or "
    "send 'menu' to see everything I can do."
)
WELCOME_OPTIONS = (
    MenuOption(id=AGREE_CLICK, label="同意 / Agree"),
    MenuOption(id=LATER_CLICK, label="暂不同意 / Not now"),
)
