"""Head-of-line delay: do other doctors wait behind long messages? — run by hand.

The whole bot in one process, as ``virtualrep serve`` runs it without WeCom: memory storage
(set here: this measures scheduling, not the disk, and a kept state file would deduplicate the
next run's messages), the sample knowledge base, the adverse-event detector, the production
middlewares, the inbound queue and ``VREP_WORKERS`` workers; replies are timed where they
leave (the channel sender). Two phases, in each run:

- **quiet** — one doctor asks short questions one at a time: the single-message latency.
- **load** — ``--long-doctors`` doctors each send ``--long-messages`` messages of
  ``--long-chars`` characters at once; half a second later ``--short-doctors`` other doctors
  each send ``--short-messages`` short messages, one every ``--short-gap-s``. Measured: the
  time from enqueueing each short message to its first reply.

``--baseline DIR`` runs the same phases with the code of another checkout (``git archive
<commit> | tar -x -C DIR``) too. Each of ``--rounds`` rounds runs both, each in a fresh
subprocess, in alternating order, so before and after share the machine's load of the moment;
printed are each round, the medians over rounds and the median of the per-round ratios
(this / before). Asserts nothing.

    .venv/bin/python bench/bench_fairness.py --threads --rounds 3 --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

SHORT_QUESTIONS = ("你好", "诺拉维的常用剂量是多少？", "饭前还是饭后吃？", "有哪些常见副作用？")
LONG_SENTENCES = (
    "我这边有一位六十二岁的男性患者，高血压和高脂血症多年，之前一直吃别的他汀类药物，",
    "上个月开始换成诺拉维每天二十毫克，晚饭后服用，同时还在吃氨氯地平和阿司匹林。",
    "他最近复查的时候说偶尔会有点乏力，但是肝功能和肌酸激酶都在正常范围内，血脂控制得不错。",
    "我想系统地了解一下这个药在老年患者里的使用经验、和其他药物的相互作用，",
    "以及如果以后需要加量的话应该怎么调整，有没有相关的研究资料可以参考？",
)


def long_text(chars: int, seed: int) -> str:
    text = "".join(LONG_SENTENCES[(seed + i) % len(LONG_SENTENCES)] for i in range(200))
    return text[:chars]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_phases(args: argparse.Namespace) -> dict[str, Any]:
    """Both phases with the code importable from ``sys.path`` (this checkout or a baseline)."""
    from bot.models import Channel, InboundMessage, MessageKind, OutboundMessage, SenderType
    from bot.pipeline import INBOUND_GROUP, INBOUND_QUEUE, InboundWorkers, submit_inbound
    from bot.resources import open_knowledge, open_storage
    from bot.runtime import build_runtime
    from bot.settings import load_settings

    answered: dict[str, float] = {}

    class TimingSender:
        channel = Channel.CONSOLE

        async def send(self, message: OutboundMessage) -> None:
            answered.setdefault(message.in_reply_to, time.perf_counter())

    overrides: dict[str, Any] = {} if args.workers is None else {"workers": args.workers}
    settings = load_settings(
        kb_dir=Path(args.kb_dir), data_dir=Path(args.kb_dir) / "data", **overrides
    )
    sent: dict[str, float] = {}
    counter = iter(range(10**9))

    async def submit(storage: Any, doctor: str, text: str) -> str:
        message_id = f"m{next(counter)}"
        message = InboundMessage(
            message_id=message_id,
            channel=Channel.CONSOLE,
            conversation_key=doctor,
            sender_id=doctor,
            sender_type=SenderType.EXTERNAL,
            kind=MessageKind.TEXT,
            text=text,
        )
        sent[message_id] = time.perf_counter()
        await submit_inbound(storage, message, 3600)
        return message_id

    async def settle(storage: Any, limit_s: float) -> None:
        deadline = time.perf_counter() + limit_s
        while time.perf_counter() < deadline:
            if not await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP):
                return
            await asyncio.sleep(0.05)

    if args.threads:  # as ``virtualrep serve`` sizes it (``main``: when the checkout does)
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=settings.workers + 4)
        )
    async with AsyncExitStack() as stack:
        storage = await stack.enter_async_context(open_storage(settings))
        knowledge = await stack.enter_async_context(open_knowledge(settings))
        _, dispatcher = build_runtime(
            settings, storage, senders={Channel.CONSOLE: TimingSender()}, knowledge=knowledge
        )
        workers = InboundWorkers(storage, dispatcher, dispatcher.services.metrics,
                                 workers=settings.workers)  # fmt: skip
        workers.start()
        stack.push_async_callback(workers.stop)
        await submit(storage, "warm-up", "你好")  # first-call costs of every engine
        await settle(storage, 600)

        quiet: list[float] = []
        for index in range(args.quiet_messages):
            message_id = await submit(
                storage, "quiet-doctor", SHORT_QUESTIONS[index % len(SHORT_QUESTIONS)]
            )
            await settle(storage, 600)
            quiet.append(answered.get(message_id, time.perf_counter()) - sent[message_id])

        long_ids = [
            await submit(storage, f"long-doctor-{doctor}", long_text(args.long_chars, doctor + n))
            for n in range(args.long_messages)
            for doctor in range(args.long_doctors)
        ]
        await asyncio.sleep(0.5)
        short_ids: list[str] = []
        for round_index in range(args.short_messages):
            for doctor in range(args.short_doctors):
                text = SHORT_QUESTIONS[(doctor + round_index) % len(SHORT_QUESTIONS)]
                short_ids.append(await submit(storage, f"short-doctor-{doctor}", text))
            await asyncio.sleep(args.short_gap_s)
        started = time.perf_counter()
        await settle(storage, args.limit_s)
        end = time.perf_counter()
        loaded = [answered.get(i, end) - sent[i] for i in short_ids]
        long_done = [answered[i] - sent[i] for i in long_ids if i in answered]
        return {
            "quiet_p50_s": statistics.median(quiet),
            "short_under_load_p50_s": statistics.median(loaded),
            "short_under_load_p95_s": percentile(loaded, 0.95),
            "short_unanswered": sum(1 for i in short_ids if i not in answered),
            "long_answered": f"{len(long_done)}/{len(long_ids)}",
            "long_p50_s": statistics.median(long_done) if long_done else None,
            "drained_after_s": round(end - started, 1),
        }


PHASE_OPTIONS = (
    "long_doctors", "long_messages", "long_chars", "short_doctors", "short_messages",
    "short_gap_s", "quiet_messages", "limit_s", "workers",
)  # fmt: skip


def run_checkout(args: argparse.Namespace, root: Path, name: str) -> dict[str, Any]:
    """The phases with the code under ``root``, in a subprocess of their own."""
    argv = [
        f"--{name.replace('_', '-')}={value}"
        for name, value in vars(args).items()
        if name in PHASE_OPTIONS and value is not None
    ]
    argv += ["--threads"] * args.threads
    env = {**os.environ, "PYTHONPATH": str(root)}
    kb_dir = str(Path(args.kb_dir) / name)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv, "--json", "--kb-dir", kb_dir],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def summary(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Medians over rounds per checkout, and the median per-round ratio this / before."""
    out: dict[str, dict[str, Any]] = {}
    for name in rounds[0]:
        out[f"{name} (median)"] = {
            key: statistics.median(r[name][key] for r in rounds)
            for key, value in rounds[0][name].items()
            if isinstance(value, float | int)
        }
    if "before" in rounds[0]:
        out["this / before (median of rounds)"] = {
            key: statistics.median(r["this"][key] / max(r["before"][key], 1e-9) for r in rounds)
            for key in ("quiet_p50_s", "short_under_load_p50_s", "short_under_load_p95_s")
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long-doctors", type=int, default=4)
    parser.add_argument("--long-messages", type=int, default=1)
    parser.add_argument("--long-chars", type=int, default=2000)
    parser.add_argument("--short-doctors", type=int, default=5)
    parser.add_argument("--short-messages", type=int, default=4)
    parser.add_argument("--short-gap-s", type=float, default=1.0)
    parser.add_argument("--quiet-messages", type=int, default=8)
    parser.add_argument("--limit-s", type=float, default=600.0)
    parser.add_argument("--workers", type=int, help="VREP_WORKERS (default: the checkout's)")
    parser.add_argument(
        "--threads", action="store_true", help="workers + 4 threads for blocking work, as serve"
    )
    parser.add_argument("--kb-dir", default=str(Path(tempfile.gettempdir()) / "bench-fair-kb"))
    parser.add_argument("--baseline", type=Path, help="another checkout to measure as well")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both checkouts")
    parser.add_argument("--json", action="store_true", help="print one JSON line (for --baseline)")
    args = parser.parse_args()
    os.environ["VREP_EMBEDDED_STORAGE"] = "memory"  # see the docstring; older checkouts ignore it
    import logging

    logging.basicConfig(level=logging.ERROR)
    if args.json:
        sys.path.insert(0, str(Path.cwd()))
        args.threads = args.threads and Path("bot/serve.py").exists()  # older: default pool
        print(json.dumps(asyncio.run(run_phases(args))))
        return
    checkouts = {"this": Path.cwd()}
    if args.baseline is not None:
        checkouts["before"] = args.baseline.resolve()
    rounds: list[dict[str, dict[str, Any]]] = []
    for index in range(args.rounds):
        names = list(checkouts)[:: 1 if index % 2 == 0 else -1]
        loads = []
        results: dict[str, dict[str, Any]] = {}
        for name in names:
            loads.append(os.getloadavg()[0])
            results[name] = run_checkout(args, checkouts[name], name)
        rounds.append({name: results[name] for name in checkouts})
        print(f"round {index + 1}, load average {min(loads):.1f}–{max(loads):.1f}")
        for name in checkouts:
            print(" ", name, rounded(results[name]))
    for name, numbers in summary(rounds).items():
        print(name, rounded(numbers))


def rounded(numbers: dict[str, Any]) -> str:
    return json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in numbers.items()})


if __name__ == "__main__":
    main()
