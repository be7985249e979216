"""Academic meetings: catalog, personalised invitations, registration with capacity and
waitlist, reminders and follow-up, rep commands — with an audit record of every step.

``create_router`` (doctor flows and rep commands) and ``create_form_router`` (the registration
form, at the active-form priority) share one ``MeetingsService`` in ``services.extras``; the
scheduled jobs are registered once, with the first router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.dispatcher import Context, Router
from bot.services import Services
from skills.meetings.doctor import add_doctor_routes
from skills.meetings.form import create_form_router
from skills.meetings.lists import show_list, show_registrations
from skills.meetings.reminders import MeetingJobs
from skills.meetings.rep import add_rep_routes
from skills.meetings.service import meetings_service

__all__ = ["create_form_router", "create_router", "doctor_view"]


def create_router(services: Services, priority: int) -> Router:
    """Doctor flows and rep commands; registers the reminder and promotion jobs."""
    service = meetings_service(services)
    MeetingJobs(service).register()
    router = Router("meetings", priority)
    add_rep_routes(router, service)
    add_doctor_routes(router, service)
    return router


def doctor_view(services: Services) -> Callable[[Context, str], Awaitable[None]]:
    """Shows a doctor the meeting list (``"list"``) or their registrations (``"mine"``)."""
    service = meetings_service(services)

    async def show(ctx: Context, view: str) -> None:
        if view == "mine":
            await show_registrations(ctx, service)
        else:
            await show_list(ctx, service)

    return show
