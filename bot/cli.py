"""The ``virtualrep`` command line: serve, chat, and the feature packages' commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, NoReturn

from bot.logging_setup import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.base import StorageError
from bot.storage.factory import VolatileStorageError

if TYPE_CHECKING:
    from bot.dispatcher import Dispatcher
    from handlers.terminal import ConsoleSender

CORE_COMMANDS = ("serve", "worker", "chat")
"""The bot's own commands. They import the app, the models and the feature packages inside
their handlers, once the settings are good and the socket is bound, and their runs leave the
feature packages' commands out of the parser: a one-line refusal (a bad setting, a port in
use) then costs seconds less of imports, for an operator and for each test of one."""


@contextmanager
def _quiet_imports() -> Iterator[None]:
    """Hold back INFO lines logged while a handler imports the bot (alembic's plugin set-up):
    they went nowhere when everything was imported before the logging was configured."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.serve import ListenError, bind, run, serve

    host = args.host or settings.host
    port = args.port or settings.port
    answer = not args.no_workers
    try:
        sock = bind(host, port)
        with _quiet_imports():  # after the bind: a port in use is refused at once
            from bot.app import create_app
        app = create_app(settings, answer_messages=answer)
        run(serve(app, sock, host, port, workers=settings.workers), event_loop=settings.event_loop)
    except ListenError as exc:
        print(f"virtualrep: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:  # SIGTERM: a requested stop
        _exit_promptly(0)
    except KeyboardInterrupt:  # Ctrl-C
        _exit_promptly(130)
    return 0


def _work(args: argparse.Namespace, settings: Settings) -> int:
    """``virtualrep worker``: answer inbound messages, listen nowhere, only on CPU time the
    server leaves (``SCHED_IDLE`` for every thread, those the imports started included, set
    before the app starts any, so they inherit it)."""
    from bot.serve import run, serve
    from bot.threads import idle_priority

    with _quiet_imports():
        from bot.app import create_app
    idle_priority()
    try:
        app = create_app(settings)
        run(serve(app, None, "", 0, workers=settings.workers), event_loop=settings.event_loop)
    except asyncio.CancelledError:  # SIGTERM: a requested stop
        _exit_promptly(0)
    except KeyboardInterrupt:  # Ctrl-C
        _exit_promptly(130)
    return 0


def _exit_promptly(code: int) -> NoReturn:
    """End the process once ``serve`` has closed everything it opened (its cleanup contexts).

    What is left is the interpreter's own teardown, freeing the models and the knowledge base
    object by object: 2.7 s of a 3.2 s Ctrl-C during the first start on a busy machine (issue
    17). The logs and standard streams are flushed first; nothing else is pending.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


CHAT_CASES_WAIT = (
    "virtualrep chat: 此处报告的不良事件已保存并排队，"
    "由同一存储上的 virtualrep serve 投递给药物警戒"
    "（chat 只在内置存储且未设置 VREP_PV_USERS 时自行投递）。 "
    "Adverse-event cases reported here are saved and queued; `virtualrep serve` on the same "
    "store delivers them to PV (chat delivers itself only on the embedded store without "
    "VREP_PV_USERS)."
)
"""Said once as chat starts when it leaves delivery to the servers: on Redis (the servers'
store, whose sinks chat's environment may not match) or with ``VREP_PV_USERS`` set (the card
needs the WeCom app, which chat does not open)."""


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    with _quiet_imports():
        from skills import handoff
    # before the app's imports and the models: a malformed roster stops chat in a second
    handoff.check_set_up(settings, wecom_app=False)  # no WeCom here
    with _quiet_imports():
        import privacy
        from bot.llm import open_llm
        from bot.models import Channel
        from bot.resources import open_http_session, open_knowledge, open_storage
        from bot.runtime import build_runtime
        from handlers.terminal import run_chat
        from records import open_records
        from records.sink import audit_sink
        from skills.adverse_events.delivery import delivery_worker_here

    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)  # keep the terminal for the conversation

    async def open_bot(stack: AsyncExitStack, sender: ConsoleSender) -> Dispatcher:
        storage = await stack.enter_async_context(open_storage(settings))
        llm = await stack.enter_async_context(open_llm(settings))
        knowledge = await stack.enter_async_context(open_knowledge(settings))
        records = await stack.enter_async_context(open_records(settings))
        services, dispatcher = build_runtime(
            settings,
            storage,
            senders={Channel.CONSOLE: sender},
            llm=llm,
            knowledge=knowledge,
            records=records,
        )
        await privacy.install_storage_retention(services)
        services.scheduler.start()
        stack.push_async_callback(services.scheduler.stop)
        audit_to_records = audit_sink(records, storage, services.metrics)
        audit_to_records.start()
        # Last out, after the PV delivery below: the delivery's audit (delivered_at) is what
        # `pv list` reads from the records, so it is copied before chat exits.
        stack.push_async_callback(audit_to_records.finish)
        escalations = handoff.create_worker(services)  # rep cards print in the same terminal
        escalations.start()
        stack.push_async_callback(escalations.stop)
        session = await stack.enter_async_context(open_http_session(settings))
        # On Redis the servers deliver, with their sinks (a case counts as delivered once the
        # sinks of the process that took it did; chat must not mark it with fewer).
        pv_delivery = None if settings.redis_url else delivery_worker_here(services, session)
        if pv_delivery is None:
            print(CHAT_CASES_WAIT, file=sys.stderr)
        else:  # the server's PV delivery: archive, webhook, retries, dead letter
            pv_delivery.start()
            stack.push_async_callback(pv_delivery.finish)  # first: a case of the last line
        return dispatcher

    return asyncio.run(run_chat(open_bot, user=args.user, as_rep=args.as_role == "rep"))


def build_parser(*, features: bool = True) -> argparse.ArgumentParser:
    """The command line; ``features=False`` leaves out the feature packages' commands (and
    their imports), for a run of one of the bot's own ``CORE_COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="virtualrep",
        description="A compliant virtual pharmaceutical rep for WeCom and WeChat Customer Service.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the webhook server (WeCom callback, health, metrics)")
    serve.add_argument("--host", help="bind address (default VREP_HOST)")
    serve.add_argument("--port", type=int, help="port (default VREP_PORT)")
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="acknowledge and queue callbacks only; `virtualrep worker` processes answer them",
    )
    serve.set_defaults(handler=_serve)
    worker = sub.add_parser(
        "worker",
        help="answer queued inbound messages in a process of its own (no HTTP)",
        description="Answer the messages `virtualrep serve --no-workers` queued, on the same "
        "storage. Runs at idle CPU priority (SCHED_IDLE, else nice +10) so acknowledging "
        "callbacks always wins the core; while every core stays busy, answers wait.",
    )
    worker.set_defaults(handler=_work)

    chat = sub.add_parser(
        "chat",
        help="chat with the full bot in the terminal (stdin/stdout)",
        description="Chat with the full bot in the terminal, on the same store as serve. "
        "Adverse-event cases reported here are delivered to PV as the server does (the archive "
        "under VREP_DATA_DIR/pv, the webhook), also those submitted by the last line; on "
        "Redis or with VREP_PV_USERS set they wait, queued, for `virtualrep serve` (the PV "
        "card needs the WeCom app).",
    )
    chat.add_argument(
        "--as",
        dest="as_role",
        choices=("doctor", "rep"),
        default="doctor",
        help="talk as a doctor (default) or as a rep using rep commands",
    )
    chat.add_argument(
        "--user", default="console-user", help="user id; use several to hold several conversations"
    )
    chat.set_defaults(handler=_chat)
    if features:
        _add_feature_commands(sub)
    return parser


def _add_feature_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import privacy
    from bot import dead_letters_cli
    from bot.wecom import simulate_cli
    from knowledge import cli as knowledge_cli
    from records import cli as records_cli
    from skills.adverse_events import cli as ae_cli
    from skills.adverse_events import pv_cli
    from skills.qa import cli as qa_cli

    knowledge_cli.add_commands(sub)
    ae_cli.add_commands(sub)
    pv_cli.add_commands(sub)
    simulate_cli.add_commands(sub)
    qa_cli.add_commands(sub)
    dead_letters_cli.add_commands(sub)
    records_cli.add_commands(sub)
    privacy.add_commands(sub)


OPS_COMMANDS = ("pv", "mi", "doctor", "dead")
"""Operators' commands over a store the bot made: on the embedded default they refuse a data
folder without one instead of creating an empty store there."""


def _missing_store(settings: Settings) -> str | None:
    """Why an ops command cannot run on the embedded default (no ``state.sqlite3`` in
    ``VREP_DATA_DIR``: a mistyped folder would read as "no case"), else None."""
    from bot.storage.sqlite import STATE_FILE

    if settings.redis_url or settings.embedded_storage != "sqlite":
        return None
    if (settings.data_dir / STATE_FILE).exists():
        return None
    return (
        f"no store in {settings.data_dir.resolve()} ({STATE_FILE} not found): check "
        "VREP_DATA_DIR (serve, chat and simulate create it); nothing was created "
        f"（{settings.data_dir.resolve()} 中没有数据存储，请检查 VREP_DATA_DIR）"
    )


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    core = bool(words) and words[0] in CORE_COMMANDS
    args = build_parser(features=not core).parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"virtualrep: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command in OPS_COMMANDS and (missing := _missing_store(settings)):
        print(f"virtualrep: storage unavailable: {missing}", file=sys.stderr)
        return 3
    try:
        code: int = args.handler(args, settings)
    except SettingsError as exc:  # e.g. a malformed roster file found while starting
        print(f"virtualrep: {exc}", file=sys.stderr)
        return 2
    except VolatileStorageError as exc:  # Redis without AOF: refused, the line says the fix
        print(f"virtualrep: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # Redis down or unreachable: one line, nothing changed
        print(f"virtualrep: storage unavailable: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
