"""Callback acknowledgement benchmark: the production app's /wecom/callback against a bare one.

Run by hand (a few minutes; it uses both cores):

    .venv/bin/python bench/bench_callback.py [--requests 4000] [--rounds 6] [--baseline DIR]

Processes on 127.0.0.1, all measured in the same run:

- **bot**: the production ``create_app`` — callback handler (signature, timestamp window,
  hardened XML, decryption, dedup + enqueue in one Redis round trip) *and* the inbound
  workers answering every message (Q&A over the sample library, adverse-event screening,
  replies sent through the fake WeCom API), the scheduler and the other workers. The
  long-lived heap is frozen after start-up (``bot.heap``).
- **reference**: a minimal aiohttp endpoint that only verifies, decrypts (wechatpy), parses
  and answers "success".
- a **fake WeCom API** (``bot.wecom.simulator.FakeWeComServer``) and a throw-away
  **redis-server** (unless ``--redis-url``).

Servers are pinned to CPU 0, the load generator, redis-server and the fake API to CPU 1
(``--no-pin`` to let the kernel place them). The load generator (this process, aiohttp)
sends pre-encrypted app-text callbacks — doctors' questions, adverse-event reports and small
talk from many users, each with a distinct MsgId — at concurrency 1, 16 and 64, a bounded
number of requests per level. The servers take turns in short rounds, so load from other
jobs on a shared machine hits them alike; every round prints its throughput and p99 ratios,
then each level prints the totals and the median of the per-round ratios. Each server
records its collector pauses (``gc.callbacks``) and the bench prints them per generation.

``--baseline DIR`` also serves the bot from another checkout in the same run, for a fair
before/after (``git archive <commit> | tar -x -C DIR``; the venv is shared).
``--worker-process`` runs this checkout's bot as ``serve --no-workers`` plus a ``worker``
process (``SCHED_IDLE`` as ``virtualrep worker`` runs, also on CPU 0, same Redis prefix and
knowledge-base directory), so its callbacks share no GIL with the workers; a baseline keeps its
workers in-process unless ``--baseline-worker-process``.

Rounds start once every bot has answered one of its warm-up messages through the fake API
(a worker process loads its models after its server is up). Besides latency, every level
prints the CPU time each server took per request (from ``/proc``, so it holds on a busy
machine better than throughput does): its event-loop thread, the whole process and, split,
the worker process during that server's rounds. ``--profile FILE`` writes a CPU-time
cProfile of this checkout's server loop (slow: every call reads the thread's CPU clock).

``--event-loop`` (``auto``, ``uvloop`` or ``asyncio``; as ``VREP_EVENT_LOOP``, default ``auto``)
is the loop this checkout's bot, its worker *and the reference* run on, so the comparison stays
fair; each server reports its loop and the bench prints it (a baseline runs its own checkout's
choice: one from before the setting runs asyncio and reports nothing). ``--compare-loops`` serves
this checkout's bot and the reference twice in the same run, on asyncio (``bot``, ``reference``)
and on uvloop (``bot-uvloop``, ``reference-uvloop``), each bot compared with the reference on
its own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
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

from bot.settings import Settings  # noqa: E402
from bot.wecom.simulator import CallbackSender  # noqa: E402

CORP_ID = "wwbenchcorp"
TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRET = "benchsecret"
AGENT_ID = 1000002
CONCURRENCY = (1, 16, 64)
SERVER_CPU, LOAD_CPU = 0, 1
GC_PATH = "/bench/gc"
REPLIES_PATH = "/replies"
# What the doctors say: questions the sample library answers, adverse events, small talk.
MESSAGES = (
    "诺瑞韦斯的用法用量是什么？",
    "肝功能不全的病人能用吗",
    "What is the recommended dose of Noravex?",
    "患者服药后出现皮疹和瘙痒，怎么办",
    "my patient developed a rash after the first dose",
    "孕妇可以吃吗？",
    "你好",
    "谢谢",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpu: int) -> None:
    """Run this process on ``cpu`` only (when the machine has it)."""
    if cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


# -- servers (run in child processes) ------------------------------------------------------
def record_gc_pauses(app: web.Application) -> None:
    """Time every collection (``gc.callbacks``); ``GET /bench/gc`` returns and clears them.

    Each pause is (generation, wall seconds, CPU seconds of the collecting thread): on a busy
    machine the wall time includes being preempted mid-collection, the CPU time does not.
    """
    from bot.serve import loop_name

    pauses: list[tuple[int, float, float]] = []
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = time.perf_counter(), time.thread_time()
        else:
            wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
            pauses.append((info["generation"], wall, cpu))

    gc.callbacks.append(callback)

    async def report(request: web.Request) -> web.Response:
        """The pauses since the last call; with ``?full=1`` after one forced full collection."""
        if request.query.get("full"):
            gc.collect()
        taken = list(pauses)
        pauses.clear()
        tracked = len(gc.get_objects())
        return web.json_response({"pauses": taken, "tracked": tracked, "loop": loop_name()})

    app.router.add_get(GC_PATH, report)


def serve_reference(port: int, profile: Path | None, event_loop: str) -> None:
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

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="alive")

    app = web.Application()
    app.router.add_post("/wecom/callback", callback)
    app.router.add_get("/healthz", healthz)
    record_gc_pauses(app)
    run_app(app, port, profile, event_loop)


def bot_settings(
    redis_url: str, api_base: str, data_dir: Path, prefix: str, event_loop: str
) -> Settings:
    from bot.settings import load_settings

    return load_settings(
        wecom_corp_id=CORP_ID,
        wecom_token=TOKEN,
        wecom_aes_key=AES_KEY,
        wecom_agent_id=AGENT_ID,
        wecom_secret=SECRET,
        wecom_api_base=api_base,
        redis_url=redis_url,
        redis_key_prefix=prefix,
        redis_allow_volatile=True,  # the throw-away Redis runs without AOF
        kb_sample_library=True,
        pv_users="pv-officer",  # the app channel refuses to start without a PV recipient
        data_dir=data_dir,
        kb_dir=data_dir / "kb",
        event_loop=event_loop,
    )


def serve_bot(port: int, redis_url: str, api_base: str, split: argparse.Namespace) -> None:
    """The production app; with ``--worker-process`` it only acknowledges and queues (``serve
    --no-workers``) and a ``worker`` process on the same CPU answers."""
    from bot.app import create_app

    data_dir = split.data_dir or Path(tempfile.mkdtemp(prefix="vrep-bench-"))
    prefix = split.key_prefix or f"bench-{uuid.uuid4().hex[:8]}:"
    settings = bot_settings(redis_url, api_base, data_dir, prefix, split.event_loop)
    app = create_app(settings, answer_messages=not split.worker_process)
    record_gc_pauses(app)
    run_app(app, port, split.profile, settings.event_loop)


def run_app(app: web.Application, port: int, profile: Path | None, event_loop: str) -> None:
    """Serve ``app`` on the event loop ``event_loop`` names (as ``virtualrep serve`` picks it)
    until SIGTERM; with ``profile``, write a CPU-time cProfile of its loop (from the end of
    start-up, warm-up included, to the stop) to that file."""
    from bot.serve import loop_factory

    factory = loop_factory(event_loop) or asyncio.new_event_loop
    loop = factory()
    if profile is None:
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)
        return
    import cProfile

    profiler = cProfile.Profile(time.thread_time)

    async def start_profiling(app: web.Application) -> None:
        profiler.enable()

    app.on_startup.append(start_profiling)  # after every cleanup context has started
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)
    profiler.disable()
    profiler.dump_stats(profile)


def serve_worker(port: int, redis_url: str, api_base: str, split: argparse.Namespace) -> None:
    """``virtualrep worker`` for the bot on ``port``: starts once that bot is up (it has
    ingested the sample library into the shared knowledge-base directory by then)."""
    from bot.app import create_app
    from bot.serve import run, serve
    from bot.threads import idle_priority

    asyncio.run(wait_ready(f"http://127.0.0.1:{port}/healthz"))
    idle_priority()  # as `virtualrep worker` does
    settings = bot_settings(redis_url, api_base, split.data_dir, split.key_prefix, split.event_loop)
    app = create_app(settings)
    with contextlib.suppress(asyncio.CancelledError):  # SIGTERM at the end of the run
        run(serve(app, None, "", 0, workers=settings.workers), event_loop=settings.event_loop)


def serve_wecom_api(port: int, replies_port: int) -> None:
    """The fake WeCom API on ``port``; ``GET /replies?to=PREFIX`` on ``replies_port`` counts the
    replies it received for users whose id starts with PREFIX."""
    from bot.wecom.simulator import FakeWeComServer

    async def forever() -> None:
        api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
        await api.start(port=port)

        async def replies(request: web.Request) -> web.Response:
            to = request.query.get("to", "")
            count = sum(1 for sent in api.app_sent if str(sent.get("touser", "")).startswith(to))
            return web.json_response({"replies": count})

        counter = web.Application()
        counter.router.add_get(REPLIES_PATH, replies)
        runner = web.AppRunner(counter, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", replies_port).start()
        while True:
            await asyncio.sleep(30)
            print(f"fake WeCom API: {len(api.app_sent)} replies received", flush=True)

    asyncio.run(forever())


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time of process ``pid`` so far (Linux schedstat, ns resolution): its main thread
    (the event loop, which acknowledges callbacks) and all its threads together."""
    total, loop = 0.0, 0.0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
                seconds = int(f.read().split()[0]) / 1e9
            total += seconds
            if int(task) == pid:
                loop = seconds
    return {"loop": loop, "process": total}


def cpu_usage(pids: list[int]) -> dict[str, float]:
    """The server's loop and process CPU seconds, plus its worker process's when split."""
    server = cpu_seconds(pids[0])
    return server | {"worker": cpu_seconds(pids[1])["process"]} if len(pids) > 1 else server


# -- load generator ----------------------------------------------------------------------------
async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(6000):  # start-up ingests the sample library: slow on a busy machine
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def wait_answering(replies_url: str, users: str) -> None:
    """Wait until the fake WeCom API has received a reply for one of ``users``."""
    async with aiohttp.ClientSession() as session:
        for _ in range(1800):  # a worker's start-up loads models: slow on a busy machine
            async with session.get(replies_url, params={"to": users}) as response:
                if (await response.json())["replies"]:
                    return
            await asyncio.sleep(1)
    raise RuntimeError(f"no reply to {users}* within 30 minutes")


async def replies_received(replies_url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(replies_url) as response:
        return int((await response.json())["replies"])


class Bodies:
    """Pre-encrypted app-text callbacks with distinct MsgIds, from many users."""

    def __init__(self) -> None:
        self._sender = CallbackSender(None, "", token=TOKEN, aes_key=AES_KEY, corp_id=CORP_ID)  # type: ignore[arg-type]
        self._next = int(time.time() * 1000) * 1000

    def make(self, count: int, users: str = "doctor") -> list[tuple[dict[str, str], bytes]]:
        out = []
        for _ in range(count):
            self._next += 1
            user, text = f"{users}{self._next % 997}", MESSAGES[self._next % len(MESSAGES)]
            out.append(self._sender.encrypt(self._sender.app_text_xml(user, text, self._next)))
        return out


@dataclass
class Sample:
    """Requests timed against one server at one concurrency, over several rounds."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: int = 0
    round_rps: list[float] = field(default_factory=list)
    round_p99: list[float] = field(default_factory=list)
    pauses: list[tuple[int, float, float]] = field(default_factory=list)
    tracked: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds on a CPU during the rounds

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile_ms(self, fraction: float) -> float:
        return percentile_ms(self.latencies, fraction)


def percentile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000


async def load(
    url: str, bodies: list[tuple[dict[str, str], bytes]], concurrency: int, sample: Sample
) -> None:
    """Post ``bodies`` with ``concurrency`` connections; add the timings to ``sample``."""
    latencies: list[float] = []
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url.replace("/wecom/callback", GC_PATH)) as response:
            await response.read()  # drop the pauses of the previous round

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
        async with session.get(url.replace("/wecom/callback", GC_PATH)) as response:
            collected = await response.json()
    sample.latencies += latencies
    sample.elapsed += elapsed
    sample.round_rps.append(len(latencies) / elapsed)
    sample.round_p99.append(percentile_ms(latencies, 0.99))
    sample.pauses += [(int(gen), float(wall), float(cpu)) for gen, wall, cpu in collected["pauses"]]
    sample.tracked = int(collected["tracked"])


def is_reference(name: str) -> bool:
    return name.startswith("reference")


def ref_of(name: str) -> str:
    """The reference server a bot is compared with: the one on the same event loop."""
    return "reference-uvloop" if name.endswith("-uvloop") else "reference"


async def print_loops(urls: dict[str, str]) -> None:
    """Print the event loop each server reports running on."""
    kinds = []
    async with aiohttp.ClientSession() as session:
        for name, url in urls.items():
            async with session.get(url.replace("/wecom/callback", GC_PATH)) as response:
                kinds.append(f"{name} {(await response.json()).get('loop', 'not reported')}")
    print(f"event loops: {', '.join(kinds)}", flush=True)


def pause_summary(pauses: list[tuple[int, float, float]]) -> str:
    """Collections per generation with the longest pause, wall / CPU milliseconds."""
    parts = []
    for generation in (0, 1, 2):
        mine = [(wall, cpu) for gen, wall, cpu in pauses if gen == generation]
        if mine:
            wall = max(w for w, _ in mine) * 1000
            cpu = max(c for _, c in mine) * 1000
            parts.append(f"gen{generation} {len(mine)}× max {wall:.1f}/{cpu:.1f} ms")
    return ", ".join(parts) or "none"


async def run(
    args: argparse.Namespace, urls: dict[str, str], pids: dict[str, list[int]], replies_url: str
) -> None:
    """Interleave the servers in short rounds, so load from other jobs hits them alike."""
    for url in urls.values():
        await wait_ready(url.replace("/wecom/callback", "/healthz"))
    bodies = Bodies()
    for name, url in urls.items():  # warm up: connections, imports, Lua script loading
        await load(url, bodies.make(300, users=f"warm-{name}-"), 8, Sample())
    await print_loops(urls)
    started = time.perf_counter()
    for name in urls:  # measure only once every bot's workers answer (a worker process starts
        if not is_reference(name):  # after its server and loads its models first)
            await wait_answering(replies_url, f"warm-{name}-")
            print(f"{name}: answering {time.perf_counter() - started:.0f} s after the warm-up")
    results: dict[tuple[int, str], Sample] = {}
    names = list(urls)
    for concurrency in CONCURRENCY:
        count = args.requests if concurrency > 1 else max(500, args.requests // 4)
        per_round = max(100, count // args.rounds)
        for name in names:
            results[(concurrency, name)] = Sample()
        for round_number in range(args.rounds):
            order = names if round_number % 2 == 0 else names[::-1]
            for name in order:
                sample = results[(concurrency, name)]
                before = cpu_usage(pids[name])
                await load(urls[name], bodies.make(per_round), concurrency, sample)
                for part, seconds in cpu_usage(pids[name]).items():
                    sample.cpu[part] = sample.cpu.get(part, 0.0) + seconds - before[part]
            line = [f"c={concurrency} round {round_number + 1}:"]
            for name in names:
                if not is_reference(name):
                    sample, ref = results[(concurrency, name)], results[(concurrency, ref_of(name))]
                    throughput = sample.round_rps[-1] / ref.round_rps[-1]
                    p99 = sample.round_p99[-1] / ref.round_p99[-1]
                    line.append(f"{name}/{ref_of(name)} throughput {throughput:.0%} p99 {p99:.2f}x")
            print(" ".join(line), flush=True)
    header = f"{'concurrency':>11} {'server':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"\n{header} {'fail':>5}  collector pauses, wall/CPU (tracked objects)")
    for concurrency in CONCURRENCY:
        for name in names:
            result = results[(concurrency, name)]
            print(
                f"{concurrency:>11} {name:>9} {result.rps:>8.0f} {result.percentile_ms(0.5):>8.2f}"
                f" {result.percentile_ms(0.99):>8.2f} {result.failures:>5}"
                f"  {pause_summary(result.pauses)} ({result.tracked})"
            )
    print("\nCPU per request, µs (loop = the server's event-loop thread; worker = its worker")
    print("process, when split; all CPU time taken during that server's rounds)")
    for concurrency in CONCURRENCY:
        for name in names:
            result = results[(concurrency, name)]
            parts = " ".join(
                f"{part} {seconds / len(result.latencies) * 1e6:.0f}"
                for part, seconds in result.cpu.items()
            )
            print(f"{concurrency:>11} {name:>9}  {parts}")
    print()
    async with aiohttp.ClientSession() as session:
        for name, url in urls.items():
            async with session.get(
                url.replace("/wecom/callback", GC_PATH), params={"full": "1"}
            ) as response:
                forced = Sample()
                collected = await response.json()
                forced.pauses = [(int(g), float(w), float(c)) for g, w, c in collected["pauses"]]
                print(f"forced full collection, {name}: {pause_summary(forced.pauses)}"
                      f" ({collected['tracked']} tracked objects not frozen)")  # fmt: skip
    print()
    for concurrency in CONCURRENCY:
        for name in names:
            if is_reference(name):
                continue
            bot, ref = results[(concurrency, name)], results[(concurrency, ref_of(name))]
            rps_ratios = [b / r for b, r in zip(bot.round_rps, ref.round_rps, strict=True)]
            p99_ratios = [b / r for b, r in zip(bot.round_p99, ref.round_p99, strict=True)]
            print(
                f"c={concurrency}: {name}/{ref_of(name)} throughput {bot.rps / ref.rps:.0%}"
                f" (median of rounds {statistics.median(rps_ratios):.0%}),"
                f" p99 {bot.percentile_ms(0.99) / ref.percentile_ms(0.99):.2f}x"
                f" (median of rounds {statistics.median(p99_ratios):.2f}x)"
            )
    print(f"replies the fake WeCom API received so far: {await replies_received(replies_url)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per level (c>1)")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per level")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also serve the bot from another checkout (e.g. a worktree of an older commit)",
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="this checkout's bot answers in a `virtualrep worker` process (serve --no-workers)",
    )
    parser.add_argument(
        "--baseline-worker-process",
        action="store_true",
        help="the baseline answers in a worker process too (its checkout must have `worker`)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="CPU-time cProfile of the bot's server loop to FILE (reference: FILE.reference)",
    )
    parser.add_argument(
        "--event-loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="the loop of this checkout's bot, its worker and the reference (VREP_EVENT_LOOP)",
    )
    parser.add_argument(
        "--compare-loops",
        action="store_true",
        help="serve this bot and the reference on asyncio and on uvloop, in the same run",
    )
    parser.add_argument(
        "--serve", choices=["bot", "worker", "reference", "wecom-api"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key-prefix", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--replies-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        if not args.no_pin:
            pin(LOAD_CPU if args.serve == "wecom-api" else SERVER_CPU)
        if args.serve == "reference":
            serve_reference(args.port, args.profile, args.event_loop)
        elif args.serve == "bot":
            serve_bot(args.port, args.redis_url, args.api_base, args)
        elif args.serve == "worker":
            serve_worker(args.port, args.redis_url, args.api_base, args)
        else:
            serve_wecom_api(args.port, args.replies_port)
        return 0

    if not args.no_pin:
        pin(LOAD_CPU)  # children started from here inherit it until they pin themselves
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
        env["VREP_LOG_LEVEL"] = "WARNING"
        pinning = ["--no-pin"] if args.no_pin else []
        api_port, replies_port = free_port(), free_port()
        api_command = [sys.executable, str(Path(__file__)), "--serve", "wecom-api"]
        api_command += ["--replies-port", str(replies_port)]
        children.append(
            subprocess.Popen([*api_command, "--port", str(api_port), *pinning], env=env)
        )
        loops = (
            {"": "asyncio", "-uvloop": "uvloop"} if args.compare_loops else {"": args.event_loop}
        )
        servers = {f"bot{suffix}": (ROOT, loop) for suffix, loop in loops.items()}
        if args.baseline is not None:  # it runs its own checkout's loop (and takes no option)
            servers["baseline"] = (args.baseline.resolve(), "")
        servers |= {f"reference{suffix}": (ROOT, loop) for suffix, loop in loops.items()}
        urls: dict[str, str] = {}
        pids: dict[str, list[int]] = {}
        for name, (root, event_loop) in servers.items():
            port = free_port()
            script = root / "bench" / "bench_callback.py"
            role = "reference" if is_reference(name) else "bot"
            command = [sys.executable, str(script), "--serve", role, "--port", str(port), *pinning]
            command += ["--redis-url", redis_url, "--api-base", f"http://127.0.0.1:{api_port}"]
            if event_loop:
                command += ["--event-loop", event_loop]
            if name in ("bot", "reference") and args.profile is not None:  # FILE, FILE.reference
                suffix = ".reference" if name == "reference" else ""
                command += ["--profile", f"{args.profile.resolve()}{suffix}"]
            split = args.baseline_worker_process if name == "baseline" else args.worker_process
            if role == "bot" and split:
                shared = ["--data-dir", tempfile.mkdtemp(prefix="vrep-bench-")]
                shared += ["--key-prefix", f"bench-{uuid.uuid4().hex[:8]}:"]
                children.append(
                    subprocess.Popen([*command, *shared, "--worker-process"], env=env, cwd=root)
                )
                worker = [*command[:2], "--serve", "worker", *command[4:], *shared]
                children.append(subprocess.Popen(worker, env=env, cwd=root))
                urls[name] = f"http://127.0.0.1:{port}/wecom/callback"
                pids[name] = [children[-2].pid, children[-1].pid]
                continue
            children.append(subprocess.Popen(command, env=env, cwd=root))
            urls[name] = f"http://127.0.0.1:{port}/wecom/callback"
            pids[name] = [children[-1].pid]
        replies_url = f"http://127.0.0.1:{replies_port}{REPLIES_PATH}"
        asyncio.run(run(args, urls, pids, replies_url))
    finally:
        for child in reversed(children):
            child.terminate()
            try:
                child.wait(timeout=60)  # a bot drains its workers first: slow on a busy machine
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
