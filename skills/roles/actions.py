"""The rep-side actions a route may declare, and what the authorisation looks at.

Kept apart from ``policy`` (which reads the handoff skill's roster and records) so that the
skills' routers can declare their actions without importing the policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from bot.dispatcher import Context
from bot.profiles import DoctorProfile

if TYPE_CHECKING:
    from skills.handoff.state import Handoff

ACCESS_FLAG: Final = "rep_action"


class Action(StrEnum):
    HELP = "help"
    MEETINGS = "meetings"
    INVITE = "invite"
    ATTENDEES = "attendees"
    PROFILE = "profile"
    TAKEOVER = "takeover"
    RELEASE = "release"
    HANDOFF_ACCEPT = "handoff_accept"
    HANDOFF_DECLINE = "handoff_decline"
    VERIFY = "verify"
    PV_ACK = "pv_ack"


# What the refusal says the member may not do: "您没有权限…" / "You are not allowed to …".
ACTION_TEXT: Final[Mapping[Action, tuple[str, str]]] = {
    Action.HELP: ("使用代表助手", "use the rep assistant"),
    Action.MEETINGS: ("查看会议列表", "list the meetings"),
    Action.INVITE: ("邀请这些医生", "invite these doctors"),
    Action.ATTENDEES: ("查看该会议的参会名单", "see this meeting's attendees"),
    Action.PROFILE: ("查看该医生的资料", "see this doctor's profile"),
    Action.TAKEOVER: ("接管该医生的对话", "take over this doctor's conversation"),
    Action.RELEASE: ("交还该医生的对话", "release this doctor's conversation"),
    Action.HANDOFF_ACCEPT: ("接管该转人工请求", "take over this handoff"),
    Action.HANDOFF_DECLINE: ("拒绝该转人工请求", "decline this handoff"),
    Action.VERIFY: ("确认该医生的身份", "verify this doctor"),
    Action.PV_ACK: (
        "确认不良事件病例（仅限药物警戒人员）",
        "acknowledge PV cases (PV officers only)",
    ),
}


@dataclass(frozen=True)
class Subject:
    """What an action is about, as far as the authorisation needs to know.

    ``doctors``: the known doctors the action names; ``handoff``: the handoff a card is about;
    ``offered``: members a pending HCP verification request was offered to; ``target``: a
    short label for the audit ("doctor:wm123", "handoff:ab12", "meeting:M1").
    """

    target: str = ""
    doctors: tuple[DoctorProfile, ...] = ()
    handoff: Handoff | None = None
    offered: tuple[str, ...] = ()


SubjectResolver = Callable[[Context], Awaitable[Subject]]


@dataclass(frozen=True)
class RepAction:
    """A route's flag: the action its handler performs and how to find what it is about."""

    action: Action
    subject: SubjectResolver | None = None


def rep_action(action: Action, subject: SubjectResolver | None = None) -> dict[str, Any]:
    """``flags`` for a rep-side route: ``router.message(filter, flags=rep_action(...))``."""
    return {ACCESS_FLAG: RepAction(action, subject)}
