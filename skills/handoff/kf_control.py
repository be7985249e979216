"""Moving a kf session between the bot and a human servicer (kf/service_state/trans).

States: 1 bot, 2 queue pool, 3 a named human servicer, 4 ended. Take-over moves the session to
3 with the rep as servicer; hand-back ends it (3 → 4 is the only way back WeCom allows; the
doctor's next message opens a new session that the bot answers).

WeCom refuses a take-over when the rep is not an active servicer of the kf account (95014) or
the session cannot change state (95016); ``TransferRefused`` carries what the rep should do.
"""

from __future__ import annotations

from typing import Protocol

from bot.i18n import pick
from bot.models import Locale
from bot.wecom.client import WeComApiError, WeComClient

STATE_HUMAN = 3
STATE_ENDED = 4

SERVICER_NOT_ACTIVE = 95014
INVALID_TRANSITION = 95016
WRONG_STATE = 95018
IP_NOT_ALLOWED = 60020


class TransferRefused(Exception):
    """WeCom did not move the session; ``advice`` tells the rep what to do about it."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"kf service_state/trans refused: {errcode} {errmsg}".strip())
        self.errcode = errcode

    def advice(self, locale: Locale = Locale.ZH) -> str:
        if self.errcode == SERVICER_NOT_ACTIVE:
            return pick(
                locale,
                "接管失败（95014）：您还不是该微信客服账号的“接待中”人员。请在企业微信 → 工作台 → "
                "微信客服 中确认管理员已把您加为接待人员，并把接待状态设为“接待中”，然后再点一次"
                "“接管”或发送 /takeover 医生ID。",
                "Take-over failed (95014): you are not an active servicer of this WeChat "
                "Customer Service account. In WeCom → Workbench → WeChat Customer Service, check "
                "that an admin added you as a servicer and set your status to 'receiving', then "
                "tap 'Take over' again or send /takeover DOCTOR.",
            )
        if self.errcode in (INVALID_TRANSITION, WRONG_STATE):
            return pick(
                locale,
                f"接管失败（{self.errcode}）：该会话已结束或已由其他接待人员接待。"
                "请等医生再次发消息后发送 /takeover 医生ID。",
                f"Take-over failed ({self.errcode}): the session has ended or another servicer "
                "has it. Send /takeover DOCTOR after the doctor writes again.",
            )
        if self.errcode == IP_NOT_ALLOWED:
            return pick(
                locale,
                "接管失败（60020）：服务器 IP 不在应用的可信 IP 列表中，请联系管理员。",
                "Take-over failed (60020): the server IP is not trusted by the app; "
                "contact your administrator.",
            )
        return pick(
            locale,
            f"接管失败（错误码 {self.errcode}）：请稍后重试；若持续失败请联系管理员。",
            f"Take-over failed (error {self.errcode}): try again shortly; contact your "
            "administrator if it keeps failing.",
        )


class KfControl(Protocol):
    """The session moves handoff needs; raises ``TransferRefused`` when WeCom says no.

    ``check_servicer`` asks before the doctor is told anything: once the session is with a
    human (state 3) the bot may no longer message the doctor (95018), so the notice has to go
    first, and it must not promise a rep WeCom will refuse.
    """

    async def check_servicer(self, open_kfid: str, servicer: str) -> None: ...

    async def hand_to_servicer(
        self, open_kfid: str, external_userid: str, servicer: str
    ) -> None: ...

    async def end_session(self, open_kfid: str, external_userid: str) -> None: ...


class WeComKfControl:
    """``KfControl`` over the WeCom API client."""

    def __init__(self, client: WeComClient) -> None:
        self._client = client

    async def _trans(self, open_kfid: str, userid: str, state: int, servicer: str = "") -> None:
        try:
            await self._client.kf_trans_service_state(open_kfid, userid, state, servicer)
        except WeComApiError as exc:  # 95014 arrives as KfServicerNotActiveError, a subclass
            raise TransferRefused(exc.errcode, exc.errmsg) from exc

    async def check_servicer(self, open_kfid: str, servicer: str) -> None:
        """Refuse (95014) a rep listed as not receiving, or missing from a list without
        departments (a department entry may include them: WeCom then decides at the move)."""
        try:
            entries = await self._client.kf_servicers(open_kfid)
        except WeComApiError as exc:
            raise TransferRefused(exc.errcode, exc.errmsg) from exc
        status = {str(e["userid"]): e.get("status") for e in entries if e.get("userid")}
        has_departments = any(entry.get("department_id") for entry in entries)
        if servicer in status:
            if status[servicer] != 0:
                raise TransferRefused(SERVICER_NOT_ACTIVE, "servicer is not receiving")
        elif not has_departments:
            raise TransferRefused(SERVICER_NOT_ACTIVE, "not a servicer of this kf account")

    async def hand_to_servicer(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        await self._trans(open_kfid, external_userid, STATE_HUMAN, servicer)

    async def end_session(self, open_kfid: str, external_userid: str) -> None:
        await self._trans(open_kfid, external_userid, STATE_ENDED)
