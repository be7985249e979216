"""kf and app senders and the API client against the fake WeCom API, over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.metrics import Metrics
from bot.models import (
    CardButton,
    CardReply,
    Channel,
    FileReply,
    LinkReply,
    MenuOption,
    MenuReply,
    OutboundMessage,
    Reply,
    TextReply,
)
from bot.outbound import utf8_len
from bot.outbox import OUTBOX_DEAD_QUEUE, outbox_key
from bot.storage.memory import MemoryStorage
from bot.wecom.client import KfWrongStateError, WeComApiError, WeComClient
from bot.wecom.senders import (
    MORE_CLICK_ID,
    AppSender,
    KfSender,
    KfUnit,
    default_invite,
    fit_budget,
    kf_budget_key,
    kf_state_key,
)
from tests.wecom_harness import AGENT_ID, CORP_ID, OPEN_KFID, SECRET, Stack, wecom_stack

DOCTOR = "wmDOCTOR0002"
CONVERSATION = f"kf:{OPEN_KFID}:{DOCTOR}"


def kf_reply(*replies: Reply, in_reply_to: str = "msg-1") -> OutboundMessage:
    return OutboundMessage(
        channel=Channel.KF,
        conversation_key=CONVERSATION,
        recipient_id=DOCTOR,
        replies=replies,
        in_reply_to=in_reply_to,
        extra={"open_kfid": OPEN_KFID, "external_userid": DOCTOR},
    )


def kf_sender(stack: Stack) -> KfSender:
    replica = stack.replicas[0]
    return KfSender(replica.client, stack.storage, replica.metrics)


def doctor_wrote(stack: Stack) -> None:
    stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "你好")


async def test_state_0_is_moved_to_1_before_sending() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        await kf_sender(stack).send(kf_reply(TextReply(text="您好，有什么可以帮您？")))
        paths = [c.path.removeprefix("/cgi-bin/") for c in stack.api.calls if "kf/" in c.path]
        assert paths == ["kf/service_state/get", "kf/service_state/trans", "kf/send_msg"]
        assert stack.api.kf_state(OPEN_KFID, DOCTOR) == 1
        assert stack.api.kf_sent[0]["text"]["content"] == "您好，有什么可以帮您？"
        stored = await stack.storage.get_json(kf_state_key(CONVERSATION))
        assert stored["service_state"] == 1


@pytest.mark.parametrize("state", [2, 3, 4])
async def test_nothing_is_sent_while_the_session_is_not_the_bots(state: int) -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        stack.api.set_kf_state(OPEN_KFID, DOCTOR, state, "rep_zhang" if state == 3 else "")
        await kf_sender(stack).send(kf_reply(TextReply(text="hello")))
        assert stack.api.calls_to("kf/send_msg") == []
        assert stack.api.calls_to("kf/service_state/trans") == []
        stored = await stack.storage.get_json(kf_state_key(CONVERSATION))
        assert stored["service_state"] == state


async def test_wrong_state_at_send_time_is_absorbed() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        stack.api.fail_next("kf/send_msg", 95018)
        await kf_sender(stack).send(kf_reply(TextReply(text="hello"), TextReply(text="again")))
        assert [c.errcode for c in stack.api.calls_to("kf/send_msg")] == [95018]
        assert stack.replicas[0].metrics.events.labels("kf_send_wrong_state")._value.get() == 1


async def test_long_text_is_split_with_stable_msgids() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        sender = kf_sender(stack)
        long_text = "。".join(["这是一段较长的产品说明"] * 300)
        message = kf_reply(TextReply(text=long_text))
        await sender.send(message)
        sent = list(stack.api.kf_sent)
        assert 2 <= len(sent) <= 5
        assert all(utf8_len(m["text"]["content"]) <= 2048 for m in sent if m["msgtype"] == "text")
        msgids = [m["msgid"] for m in sent]
        assert len(set(msgids)) == len(msgids) and all(len(i) <= 32 for i in msgids)
        # Redelivery of the same reply: same msgids, nothing delivered twice.
        await stack.storage.delete(kf_budget_key(CONVERSATION))
        await sender.send(message)
        assert [m["msgid"] for m in stack.api.kf_sent] == msgids


async def test_budget_is_respected_and_ends_with_an_invitation() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        sender = kf_sender(stack)
        replies = [TextReply(text=f"第{i}条：" + "内容" * 500) for i in range(8)]
        await sender.send(kf_reply(*replies))
        sent = stack.api.kf_sent
        assert len(sent) == 5 and all(c.errcode == 0 for c in stack.api.calls_to("kf/send_msg"))
        assert sent[-1]["msgtype"] == "msgmenu"
        ids = [item["click"]["id"] for item in sent[-1]["msgmenu"]["list"]]
        assert MORE_CLICK_ID in ids
        # Budget spent: the next reply is not attempted; it waits behind the held-back rest.
        await sender.send(kf_reply(TextReply(text="more?"), in_reply_to="msg-2"))
        assert len(stack.api.calls_to("kf/send_msg")) == 5
        [held, waiting] = await sender.outbox.pending(CONVERSATION)
        assert held.data["units"] and waiting.id == "msg-2"
        # The doctor taps "show the rest": the budget renews and the rest is sent.
        doctor_wrote(stack)
        await stack.storage.delete(kf_budget_key(CONVERSATION))
        assert await sender.send_more(CONVERSATION, OPEN_KFID, DOCTOR)
        assert len(stack.api.kf_sent) > 5
        assert all(c.errcode == 0 for c in stack.api.calls_to("kf/send_msg"))
        while await sender.send_more(CONVERSATION, OPEN_KFID, DOCTOR):  # tap after tap
            doctor_wrote(stack)
            await stack.storage.delete(kf_budget_key(CONVERSATION))
        assert await sender.outbox.pending(CONVERSATION) == []
        texts = [
            m.get("text", {}).get("content") or m.get("msgmenu", {}).get("head_content", "")
            for m in stack.api.kf_sent
        ]
        assert texts[-1].startswith("more?")  # the later reply only after all the rest
        everything = "".join(texts)
        starts = [everything.find(f"第{i}条") for i in range(8)]
        assert -1 not in starts and starts == sorted(starts)  # all of it, in order


ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


async def test_file_reply_is_uploaded_and_sent_after_its_caption() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        invitation = FileReply(filename="meeting.ics", content=ICS, caption="会议邀请 / Invitation")
        await kf_sender(stack).send(kf_reply(TextReply(text="已为您报名。"), invitation))
        [upload] = stack.api.calls_to("media/upload")
        assert upload.query["type"] == "file"
        assert upload.body == {"media": {"filename": "meeting.ics", "content": ICS}}
        media_id = upload.answer["media_id"]
        assert stack.api.media[media_id] == ("meeting.ics", ICS)
        sent = stack.api.kf_sent
        assert [m["msgtype"] for m in sent] == ["text", "text", "file"]
        assert sent[1]["text"]["content"] == "会议邀请 / Invitation"
        assert sent[2]["file"] == {"media_id": media_id}
        assert await stack.storage.get_counter(kf_budget_key(CONVERSATION)) == 3


async def test_failed_upload_sends_the_caption_instead() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        stack.api.fail_next("media/upload", 40006)
        invitation = FileReply(filename="meeting.ics", content=ICS, caption="会议邀请 / Invitation")
        await kf_sender(stack).send(kf_reply(invitation))
        assert [c.errcode for c in stack.api.calls_to("media/upload")] == [40006]
        assert [m["text"]["content"] for m in stack.api.kf_sent] == ["会议邀请 / Invitation"]
        assert stack.replicas[0].metrics.errors.labels("kf_upload")._value.get() == 1


async def test_file_held_back_by_the_budget_is_sent_with_the_rest() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        sender = kf_sender(stack)
        menu = MenuReply(head="选择", options=(MenuOption(id="x", label="X"),))
        texts = [TextReply(text=f"第{i}条：" + "内容" * 500) for i in range(4)]
        invitation = FileReply(filename="meeting.ics", content=ICS)
        await sender.send(kf_reply(*texts, menu, invitation))
        assert len(stack.api.kf_sent) == 5
        assert all(m["msgtype"] != "file" for m in stack.api.kf_sent)
        for _ in range(3):  # the doctor taps "show the rest" until nothing is held back
            doctor_wrote(stack)
            await stack.storage.delete(kf_budget_key(CONVERSATION))
            if not await sender.send_more(CONVERSATION, OPEN_KFID, DOCTOR):
                break
        [media_id] = stack.api.media
        files = [m["file"] for m in stack.api.kf_sent if m["msgtype"] == "file"]
        assert files == [{"media_id": media_id}]  # sent with the rest, once


def test_fit_budget_never_folds_a_file_into_text() -> None:
    units = [KfUnit(text="a"), KfUnit(media_id="m1", filename="x.ics"), KfUnit(text="b")]
    send, held = fit_budget(units, 2, default_invite)
    assert send[0] == KfUnit(text="a") and send[1].menu is not None
    assert held == [KfUnit(media_id="m1", filename="x.ics"), KfUnit(text="b")]
    send, held = fit_budget(units[:2], 3, default_invite)
    assert send[:2] == units[:2] and send[2].menu is not None and held == []


async def test_client_upload_retries_busy_and_refreshes_token() -> None:
    async with wecom_stack() as stack:
        client = stack.replicas[0].client
        await client.access_token()
        stack.api.invalidate_tokens()
        stack.api.fail_next("media/upload", -1)
        media_id = await client.upload_media("list.csv", b"name,city\n")
        assert stack.api.media[media_id] == ("list.csv", b"name,city\n")
        assert [c.errcode for c in stack.api.calls_to("media/upload")] == [-1, 40014, 0]


def test_fit_budget_combines_and_invites() -> None:
    units = [KfUnit(text="a"), KfUnit(text="b"), KfUnit(link=LinkReply(title="t", url="https://x"))]
    send, held = fit_budget(units, 5, default_invite)
    assert [u.text for u in send] == ["a", "b", ""] and held == []
    send, held = fit_budget(units, 2, default_invite)
    assert len(send) == 1 and send[0].menu is not None and held == []
    assert send[0].menu.head.startswith("a\n\nb\n\nt\nhttps://x")
    menu = MenuReply(head="选择", options=(MenuOption(id="x", label="X"),))
    send, held = fit_budget([KfUnit(text="a"), KfUnit(menu=menu)], 2, default_invite)
    assert send == [KfUnit(text="a"), KfUnit(menu=menu)]
    assert fit_budget(units, 0, default_invite) == ([], units)


async def test_token_invalidated_mid_run_is_refreshed_once() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        sender = kf_sender(stack)
        await sender.send(kf_reply(TextReply(text="one"), in_reply_to="m1"))
        stack.api.invalidate_tokens()
        await sender.send(kf_reply(TextReply(text="two"), in_reply_to="m2"))
        assert len(stack.api.calls_to("gettoken")) == 2
        assert [m["text"]["content"] for m in stack.api.kf_sent] == ["one", "two"]
        assert [c.errcode for c in stack.api.calls if c.errcode] == [40014]


async def test_client_retries_busy_and_raises_typed_errors() -> None:
    async with wecom_stack() as stack:
        client = stack.replicas[0].client
        stack.api.fail_next("kf/service_state/get", -1, times=2)
        assert await client.kf_service_state(OPEN_KFID, DOCTOR) == (0, "")
        stack.api.set_kf_state(OPEN_KFID, DOCTOR, 3, "rep_zhang")
        with pytest.raises(KfWrongStateError) as wrong:
            await client.kf_send_msg(
                {
                    "touser": DOCTOR,
                    "open_kfid": OPEN_KFID,
                    "msgtype": "text",
                    "text": {"content": "x"},
                }
            )
        assert wrong.value.errcode == 95018
        with pytest.raises(WeComApiError) as invalid:
            await client.kf_trans_service_state(OPEN_KFID, DOCTOR, 0)
        assert invalid.value.errcode == 95016


async def test_token_is_shared_and_fetched_once_under_concurrency() -> None:
    async with wecom_stack(replicas=2) as stack:
        clients = [r.client for r in stack.replicas]
        await asyncio.gather(*(c.kf_servicers(OPEN_KFID) for c in clients for _ in range(5)))
        assert len(stack.api.calls_to("gettoken")) == 1


async def test_member_rate_limit_queues_instead_of_dropping() -> None:
    async with wecom_stack() as stack:
        storage = MemoryStorage()
        client = WeComClient(
            stack.session, storage, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID,
            api_base=stack.api.base_url, member_rate_per_minute=12, rate_window_s=0.5,
        )  # fmt: skip
        for index in range(6):  # 2 per bucket of 0.1 s: the last ones wait for later buckets
            await client.send_text("zhangsan", f"n{index}")
        assert [m["text"]["content"] for m in stack.api.app_sent] == [f"n{i}" for i in range(6)]


async def test_app_sender_text_cards_and_card_update() -> None:
    async with wecom_stack() as stack:
        sender = AppSender(stack.replicas[0].client, stack.storage, Metrics())
        card = CardReply(
            task_id="ae-case-1",
            title="新的不良事件报告",
            fields=(("病例", "AE-1"),),
            buttons=(CardButton(key="ack", text="确认"),),
        )
        message = OutboundMessage(
            channel=Channel.APP,
            conversation_key="app:pv_li",
            recipient_id="pv_li",
            replies=(TextReply(text="x" * 5000), card),
            in_reply_to="9",
        )
        await sender.send(message)
        kinds = [m["msgtype"] for m in stack.api.app_sent]
        assert kinds == ["text", "text", "text", "template_card"]
        sent_card = stack.api.app_sent[-1]["template_card"]
        assert sent_card["card_type"] == "button_interaction"
        assert sent_card["button_list"] == [{"text": "确认", "style": 1, "key": "ack"}]
        response_code = stack.api.calls_to("message/send")[-1].answer["response_code"]
        assert await sender.update_card("pv_li", response_code, "已确认")
        assert not await sender.update_card("pv_li", response_code, "已确认")  # once only


CSV = "姓名,医院\n张伟,示例市人民医院\n".encode()


def app_file_message(*replies: Reply) -> OutboundMessage:
    return OutboundMessage(
        channel=Channel.APP,
        conversation_key="app:rep_wang",
        recipient_id="rep_wang",
        replies=replies,
        in_reply_to="7",
    )


async def test_app_sender_uploads_a_file_and_sends_it_after_its_caption() -> None:
    async with wecom_stack() as stack:
        sender = AppSender(stack.replicas[0].client, stack.storage, Metrics())
        attendees = FileReply(filename="attendees.csv", content=CSV, caption="报名名单")
        await sender.send(app_file_message(attendees))
        [upload] = stack.api.calls_to("media/upload")
        assert upload.query["type"] == "file"
        media_id = upload.answer["media_id"]
        assert stack.api.media[media_id] == ("attendees.csv", CSV)
        sent = stack.api.app_sent
        assert [m["msgtype"] for m in sent] == ["text", "file"]
        assert sent[0]["text"]["content"] == "报名名单"
        assert sent[1]["file"] == {"media_id": media_id} and sent[1]["touser"] == "rep_wang"


async def test_app_sender_sends_the_caption_when_the_upload_fails() -> None:
    async with wecom_stack() as stack:
        metrics = Metrics()
        sender = AppSender(stack.replicas[0].client, stack.storage, metrics)
        stack.api.fail_next("media/upload", 40006)
        await sender.send(app_file_message(FileReply(filename="attendees.csv", content=CSV)))
        assert [c.errcode for c in stack.api.calls_to("media/upload")] == [40006]
        assert [m["text"]["content"] for m in stack.api.app_sent] == ["attendees.csv"]
        assert metrics.errors.labels("app_upload")._value.get() == 1


async def test_a_reply_held_past_the_kf_window_is_dead_lettered() -> None:
    async with wecom_stack() as stack:
        doctor_wrote(stack)
        sender = kf_sender(stack)
        await stack.storage.incr(kf_budget_key(CONVERSATION), 5)  # budget spent
        await sender.send(kf_reply(TextReply(text="稍后 / later")))
        [job] = await sender.outbox.pending(CONVERSATION)
        job.queued_at -= timedelta(hours=49)  # the doctor never wrote again
        await stack.storage.set_json(outbox_key(CONVERSATION), [job.to_json()])
        await sender.outbox.drain(CONVERSATION)
        assert await sender.outbox.pending(CONVERSATION) == []
        [dead] = await stack.storage.unacknowledged(OUTBOX_DEAD_QUEUE, "ops")
        assert dead.payload["job"]["id"] == job.id and "48 h" in dead.payload["reason"]
        assert stack.api.calls_to("kf/send_msg") == []
