"""Voice notes, images and files sent by doctors and corp members, read as text.

The seam: ``open_media(settings)`` yields a ``MediaReader`` (keep the original bytes, turn
them into text: speech recognition and OCR, blocking work in threads); the app holds it under
``bot.keys.MEDIA`` and ``Services.media``. ``create_middleware`` adds the step that makes a
media message text before adverse-event screening; ``media_problem`` is the reply for media
the bot could not read; ``case_attachments`` gives PV the originals a case was read from.
"""

from media.attachments import case_attachments
from media.middleware import MEDIA_PROBLEM, create_middleware, media_problem
from media.reader import MediaReader, open_media

__all__ = [
    "MEDIA_PROBLEM",
    "MediaReader",
    "case_attachments",
    "create_middleware",
    "media_problem",
    "open_media",
]
