"""The privacy notice in the kf welcome: the first thing a doctor who opens the chat sees.

WeCom allows one welcome message per ``enter_session`` (a menu: head and tail of at most 1024
bytes each, at most 10 items, an item's label at most 128 bytes). When the doctor has not
answered the current notice, the hook puts the short notice after the greeting, agree / not
now as the only options (the main menu follows the answer), and the question in the tail (in
place of the menu's own, which says "type your question" too). The policy link is left out when
the head would be too long with it (the full notice, with the link, is one "隐私政策" away);
when even that does not fit (a very long controller name), the welcome stays as it was and
the notice comes with the first reply, as it does when the welcome could not be delivered.
``ConsentMiddleware`` learns from the event which options the doctor was shown, so a notice
shown in the welcome is not shown again with the first reply.
"""

from __future__ import annotations

import logging
from typing import Final

from bot.models import InboundMessage, MenuReply
from bot.services import Services, WelcomeHook
from bot.settings import Settings
from privacy import texts
from privacy.service import privacy_service

log = logging.getLogger(__name__)

MENU_TEXT_MAX_BYTES: Final = 1024  # kf msgmenu head_content / tail_content


def _fits(text: str) -> bool:
    return len(text.encode()) <= MENU_TEXT_MAX_BYTES


def with_notice(settings: Settings, menu: MenuReply) -> MenuReply | None:
    """``menu``'s greeting with the short notice and only its two buttons, or None when it
    cannot fit. The main menu's options are left out: next to "同意 / 暂不同意" they read as
    answers to the notice (six buttons in one bubble); the answer to the notice brings the
    main menu, and the tail says how to see it without answering."""
    for with_url in (True, False):
        head = f"{menu.head}\n\n{texts.welcome_notice(settings, with_url=with_url)}"
        if _fits(head):
            return MenuReply(head=head, options=texts.WELCOME_OPTIONS, tail=texts.WELCOME_TAIL)
    return None


def create_welcome_hook(services: Services) -> WelcomeHook:
    service = privacy_service(services)

    async def add_notice(message: InboundMessage, menu: MenuReply) -> MenuReply:
        settings = services.settings
        if not settings.privacy_notice:
            return menu
        standing = await service.standing(message.sender_id)  # the doctor id on kf
        if standing.answered(settings.privacy_notice_version):
            return menu
        welcome = with_notice(settings, menu)
        if welcome is None:
            log.warning("privacy notice too long for the kf welcome; sent with the first reply")
            return menu
        return welcome

    return add_notice
