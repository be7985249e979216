"""Roles and least privilege for corp members: who may run which rep command or card action.

The roster (``skills.handoff.roster``) gives every member roles; ``actions`` names what a
rep-side route does (``flags=rep_action(...)``); ``policy`` decides from the roles and from
the member's relationship to the doctor (assigned, offered, taken over, team);
``guard.RepAccessGuard`` is the one handler middleware that applies it to every rep-side
route; ``rep_help`` answers members whose message no rep command took.
"""
