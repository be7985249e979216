"""Callback acknowledgement benchmark: the bot's /wecom/callback against a bare reference.

Run by hand (it takes about a minute and uses both cores):

    .venv/bin/python bench/bench_callback.py [--requests 4000] [--redis-url redis://...]

Two servers run as separate processes on 127.0.0.1, measured in the same run:

- **bot**: the production callback handler (``handlers.wecom_callback``) on Redis storage —
  signature, timestamp window, hardened XML, decryption, dedup + enqueue in one round trip.
  With ``--full-app`` it is the whole ``create_app`` (inbound workers running too).
- **reference**: a minimal aiohttp endpoint that only verifies, decrypts (wechatpy),
  parses and answers "success".

The load generator (this process, aiohttp) sends pre-encrypted app-text callbacks, each with a
distinct MsgId, at concurrency 1, 16 and 64, a bounded number of requests per level, and prints
throughput and p50/p99 latency. The servers take turns in short rounds (``--rounds``), so load
from other jobs on a shared machine hits them alike; the ratios are printed over all requests
and as the median of the per-round ratios. Without ``--redis-url`` it starts a throw-away
redis-server.

``--baseline DIR`` also serves the bot from another checkout in the same run, for a fair
before/after (``git archive <commit> | tar -x -C DIR``; the venv is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.keys import METRICS, SETTINGS, STORAGE  # noqa: E402
from bot.metrics import Metrics  # noqa: E402
from bot.wecom.simulator import CallbackSender  # noqa: E402

CORP_ID = "wwbenchcorp"
TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CONCURRENCY = (1, 16, 64)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers (run in child processes) ------------------------------------------------------
def serve_reference(port: int) -> None:
    from wechatpy.enterprise.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)

    async def callback(request: web.Request) -> web.Response:
        query = request.query
        try:
            plain = crypto.decrypt_message(
                await request.text(), query["msg_signature"], query["timestamp"], query["nonce"]
            )
            ET.fromstring(plain)
        except Exception:
            return web.Response(status=403, text="forbidden")
        return web.Response(text="success")

    app = web.Application()
    app.router.add_post("/wecom/callback", callback)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def serve_bot(port: int, redis_url: str, full_app: bool) -> None:
    from bot.settings import load_settings

    settings = load_settings(
        wecom_corp_id=CORP_ID,
        wecom_token=TOKEN,
        wecom_aes_key=AES_KEY,
        redis_url=redis_url,
        redis_key_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
        redis_allow_volatile=True,  # the throw-away Redis runs without AOF, as measured before
        kb_sample_library=False,
        data_dir=Path(tempfile.mkdtemp(prefix="vrep-bench-")),
    )
    if full_app:
        from bot.app import create_app

        app = create_app(settings)
    else:
        from bot.resources import open_storage
        from handlers.wecom_callback import add_routes

        app = web.Application(client_max_size=settings.wecom_max_body_bytes)
        app[SETTINGS], app[METRICS] = settings, Metrics()

        async def storage_ctx(app: web.Application):  # type: ignore[no-untyped-def]
            async with open_storage(settings) as storage:
                app[STORAGE] = storage
                yield

        app.cleanup_ctx.append(storage_ctx)
        add_routes(app)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- load generator ----------------------------------------------------------------------------
async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def encrypted_bodies(count: int) -> list[tuple[dict[str, str], bytes]]:
    sender = CallbackSender(None, "", token=TOKEN, aes_key=AES_KEY, corp_id=CORP_ID)  # type: ignore[arg-type]
    base = int(time.time() * 1000) * 1000
    return [
        sender.encrypt(sender.app_text_xml(f"rep{n % 50}", f"消息 {n}", msg_id=base + n))
        for n in range(count)
    ]


@dataclass
class Sample:
    """Requests timed against one server at one concurrency, possibly over several rounds."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: int = 0
    round_rps: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000


async def load(
    url: str, bodies: list[tuple[dict[str, str], bytes]], concurrency: int, sample: Sample
) -> None:
    """Post ``bodies`` with ``concurrency`` connections; add the timings to ``sample``."""
    latencies: list[float] = []
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for query, body in queue:
                started = time.perf_counter()
                async with session.post(url, params=query, data=body) as response:
                    await response.read()
                    if response.status != 200:
                        sample.failures += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    sample.latencies += latencies
    sample.elapsed += elapsed
    sample.round_rps.append(len(latencies) / elapsed)


async def run(args: argparse.Namespace, urls: dict[str, str]) -> None:
    """Interleave the servers in short rounds, so load from other jobs hits them alike."""
    for url in urls.values():
        await wait_ready(url)
    for url in urls.values():  # warm up: connections, imports, Lua script loading
        await load(url, encrypted_bodies(300), 8, Sample())
    print(f"{'concurrency':>11} {'server':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'fail':>5}")
    results: dict[tuple[int, str], Sample] = {}
    for concurrency in CONCURRENCY:
        count = args.requests if concurrency > 1 else max(500, args.requests // 4)
        per_round = max(100, count // args.rounds)
        names = list(urls)
        for name in names:
            results[(concurrency, name)] = Sample()
        for round_number in range(args.rounds):
            order = names if round_number % 2 == 0 else names[::-1]
            for name in order:
                bodies = encrypted_bodies(per_round)
                await load(urls[name], bodies, concurrency, results[(concurrency, name)])
        for name in names:
            result = results[(concurrency, name)]
            print(
                f"{concurrency:>11} {name:>9} {result.rps:>8.0f} {result.percentile_ms(0.5):>8.2f}"
                f" {result.percentile_ms(0.99):>8.2f} {result.failures:>5}"
            )
    for concurrency in CONCURRENCY:
        ref = results[(concurrency, "reference")]
        for name in urls:
            if name == "reference":
                continue
            bot = results[(concurrency, name)]
            round_ratios = [b / r for b, r in zip(bot.round_rps, ref.round_rps, strict=True)]
            print(
                f"c={concurrency}: {name}/reference throughput {bot.rps / ref.rps:.0%}"
                f" (median of rounds {statistics.median(round_ratios):.0%}),"
                f" p99 ratio {bot.percentile_ms(0.99) / ref.percentile_ms(0.99):.2f}x"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per level (c>1)")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per level")
    parser.add_argument("--full-app", action="store_true", help="bot = create_app (workers on)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also serve the bot from another checkout (e.g. a worktree of an older commit)",
    )
    parser.add_argument("--serve", choices=["bot", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "reference":
        serve_reference(args.port)
        return 0
    if args.serve == "bot":
        serve_bot(args.port, args.redis_url, args.full_app)
        return 0

    children: list[subprocess.Popen[bytes]] = []
    try:
        redis_url = args.redis_url
        if redis_url is None:
            binary = shutil.which("redis-server")
            if binary is None:
                print("redis-server not found; pass --redis-url", file=sys.stderr)
                return 1
            redis_port = free_port()
            children.append(subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL,
            ))  # fmt: skip
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VREP_")}
        servers = {"bot": ROOT, "reference": ROOT}
        if args.baseline is not None:
            servers = {"bot": ROOT, "baseline": args.baseline.resolve(), "reference": ROOT}
        urls = {}
        for name, root in servers.items():
            port = free_port()
            script = root / "bench" / "bench_callback.py"
            role = "reference" if name == "reference" else "bot"
            command = [sys.executable, str(script), "--serve", role, "--port", str(port)]
            command += ["--redis-url", redis_url] + (["--full-app"] if args.full_app else [])
            children.append(subprocess.Popen(command, env=env, cwd=root))
            urls[name] = f"http://127.0.0.1:{port}/wecom/callback"
        asyncio.run(run(args, urls))
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
