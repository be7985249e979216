"""An export as the doctor reads it: a short summary in chat and a readable text file."""

from __future__ import annotations

from typing import Any

from bot.i18n import counted, noun, pick
from bot.models import FileReply, Locale, Reply, TextReply
from privacy.service import Erasure, Export

SECTION_TITLES: dict[str, tuple[str, str]] = {
    "profile": ("资料与兴趣画像", "Details and interest profile"),
    "meeting_registrations": ("会议报名", "Meeting registrations"),
    "mi_requests": ("医学信息请求", "Medical-information requests"),
    "conversations": ("对话状态", "Conversation state"),
    "handoffs": ("转人工记录", "Hand-overs to a colleague"),
    "transcripts": ("消息记录", "Message records"),
    "consent_history": ("同意记录", "Consent history"),
    "adverse_event_reports": ("不良事件报告（依法保留）", "Adverse-event reports (kept by law)"),
    "system_of_record": (
        "系统记录（同意、会议报名、医学信息请求、资格认证）",
        "System of record (consents, registrations, MI requests, HCP verification)",
    ),
}


def _title(name: str, locale: Locale) -> str:
    zh, en = SECTION_TITLES.get(name, (name, name))
    return pick(locale, zh, en)


def summary(export: Export, locale: Locale) -> str:
    counts = export.counts()
    lines = [pick(locale, "您的数据概要：", "Your data in summary:")]
    colon = pick(locale, "：", ": ")
    lines += [f"· {_title(name, locale)}{colon}{count}" for name, count in counts.items()]
    lines.append(
        pick(
            locale,
            "完整导出见下方两个文件（JSON 和可读文本）。",
            "The full export is in the two files below (JSON and readable text).",
        )
    )
    return "\n".join(lines)


def _lines(value: Any, indent: str = "  ") -> list[str]:
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{indent}{key}:")
                out += _lines(item, indent + "  ")
            else:
                out.append(f"{indent}{key}: {item if item not in (None, {}, []) else '—'}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict | list):
                out.append(f"{indent}-")
                out += _lines(item, indent + "  ")
            else:
                out.append(f"{indent}- {item}")
        return out
    return [f"{indent}{value}"]


def readable(export: Export, locale: Locale) -> str:
    lines = [
        pick(locale, "个人数据导出", "Personal data export"),
        f"{pick(locale, '医生', 'Doctor')}: {export.doctor_id}",
        f"{pick(locale, '导出时间', 'Exported at')}: {export.exported_at.isoformat()}",
    ]
    for name, value in export.sections.items():
        lines += ["", f"== {_title(name, locale)} ==", *(_lines(value) if value else ["  —"])]
    return "\n".join(lines) + "\n"


def export_replies(export: Export, locale: Locale) -> tuple[Reply, ...]:
    stamp = export.exported_at.strftime("%Y%m%d-%H%M%S")
    return (
        TextReply(text=summary(export, locale)),
        FileReply(
            filename=f"my-data-{stamp}.json",
            content=export.to_json(),
        ),  # no captions: on kf each is one more message of the five WeCom allows per turn
        FileReply(
            filename=f"my-data-{stamp}.txt",
            content=readable(export, locale).encode(),
        ),
    )


def erasure_report(erasure: Erasure, locale: Locale) -> str:
    if erasure.refused:
        return pick(
            locale,
            "同事正在为您服务，服务期间无法删除您的数据；您的数据未被删除。"
            "服务结束后，请再次回复“删除我的数据”。",
            "A colleague is serving you right now, so your data cannot be deleted meanwhile; "
            "nothing was deleted. Once the conversation is handed back, send “delete my data” "
            "again.",
        )
    removed = sum(count for name, count in erasure.removed.items() if name != "transcripts")
    lines = [
        pick(
            locale,
            f"已删除您的数据（{removed} 项）：资料与兴趣画像、会议报名、医学信息请求、对话状态、"
            "转人工记录。",
            f"Your data is deleted ({counted(removed, 'item')}): details and interest profile, "
            "meeting registrations, medical-information requests, conversation state, hand-overs "
            "to a colleague.",
        )
    ]
    kept = erasure.retained.get("transcripts", 0)  # an AE report's messages
    if redacted := erasure.removed.get("transcripts", 0):
        lines.append(
            pick(
                locale,
                f"您的 {redacted} 条消息记录已从审计记录中抹去"
                "（只留下校验值，用于证明审计记录完整）"
                + (f"；与不良事件报告有关的 {kept} 条消息依法保留。" if kept else "。"),
                f"{redacted} of your messages {noun(redacted, 'was', 'were')} blanked in the audit "
                "trail (only a checksum "
                "stays, to prove the trail is complete)"
                + (
                    f"; {counted(kept, 'message')} that {noun(kept, 'is', 'are')} part of an "
                    f"adverse-event report {noun(kept, 'is', 'are')} kept by law."
                    if kept
                    else "."
                ),
            )
        )
    cases = erasure.retained.get("adverse_event_reports", 0)
    lines.append(
        pick(
            locale,
            f"依法保留：您报告的不良事件（{cases} 例）及其审计记录由药物警戒部门依法保存，"
            "不能删除；您的同意记录和本次删除记录作为合规证明保留。",
            f"Kept by law: the adverse events you reported ({cases}) and their audit records "
            "stay with pharmacovigilance and cannot be deleted; your consent history and the "
            "record of this deletion are kept as proof of compliance.",
        )
    )
    if erasure.manual:
        lines.append(
            pick(
                locale,
                "您的消息在审计记录中的副本（已遮蔽身份信息）无法自动删除，"
                + (
                    "已转交数据保护负责人处理。"
                    if erasure.routed_to
                    else "已记录待数据保护负责人处理。"
                ),
                "Copies of your messages in the audit trail (identifiers masked) cannot be "
                "deleted automatically; "
                + (
                    "they have been passed to our data-protection officer."
                    if erasure.routed_to
                    else "this is recorded for our data-protection officer."
                ),
            )
        )
    return "\n".join(lines)
