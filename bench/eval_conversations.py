"""Conversation evaluation: doctor messages and short dialogues through the production bot.

Every item of ``bench/conversations/`` (see its README for the categories and provenance) is
sent through the dispatcher ``virtualrep chat`` uses (``build_runtime``: every middleware and
skill, offline mode, in-memory storage, the sample library), each single message in a
conversation of its own and each dialogue in one conversation; a bare digit after a menu is
that menu's option, as in the console. Doctors are verified (HCP content visible) unless the
item says otherwise. Prints accuracy per category and language for the dev and the held-out
test split, the fact check (every sentence the bot sends about a product is approved content
or the skill's standard wording), and every failure.

    .venv/bin/python bench/eval_conversations.py [--split dev|test|all] [--kb-dir DIR]
    .venv/bin/python bench/eval_conversations.py --messages bench/conversations/heldout_answers.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.dispatcher import Dispatcher  # noqa: E402
from bot.models import Channel, Locale, MenuReply, OutboundMessage, TextReply  # noqa: E402
from bot.profiles import ProfileStore  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage.memory import MemoryStorage  # noqa: E402
from handlers.terminal import console_message  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.sample import ensure_sample_library  # noqa: E402
from skills.qa import answer as qa_texts  # noqa: E402
from skills.qa.textutil import normalise, sentences  # noqa: E402

CORPUS = Path(__file__).with_name("conversations")
TEST_EVERY = 4  # every 4th item of a category (and every 4th dialogue) is held out as "test"
# Categories whose expectation is an approved document answered first.
DOC_CATEGORIES = frozenset({"answer", "safety", "se_question"})
GUARD_OF = {
    "off_label": "off_label",
    "comparative": "comparative",
    "individual": "individual_advice",
    "injection": "prompt_injection",
}
INTENT_CATEGORIES = frozenset(
    {
        "meetings_list",
        "meetings_mine",
        "meetings_cancel",
        "meetings_register",
        "handoff",
        "chitchat",
        "nonsense",
        "thanks",
        "greeting",
        "ask_prompt",
        "handoff_menu",
        "mi_menu",
        "rep",
    }
)
PRODUCT_WORDS = ("诺拉维", "诺拉伐他汀", "noravex", "nolavastatin")
SALES_REASONS = frozenset({"not_helped", "explicit_request", "complaint"})


@dataclass(frozen=True)
class Turn:
    category: str
    expect: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Item:
    """One single message or one dialogue (several turns in one conversation)."""

    item_id: str
    lang: str
    split: str
    turns: tuple[Turn, ...]
    never_rep: bool = False


@dataclass
class Outcome:
    item: Item
    turn: Turn
    passed: bool
    got: str
    fact_violations: list[str] = field(default_factory=list)


def _expect(raw: str) -> tuple[str, ...]:
    return () if raw.strip() in ("", "-") else tuple(raw.split())


def load_items(corpus: Path = CORPUS, messages: Path | None = None) -> list[Item]:
    """Single messages (``messages.tsv``) and dialogues (``dialogues.yaml``), split assigned.

    With ``messages`` (a file in the same format, such as ``heldout_answers.tsv``) only that
    file's messages are loaded, all in the split ``heldout``: a held-out set is scored whole.
    """
    items: list[Item] = []
    counters: dict[str, itertools.count[int]] = defaultdict(itertools.count)
    with (messages or corpus / "messages.tsv").open(encoding="utf-8") as handle:
        rows = [line.rstrip("\n") for line in handle if line.strip() and line[0] != "#"]
    for row in csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE):
        category, lang, expect, text = row
        index = next(counters[category])
        split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "dev"
        turn = Turn(category, _expect(expect), text)
        items.append(
            Item(f"{category}-{index:03d}", lang, "heldout" if messages else split, (turn,))
        )
    if messages:
        return items
    dialogues = yaml.safe_load((corpus / "dialogues.yaml").read_text(encoding="utf-8"))
    for index, dialogue in enumerate(dialogues):
        turns = tuple(Turn(c, _expect(e), str(t)) for c, e, t in dialogue["turns"])
        split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "dev"
        never_rep = bool(dialogue.get("never_rep", False))
        items.append(Item(f"dialogue-{index:03d}", dialogue["lang"], split, turns, never_rep))
    return items


class _NullSender:
    """Outbound seam of the console channel: proactive messages (rep cards) are not scored."""

    channel = Channel.CONSOLE

    async def send(self, message: OutboundMessage) -> None:
        return None


@dataclass
class Bot:
    services: Services
    dispatcher: Dispatcher
    approved: dict[bool, str]  # normalised approved text visible to (verified?) doctors
    fixed: frozenset[str]


def open_bot(kb: KnowledgeBase) -> Bot:
    settings = Settings(kb_sample_library=False)
    services, dispatcher = build_runtime(
        settings, MemoryStorage(), senders={Channel.CONSOLE: _NullSender()}, knowledge=kb
    )
    today = date.today()
    visible: dict[bool, list[str]] = {True: [], False: []}
    for meta in kb.list_documents():
        if not meta.visible_on(today):
            continue
        text = "\n".join(chunk for _, _, chunk in kb.document_chunks(meta.doc_id))
        visible[True].append(text)
        if meta.audience == "public":
            visible[False].append(text)
    fixed = {
        normalise(sentence)
        for locale in Locale
        for make in (
            qa_texts.no_information,
            qa_texts.off_label,
            qa_texts.comparative,
            qa_texts.physician_decision,
            qa_texts.individual_no_information,
            qa_texts.injection_notice,
            qa_texts.hcp_only,
        )
        for sentence in sentences(make(locale))
    }
    approved = {hcp: normalise("\n".join(texts)) for hcp, texts in visible.items()}
    return Bot(services, dispatcher, approved, frozenset(fixed))


def unapproved_sentences(bot: Bot, texts: Iterable[str], hcp: bool) -> list[str]:
    """Sentences naming the product that are neither approved content nor standard wording."""
    found = []
    for text in texts:
        for line in text.splitlines():
            if line.startswith(("来源：", "Source:", "[")):
                continue
            for sentence in sentences(line):
                norm = normalise(sentence)
                if not any(word in norm for word in PRODUCT_WORDS) or norm in bot.fixed:
                    continue
                if norm.rstrip("。.") not in bot.approved[hcp]:
                    found.append(sentence)
    return found


def judge(turn: Turn, ctx: Any, replies: list[Any]) -> tuple[bool, str]:
    """Whether one turn got its category's response, and a short account of what it got."""
    audit: dict[str, Any] = ctx.data.get("audit_qa") or {}
    cited = [hit["doc_id"] for hit in audit.get("cited", [])]
    guards = list(audit.get("guards", []))
    menu = [o.id for r in replies if isinstance(r, MenuReply) for o in r.options]
    escalation = ctx.data.get("audit_escalation")
    ae_case = ctx.data.get("ae_case") or ctx.data.get("ae_opened")
    first = next((r.text if isinstance(r, TextReply) else r.head for r in replies), "")
    got = (
        f"skill={ctx.skill}/{ctx.handler} intent={audit.get('intent')} cited={cited} "
        f"guards={guards} menu={menu} esc={escalation} ae={bool(ae_case)} | {first[:70]!r}"
    )
    category = turn.category
    if category in DOC_CATEGORIES:
        ok = bool(cited) and cited[0] in turn.expect
        if category == "se_question":
            ok = ok and not ae_case
        return ok, got
    if category == "outside":
        return not cited and "qa:mi" in menu and not guards, got
    if category in GUARD_OF:
        ok = GUARD_OF[category] in guards
        if category in ("off_label", "comparative"):
            ok = ok and "handoff:rep" not in menu
        return ok, got
    checks = {
        "ae_report": bool(ae_case),
        "meetings_list": ctx.handler == "list_meetings" or audit.get("intent") == "meetings_list",
        "meetings_mine": ctx.handler == "my_registrations"
        or audit.get("intent") == "meetings_mine",
        "meetings_cancel": ctx.handler in ("my_registrations", "cancel")
        or audit.get("intent") == "meetings_mine",
        "meetings_register": ctx.handler in ("list_meetings", "register", "register_picked")
        or audit.get("intent") == "meetings_list",
        "handoff": escalation is not None,
        "handoff_menu": escalation is not None,
        "chitchat": bool(replies)
        and "qa:mi" not in menu
        and escalation is None
        and "audit_not_helped" not in ctx.data,
        "nonsense": bool(menu) and escalation is None and audit.get("intent") != "mi_request",
        "thanks": audit.get("intent") == "thanks",
        "greeting": ctx.skill == "help" and "qa:ask" in menu,
        "ask_prompt": ctx.handler == "ask",
        "mi_menu": "audit_mi" in ctx.data,
        "rep": bool(replies) and "qa:ask" not in menu and not cited,
    }
    return checks[category], got


async def run_item(bot: Bot, item: Item, user: str, *, verified: bool = True) -> list[Outcome]:
    member = all(turn.category == "rep" for turn in item.turns)
    if not member:
        profiles = ProfileStore(bot.services.storage)
        profile = await profiles.get_or_create(user)
        profile.verified = verified
        await profiles.save(profile)
    outcomes = []
    menu = None
    sales_paged = False
    for turn in item.turns:
        message = console_message(turn.text, user, member, menu)
        ctx = await bot.dispatcher.feed(message)
        replies = list(ctx.replies)
        menus = [r for r in replies if isinstance(r, MenuReply) and r.numbered]
        menu = menus[-1].options if menus else menu
        passed, got = judge(turn, ctx, replies)
        sales_paged |= ctx.data.get("audit_escalation") in SALES_REASONS
        texts = [r.text if isinstance(r, TextReply) else r.head for r in replies]
        if isinstance(ctx.data.get("audit_qa"), dict) or ctx.skill == "help":
            violations = unapproved_sentences(bot, texts, verified or member)
        else:
            violations = []
        outcomes.append(Outcome(item, turn, passed and not violations, got, violations))
    if item.never_rep and sales_paged:
        for outcome in outcomes:
            outcome.passed = False
            outcome.got += " | a sales rep was paged"
    return outcomes


async def evaluate(kb: KnowledgeBase, items: list[Item]) -> list[Outcome]:
    bot = open_bot(kb)
    outcomes: list[Outcome] = []
    for number, item in enumerate(items):
        outcomes += await run_item(bot, item, f"eval-{number:04d}")
    return outcomes


def group_of(category: str) -> str:
    if category in DOC_CATEGORIES:
        return "answerable"
    if category == "outside":
        return "outside library"
    if category in GUARD_OF:
        return "guardrails"
    if category == "ae_report":
        return "AE reports"
    return "intents and menus"


def report(outcomes: list[Outcome], split: str) -> None:
    chosen = [o for o in outcomes if split == "all" or o.item.split == split]
    table: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for outcome in chosen:
        for key in ((outcome.turn.category, outcome.item.lang), (outcome.turn.category, "all")):
            table[key].append(outcome.passed)
        group = f"[{group_of(outcome.turn.category)}]"
        for key in ((group, outcome.item.lang), (group, "all")):
            table[key].append(outcome.passed)
    print(
        f"\n== split: {split} ({len(chosen)} turns, {len({o.item.item_id for o in chosen})} items)"
    )
    print(f"{'category':<22}{'zh':>14}{'en':>14}{'all':>14}")
    for category in sorted({c for c, _ in table}, key=lambda c: (not c.startswith("["), c)):
        cells = []
        for lang in ("zh", "en", "all"):
            results = table.get((category, lang), [])
            cells.append(
                f"{sum(results)}/{len(results)} {100 * sum(results) / len(results):3.0f}%"
                if results
                else "-"
            )
        print(f"{category:<22}" + "".join(f"{cell:>14}" for cell in cells))
    violations = [v for o in chosen for v in o.fact_violations]
    print(f"replies stating an unapproved product fact: {len(violations)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--kb-dir", type=Path, help="sample-library KB (default: a temp dir)")
    parser.add_argument(
        "--messages", type=Path, help="score only this messages file, whole (split 'heldout')"
    )
    args = parser.parse_args()
    items = load_items(messages=args.messages)
    if args.messages:
        args.split = "heldout"
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase.open(Settings(kb_dir=args.kb_dir or Path(tmp) / "kb"))
        ensure_sample_library(kb)
        started = time.perf_counter()
        outcomes = asyncio.run(evaluate(kb, items))
        seconds = time.perf_counter() - started
        kb.close()
    singles = sum(1 for i in items if len(i.turns) == 1 and i.item_id[:8] != "dialogue")
    dialogues = sum(1 for i in items if i.item_id.startswith("dialogue"))
    print(f"{singles} messages, {dialogues} dialogues, {len(outcomes)} turns in {seconds:.1f} s")
    for split in ("dev", "test") if args.split == "all" else (args.split,):
        report(outcomes, split)
    failures = [o for o in outcomes if not o.passed and (args.split in ("all", o.item.split))]
    print(f"\n== failures ({len(failures)})")
    for outcome in failures:
        item, turn = outcome.item, outcome.turn
        print(f"{item.item_id} [{item.split}/{item.lang}] {turn.category} {turn.text!r}")
        print(f"    expected {' '.join(turn.expect) or turn.category}; got {outcome.got}")
        for sentence in outcome.fact_violations:
            print(f"    UNAPPROVED: {sentence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
