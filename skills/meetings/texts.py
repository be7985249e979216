"""Every message the meetings skill writes, Chinese and English side by side.

Kept in one module so that compliance can review the wording in one place and a test can scan
all of it for inducement words (tests/meetings/test_compliance.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.models import Locale


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def get(self, locale: Locale, **values: Any) -> str:
        template = self.zh if locale is Locale.ZH else self.en
        return template.format(**values)


# -- doctor: browsing -------------------------------------------------------------------------
LIST_HEAD = Text(
    "近期学术会议（按您的专业推荐）：", "Upcoming academic meetings (ranked for your specialty):"
)
LIST_HEAD_BY_DATE = Text(  # personalisation off or not agreed to (privacy/)
    "近期学术会议（按时间排序）：", "Upcoming academic meetings (by date):"
)
LIST_EMPTY = Text(
    "近期暂无可报名的学术会议。", "There are no upcoming academic meetings right now."
)
LIST_TAIL = Text(
    "时间为当地时间（{zones}）。选择会议查看详情与报名。",
    "Times are local ({zones}). Choose a meeting for details and registration.",
)
LIST_HEAD_TOPIC = Text("近期与“{topic}”相关的学术会议：", "Upcoming meetings on {topic}:")
LIST_NONE_ON_TOPIC = Text(
    "目前没有与“{topic}”相关的近期学术会议。", "There is no upcoming meeting on {topic} right now."
)
LIST_HEAD_OTHERS = Text("近期其他学术会议（按时间排序）：", "Other upcoming meetings (by date):")
OPTION_MINE = Text("我的报名", "My registrations")
OPTION_REGISTER = Text("报名参加", "Register")
OPTION_CANCEL = Text("取消报名", "Cancel registration")
OPTION_CALENDAR = Text("加入日历（.ics）", "Add to calendar (.ics)")
OPTION_BACK = Text("返回会议列表", "Back to the meeting list")
DETAILS = Text(
    "{title}\n时间：{when}\n形式：{format}\n{access}讲者：{speakers}\n简介：{summary}\n"
    "报名截止：{closes}\n名额：{seats}\n合规编号：{code}",
    "{title}\nWhen: {when}\nFormat: {format}\n{access}Speakers: {speakers}\nAbout: {summary}\n"
    "Registration closes: {closes}\nPlaces: {seats}\nCompliance code: {code}",
)
FORMAT_NAMES = {
    "online": Text("线上", "online"),
    "offline": Text("线下", "in person"),
    "hybrid": Text("线上 + 线下", "online and in person"),
}
ACCESS_ONLINE = Text("参会链接：{url}\n", "Join link: {url}\n")
ACCESS_OFFLINE = Text("地点：{location}\n", "Venue: {location}\n")
SEATS_LEFT = Text("剩余 {left} / {capacity}", "{left} of {capacity} left")
SEATS_FULL = Text(
    "已满，可报名候补（当前候补 {waiting} 人）",
    "full; you can join the waitlist ({waiting} waiting)",
)
STATUS_REGISTERED = Text("您已报名。", "You are registered.")
STATUS_WAITLISTED = Text(
    "您在候补名单第 {position} 位。", "You are number {position} on the waitlist."
)
STATUS_CLOSED = Text("报名已截止。", "Registration is closed.")
DETAILS_HEAD = Text("请选择：", "Please choose:")
UNKNOWN_MEETING = Text(
    "没有找到这个会议，可能已结束或已下线。",
    "That meeting was not found; it may have ended or been withdrawn.",
)
REGISTRATION_CLOSED = Text(
    "抱歉，“{title}”的报名已截止。", 'Sorry, registration for "{title}" is closed.'
)

# -- doctor: registration form ------------------------------------------------------------------
ASK_NAME = Text(
    "报名“{title}”：请输入您的姓名。", 'Registering for "{title}": please type your name.'
)
ASK_HOSPITAL = Text("请输入您所在的医院。", "Which hospital do you work at?")
ASK_DEPARTMENT = Text("请输入您所在的科室。", "Which department are you in?")
CONFIRM_HEAD = Text(
    "请确认报名信息：\n会议：{title}\n姓名：{name}\n医院：{hospital}\n科室：{department}",
    "Please confirm your registration:\nMeeting: {title}\nName: {name}\nHospital: {hospital}\n"
    "Department: {department}",
)
OPTION_CONFIRM = Text("确认报名", "Confirm")
OPTION_EDIT = Text("修改信息", "Change my details")
OPTION_ABORT = Text("暂不报名", "Not now")
CONFIRM_AGAIN = Text(
    "请点击“确认报名”、“修改信息”或“暂不报名”。",
    "Please choose Confirm, Change my details or Not now.",
)
EMPTY_ANSWER = Text("内容不能为空，请重新输入。", "That was empty; please type it again.")
FORM_ABORTED = Text("好的，已取消本次报名。", "All right, the registration was not submitted.")

# -- doctor: outcomes -------------------------------------------------------------------------
REGISTERED = Text(
    "报名成功：{title}\n时间：{when}\n{access}会前 24 小时和 1 小时会发送提醒。",
    "You are registered: {title}\nWhen: {when}\n{access}We will remind you 24 hours and 1 hour "
    "before the start.",
)
WAITLISTED = Text(
    "“{title}”名额已满，您已进入候补名单，第 {position} 位。有名额空出时会自动为您报名并通知您。",
    '"{title}" is full. You are on the waitlist, number {position}. If a place frees up you will '
    "be registered automatically and told.",
)
ALREADY_REGISTERED = Text("您已报名“{title}”。", 'You are already registered for "{title}".')
ALREADY_WAITLISTED = Text(
    "您已在“{title}”的候补名单中，第 {position} 位。",
    'You are already on the waitlist for "{title}", number {position}.',
)
CANCELLED = Text("已取消“{title}”的报名。", 'Your registration for "{title}" is cancelled.')
NOT_REGISTERED = Text("您没有报名“{title}”。", 'You are not registered for "{title}".')
MINE_HEAD = Text("您的会议报名：", "Your meeting registrations:")
MINE_EMPTY = Text("您目前没有会议报名。", "You have no meeting registrations.")
MINE_REGISTERED = Text("{title}（{when}）— 已报名", "{title} ({when}) — registered")
MINE_WAITLISTED = Text(
    "{title}（{when}）— 候补第 {position} 位", "{title} ({when}) — waitlist no. {position}"
)
CALENDAR_CAPTION = Text("日历文件：{title}", "Calendar file: {title}")

# -- proactive: promotion, reminders, follow-up, invitation -----------------------------------
PROMOTED = Text(
    "“{title}”有名额空出，您已从候补转为正式报名。\n时间：{when}\n{access}",
    'A place for "{title}" has freed up and you are now registered.\nWhen: {when}\n{access}',
)
REMINDER_DAY = Text(
    "会议提醒：“{title}”将于明天 {when} 开始。\n{access}",
    'Reminder: "{title}" starts tomorrow, {when}.\n{access}',
)
REMINDER_HOUR = Text(
    "会议提醒：“{title}”将于 1 小时后（{when}）开始。\n{access}",
    'Reminder: "{title}" starts in 1 hour ({when}).\n{access}',
)
FOLLOWUP = Text(
    "感谢您关注“{title}”。本次会议的经审批资料：\n{materials}",
    'Thank you for your interest in "{title}". Approved materials of the meeting:\n{materials}',
)
NO_MATERIALS = Text("（暂无）", "(none yet)")
FEEDBACK_HEAD = Text(
    "您对本次会议的评价如何？（1 = 很差，5 = 很好）",
    "How would you rate this meeting? (1 = poor, 5 = excellent)",
)
FEEDBACK_THANKS = Text("感谢您的评价（{score} 分）。", "Thank you for your rating ({score}).")
FEEDBACK_NOT_OPEN = Text("会议结束后才能评价。", "You can rate a meeting once it has ended.")
INVITATION = Text(
    "您好，您的医药代表邀请您参加学术会议：\n{title}\n时间：{when}\n{summary}",
    "Hello, your representative invites you to an academic meeting:\n{title}\nWhen: {when}\n"
    "{summary}",
)
OPTION_DETAILS = Text("查看详情", "Details")
FORWARD_TO_REP = Text(
    "【请转发】{doctor}（{hospital}）已超过 48 小时未在微信客服中发消息，机器人无法直接发送。"
    "请将以下内容转发给该医生：\n\n{text}",
    "[Please forward] {doctor} ({hospital}) has not written in WeChat Customer Service for over "
    "48 hours, so the bot cannot message them. Please forward this to the doctor:\n\n{text}",
)

# -- rep commands -----------------------------------------------------------------------------
REP_LIST_HEAD = Text("近期会议：", "Upcoming meetings:")
REP_LIST_LINE = Text(
    "{id} | {title} | {when} | 已报名 {seated}/{capacity}，候补 {waiting}",
    "{id} | {title} | {when} | registered {seated}/{capacity}, waitlist {waiting}",
)
REP_LIST_PROBLEMS = Text(
    "目录中有 {count} 条无效条目已跳过，请查看日志。",
    "{count} invalid catalog entries were skipped; see the logs.",
)
REP_INVITE_USAGE = Text(
    "用法：/invite 会议编号 医生ID [医生ID…]", "Usage: /invite MEETING DOCTOR_ID [DOCTOR_ID…]"
)
REP_ATTENDEES_USAGE = Text("用法：/attendees 会议编号", "Usage: /attendees MEETING")
REP_INVITED = Text("已发送邀请（{count}）：{doctors}", "Invitation sent ({count}): {doctors}")
REP_NOT_INVITED = Text("未能邀请：", "Could not invite:")
REP_UNKNOWN_MEETING = Text(
    "没有编号为 {id} 的会议。发送 /meetings 查看列表。",
    "No meeting {id}. Send /meetings for the list.",
)
REP_ATTENDEES_HEAD = Text(
    "{title}：已报名 {seated}/{capacity}，候补 {waiting}",
    "{title}: registered {seated}/{capacity}, waitlist {waiting}",
)
REP_ATTENDEE_LINE = Text(
    "{number}. {name}｜{hospital}｜{department}｜{status}",
    "{number}. {name} | {hospital} | {department} | {status}",
)
REP_CSV_CAPTION = Text("报名名单（CSV）", "Attendee list (CSV)")
REASONS = {
    "no_contact": Text(
        "从未通过微信客服联系过，无法发送", "has never written to the bot; cannot be messaged"
    ),
    "window_closed": Text(
        "超过 48 小时未发消息，请线下转发", "has not written for 48 h; please forward it yourself"
    ),
    "unknown_doctor": Text("找不到该医生", "no such doctor"),
    "already_registered": Text("已报名", "already registered"),
    "closed": Text("报名已截止", "registration is closed"),
}
STATUS_NAMES = {
    "registered": Text("已报名", "registered"),
    "waitlisted": Text("候补", "waitlisted"),
    "cancelled": Text("已取消", "cancelled"),
}
