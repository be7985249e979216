"""The PV side inside the bot: the card's acknowledge click, SLA alerts and delivery retries.

A PV member clicking "acknowledge" on a case card arrives as a CLICK from the app channel
(sender type member, click id ``ae:ack:<case id>``); the first click records who and when.
Only PV officers (role ``pv`` in the roster, or ``VREP_PV_USERS``) may: ``skills.roles``.
A case not acknowledged by its due time (24 h after day 0) alerts PV again, and keeps doing
so every ``pv_overdue_realert_min`` until acknowledged.
"""

from __future__ import annotations

from datetime import timedelta

from bot.dispatcher import Context, Router
from bot.i18n import local_time
from bot.models import Channel, MessageKind, SenderType
from bot.services import Services
from bot.storage.base import ScheduledItem
from skills.adverse_events.service import (
    ACK_CLICK_PREFIX,
    RETRY_SCHEDULE,
    SLA_SCHEDULE,
    AEService,
    ae_service,
    case_card,
)
from skills.roles.actions import Action, Subject, rep_action


def _is_ack_click(ctx: Context) -> bool:
    message = ctx.message
    return (
        message.channel is Channel.APP
        and message.sender_type is SenderType.MEMBER
        and message.kind is MessageKind.CLICK
        and (message.click_id or "").startswith(ACK_CLICK_PREFIX)
    )


async def _case_subject(ctx: Context) -> Subject:
    return Subject(target=f"case:{(ctx.message.click_id or '').removeprefix(ACK_CLICK_PREFIX)}")


def create_router(services: Services, priority: int) -> Router:
    router = Router("pv_acknowledge", priority)
    ae = ae_service(services)
    services.scheduler.register(SLA_SCHEDULE, lambda item: alert_if_overdue(ae, item))
    services.scheduler.register(RETRY_SCHEDULE, lambda item: ae.enqueue_delivery(item.item_id))

    @router.message(_is_ack_click, flags=rep_action(Action.PV_ACK, _case_subject))
    async def acknowledge(ctx: Context) -> None:
        case_id = (ctx.message.click_id or "").removeprefix(ACK_CLICK_PREFIX)
        member = ctx.message.sender_id
        if case_id not in await ae.store.case_ids():
            ctx.reply(ctx.t(f"未找到病例 {case_id}。", f"Case {case_id} not found."))
            return
        ack = await ae.store.acknowledge(case_id, member, ctx.now, via="wecom")
        ctx.data["audit_ae_ack"] = case_id
        at = local_time(ack.at, ctx.services.settings.timezone)
        ctx.reply(
            ctx.t(
                f"病例 {case_id} 已由 {ack.by} 于 {at} 确认收到。",
                f"Case {case_id} acknowledged by {ack.by} at {at}.",
            )
        )

    return router


async def alert_if_overdue(ae: AEService, item: ScheduledItem) -> None:
    """Scheduler handler at a case's due time: alert PV again unless acknowledged."""
    if await ae.store.ack_of(item.item_id) is not None:
        return
    case = await ae.store.read(item.item_id, reader="pv-sla", purpose="overdue alert", at=ae.now)
    if case is None:
        return
    await ae.alert_pv(
        f"逾期提醒：不良事件报告 {case.case_id} 已超过 {ae.services.settings.pv_sla_h} 小时未确认。"
        f" Overdue: case {case.case_id} is not acknowledged.",
        case_id=case.case_id,
        event="ae_case_overdue",
    )
    await ae.send_to_pv(case_card(case, ae.services.settings.timezone, overdue=True))
    realert = timedelta(minutes=ae.services.settings.pv_overdue_realert_min)
    await ae.services.storage.schedule(SLA_SCHEDULE, case.case_id, ae.now + realert)
