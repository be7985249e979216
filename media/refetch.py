"""Voice notes and images WeCom could not hand over are fetched again later, not lost.

When ``media/get`` keeps failing past the client's own retries (a WeCom outage), the message
is put on the durable schedule (``media-refetch``, one item per message) with backoff; when
it is due, it goes back into the inbound queue with the same ``received_at`` (an adverse event
found in it then still has the message's time as day 0), marked with the attempt number and
the original message id (``extra["media_refetch"]``, ``extra["media_refetch_of"]``). The
media middleware then fetches and reads it like a new message. WeCom keeps a media id for 3
days: past ``VREP_MEDIA_REFETCH_WITHIN_H`` after the message arrived there is no further
attempt, and the sender is asked to send it again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from bot.models import InboundMessage
from bot.pipeline import submit_inbound
from bot.services import Services
from bot.storage.base import ScheduledItem

REFETCH_SCHEDULE: Final = "media-refetch"
ATTEMPT: Final = "media_refetch"
"""``InboundMessage.extra`` key: how many times this media message was fetched again."""
ORIGINAL: Final = "media_refetch_of"
"""``InboundMessage.extra`` key: the message id the media arrived with."""


def attempt_of(message: InboundMessage) -> int:
    return int(message.extra.get(ATTEMPT) or 0)


class Refetcher:
    """Schedules a later fetch of a message's media, and hands due ones back to the pipeline."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def later(self, message: InboundMessage) -> bool:
        """Schedule the next attempt; False when the media id will have expired by then."""
        settings = self._services.settings
        attempt = attempt_of(message) + 1
        delay = min(
            settings.media_refetch_backoff_s * 2 ** (attempt - 1),
            settings.media_refetch_backoff_max_s,
        )
        due = self._services.clock() + timedelta(seconds=delay)
        if due > message.received_at + timedelta(hours=settings.media_refetch_within_h):
            return False
        payload = {"message": message.model_dump(mode="json"), "attempt": attempt}
        await self._services.storage.schedule(REFETCH_SCHEDULE, _item_id(message), due, payload)
        return True

    async def on_due(self, item: ScheduledItem) -> None:
        """Queue the message again as ``<message id>:refetch<n>`` (the replies of one message
        id are sent once, and WeCom drops a repeated reply id), with its own dedup key."""
        message = InboundMessage.model_validate(item.payload["message"])
        attempt = int(item.payload["attempt"])
        original = str(message.extra.get(ORIGINAL) or message.message_id)
        message = message.model_copy(
            update={
                "message_id": f"{original}:refetch{attempt}",
                "extra": {**message.extra, ATTEMPT: attempt, ORIGINAL: original},
            }
        )
        await submit_inbound(
            self._services.storage,
            message,
            self._services.settings.dedup_ttl_s,
            dedup=f"{REFETCH_SCHEDULE}:{item.item_id}:{attempt}",
        )


def _item_id(message: InboundMessage) -> str:
    return f"{message.channel.value}:{message.extra.get(ORIGINAL) or message.message_id}"
