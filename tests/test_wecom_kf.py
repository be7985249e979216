"""kf over real HTTP: callback → background sync → inbound queue, events, replicas."""

from __future__ import annotations

from bot.models import MessageKind
from bot.wecom.senders import kf_budget_key, kf_state_key
from handlers.kf import KF_DEAD_LETTER_QUEUE, KfSyncer, cursor_key
from tests.wecom_harness import OPEN_KFID, enqueued, wecom_stack

DOCTOR = "wmDOCTOR0001"


async def test_a_batch_of_three_is_enqueued_in_order_and_only_once() -> None:
    async with wecom_stack() as stack:
        sim = stack.simulator()
        msgids, answer = await sim.doctor_says(OPEN_KFID, DOCTOR, "第一", "second", "第三")
        assert answer == (200, "success")
        await stack.settle()
        messages = await enqueued(stack.storage)
        assert [m.message_id for m in messages] == msgids
        assert [m.text for m in messages] == ["第一", "second", "第三"]
        assert {m.conversation_key for m in messages} == {f"kf:{OPEN_KFID}:{DOCTOR}"}
        assert all(
            m.kind is MessageKind.TEXT and m.extra["open_kfid"] == OPEN_KFID for m in messages
        )
        assert await stack.storage.get_json(cursor_key(OPEN_KFID)) == "3"
        # The same notice again (a WeCom retry): nothing new.
        await sim.kf_notify(OPEN_KFID)
        await stack.settle()
        assert len(await enqueued(stack.storage)) == 3


async def test_sync_pages_while_has_more() -> None:
    async with wecom_stack() as stack:
        replica = stack.replicas[0]
        syncer = KfSyncer(
            replica.client, stack.storage, replica.metrics, dedup_ttl_s=3600, page_limit=2
        )
        texts = [f"m{i}" for i in range(5)]
        for text in texts:
            stack.api.queue_customer_text(OPEN_KFID, DOCTOR, text)
        assert await syncer.sync(OPEN_KFID, stack.api.issue_sync_token()) == 5
        assert [m.text for m in await enqueued(stack.storage)] == texts
        assert len(stack.api.calls_to("kf/sync_msg")) == 3


async def test_clicks_media_and_budget_reset() -> None:
    async with wecom_stack() as stack:
        sim = stack.simulator()
        conversation = f"kf:{OPEN_KFID}:{DOCTOR}"
        await stack.storage.incr(kf_budget_key(conversation), 4)
        stack.api.queue_customer_message(OPEN_KFID, DOCTOR, "image", {"media_id": "MEDIA1"})
        await sim.doctor_clicks(OPEN_KFID, DOCTOR, "qa:ask", "产品资料")
        await stack.settle()
        image, click = await enqueued(stack.storage)
        assert image.kind is MessageKind.IMAGE and image.extra["media_id"] == "MEDIA1"
        assert click.kind is MessageKind.CLICK and click.click_id == "qa:ask"
        assert await stack.storage.get_counter(kf_budget_key(conversation)) == 0


async def test_enter_session_sends_the_welcome_menu_once() -> None:
    async with wecom_stack() as stack:
        sim = stack.simulator()
        await sim.doctor_enters(OPEN_KFID, DOCTOR, scene="rep_zhang")
        await stack.settle()
        welcome = stack.api.calls_to("kf/send_msg_on_event")
        assert len(welcome) == 1 and welcome[0].errcode == 0
        assert welcome[0].body is not None and welcome[0].body["msgtype"] == "msgmenu"
        assert len(welcome[0].body["msgmenu"]["list"]) == 4
        (event,) = await enqueued(stack.storage)
        assert event.kind is MessageKind.EVENT and event.event == "kf_enter_session"
        assert event.extra["scene"] == "rep_zhang"
        await stack.storage.delete(cursor_key(OPEN_KFID))  # re-read the same page
        await sim.kf_notify(OPEN_KFID)
        await stack.settle()
        assert len(stack.api.calls_to("kf/send_msg_on_event")) == 1


async def test_session_status_change_updates_the_stored_state() -> None:
    async with wecom_stack() as stack:
        stack.api.servicer_takes_over(OPEN_KFID, DOCTOR, "rep_zhang")
        await stack.simulator().kf_notify(OPEN_KFID)
        await stack.settle()
        state = await stack.storage.get_json(kf_state_key(f"kf:{OPEN_KFID}:{DOCTOR}"))
        assert state["service_state"] == 3 and state["servicer_userid"] == "rep_zhang"
        (event,) = await enqueued(stack.storage)
        assert event.event == "kf_session_status_change" and event.extra["service_state"] == 3


async def test_msg_send_fail_is_counted() -> None:
    async with wecom_stack() as stack:
        event = {"event_type": "msg_send_fail", "fail_msgid": "abc", "fail_type": 4}
        stack.api.queue_event(OPEN_KFID, DOCTOR, event)
        await stack.simulator().kf_notify(OPEN_KFID)
        await stack.settle()
        metrics = stack.replicas[0].metrics
        assert metrics.events.labels("kf_msg_send_fail")._value.get() == 1
        assert await enqueued(stack.storage) == []


async def test_sync_without_token_is_refused_retried_and_counted_not_crashed() -> None:
    async with wecom_stack(kf_sync_retries=2, kf_sync_retry_s=0.01) as stack:
        stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "hello")
        await stack.simulator().sender.post(stack.simulator().sender.kf_event_xml(OPEN_KFID, ""))
        await stack.settle()
        assert [c.errcode for c in stack.api.calls_to("kf/sync_msg")] == [45009] * 3
        assert stack.replicas[0].metrics.errors.labels("kf_sync")._value.get() == 3
        # The next proper notice picks the message up from the saved cursor.
        await stack.simulator().kf_notify(OPEN_KFID)
        await stack.settle()
        assert [m.text for m in await enqueued(stack.storage)] == ["hello"]


async def test_two_replicas_receiving_the_same_callbacks_enqueue_once() -> None:
    async with wecom_stack(replicas=2) as stack:
        first, second = stack.simulator(0), stack.simulator(1)
        app_xml = first.sender.app_text_xml("zhangsan", "hi", msg_id=7)
        query, body = first.sender.encrypt(app_xml)
        stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "one")
        stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "two")
        kf_query, kf_body = first.sender.encrypt(
            first.sender.kf_event_xml(OPEN_KFID, stack.api.issue_sync_token())
        )
        for sim in (first, second):
            for q, b in ((query, body), (kf_query, kf_body)):
                async with stack.session.post(sim.sender.url, params=q, data=b) as response:
                    assert response.status == 200
        await stack.settle()
        assert sorted(m.text for m in await enqueued(stack.storage)) == ["hi", "one", "two"]


async def test_an_unreadable_item_is_set_aside_and_later_messages_still_arrive() -> None:
    """One item the bot cannot read must not stop every later message of the account."""
    async with wecom_stack() as stack:
        replica = stack.replicas[0]
        syncer = KfSyncer(replica.client, stack.storage, replica.metrics, dedup_ttl_s=3600)
        stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "之前")
        stack.api.queue_raw_item(OPEN_KFID, {"msgid": "odd-1", "origin": 3, "msgtype": "text",
                                             "external_userid": DOCTOR})  # fmt: skip
        stack.api.queue_raw_item(OPEN_KFID, "not an object")
        stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "之后")
        assert await syncer.sync(OPEN_KFID, stack.api.issue_sync_token()) == 4
        assert [m.text for m in await enqueued(stack.storage)] == ["之前", "之后"]
        assert await stack.storage.get_json(cursor_key(OPEN_KFID)) == "4"
        aside = await stack.storage.consume(
            KF_DEAD_LETTER_QUEUE, "ops", "ops-1", count=10, block_ms=0
        )
        assert [(e.payload["reason"], e.payload["item"]) for e in aside] == [
            ("KeyError", {"msgid": "odd-1", "origin": 3, "msgtype": "text",
                          "external_userid": DOCTOR}),
            ("AttributeError", "not an object"),
        ]  # fmt: skip
        assert replica.metrics.errors.labels("kf_item")._value.get() == 2
