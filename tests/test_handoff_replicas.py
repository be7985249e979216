"""Two replicas (two escalation workers on one real Redis): one notification per escalation."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from bot.escalation import ESCALATION_QUEUE, EscalationReason, request_escalation
from bot.storage.redis import RedisStorage
from skills.handoff.worker import ESCALATION_GROUP
from tests.handoff_support import Harness, conversation_key

ESCALATIONS = 12


async def test_two_replicas_notify_once_per_escalation(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    storages = [RedisStorage.from_url(redis_url, prefix=prefix) for _ in range(2)]
    replicas = [Harness(storage) for storage in storages]
    try:
        for index in range(ESCALATIONS):
            await request_escalation(
                storages[0],
                conversation_key=conversation_key(f"doc{index}"),
                doctor_id=f"doc{index}",
                reason=EscalationReason.EXPLICIT_REQUEST,
                at=replicas[0].clock(),
            )
        # The same request twice for one conversation: joins the running handoff.
        await request_escalation(
            storages[1],
            conversation_key=conversation_key("doc0"),
            doctor_id="doc0",
            reason=EscalationReason.NOT_HELPED,
            at=replicas[0].clock(),
        )
        for replica in replicas:
            replica.worker.start()
        try:
            async with asyncio.timeout(30):
                # Polls shared storage written by both replicas: no event to wait on.
                while await storages[0].queue_depth(ESCALATION_QUEUE, ESCALATION_GROUP):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            for replica in replicas:
                await replica.worker.stop()
        cards = Counter(
            (card.buttons[0].key, rep)
            for replica in replicas
            for rep in ("rep_wang", "rep_li")
            for card in replica.reps_out.cards_for(rep)
        )
        handoffs = {key for key, _ in cards}
        assert len(handoffs) == ESCALATIONS
        assert set(cards.values()) == {1}  # each pool rep got exactly one card per escalation
        assert len(cards) == 2 * ESCALATIONS
    finally:
        for storage in storages:
            await storage.close()
