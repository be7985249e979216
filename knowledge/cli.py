"""``virtualrep ingest``, ``virtualrep kb list|show|withdraw|reindex`` and ``virtualrep search``.

``ingest --unapproved-eval`` and ``search --jsonl`` form the evaluation contract (stable):
``search`` reads ``{"id","query"}`` lines on stdin and writes one
``{"id","results":[{"doc_id","chunk_id","score","title","approval_code"}, …]}`` line per query,
best first, at most K distinct documents.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.settings import Settings
from knowledge.base import KnowledgeBase, ModelMismatchError
from knowledge.loaders import SOURCE_SUFFIXES, Refusal

# How many chunks to fetch per wanted document, so K distinct documents survive de-duplication.
_CHUNKS_PER_DOC = 4


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the knowledge-base commands on the ``virtualrep`` parser."""
    ingest = subparsers.add_parser("ingest", help="ingest approved documents (files or folders)")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument(
        "--unapproved-eval",
        action="store_true",
        help="evaluation corpus only: accept documents without approval; never shown to users",
    )
    ingest.add_argument("--by", help="who adds the content, for the audit (default: cli:<login>)")
    _kb_dir_option(ingest)
    ingest.set_defaults(handler=cmd_ingest)

    kb = subparsers.add_parser("kb", help="inspect and manage the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    listing = kb_sub.add_parser("list", help="documents with status, version and expiry")
    _kb_dir_option(listing)
    listing.set_defaults(handler=cmd_kb_list)
    show = kb_sub.add_parser("show", help="one document's metadata and passages")
    show.add_argument("doc_id")
    _kb_dir_option(show)
    show.set_defaults(handler=cmd_kb_show)
    withdraw = kb_sub.add_parser("withdraw", help="take a document out of answers at once")
    withdraw.add_argument("doc_id")
    withdraw.add_argument("--by", help="who withdraws it, for the audit (default: cli:<login>)")
    _kb_dir_option(withdraw)
    withdraw.set_defaults(handler=cmd_kb_withdraw)
    reindex = kb_sub.add_parser("reindex", help="re-embed everything after a model change")
    _kb_dir_option(reindex)
    reindex.set_defaults(handler=cmd_kb_reindex)

    search = subparsers.add_parser("search", help="search the knowledge base")
    search.add_argument("query", nargs="?", help="one question (omit with --jsonl)")
    search.add_argument("--k", type=int, default=5, help="documents per query")
    search.add_argument("--jsonl", action="store_true", help='stdin {"id","query"} lines')
    search.add_argument(
        "--audience", choices=("public", "hcp"), default="hcp", help="asker (default hcp)"
    )
    search.add_argument("--product")
    _kb_dir_option(search)
    search.set_defaults(handler=cmd_search)


def _kb_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb-dir", type=Path, help="knowledge base folder (overrides VREP_KB_DIR)")


def _open(args: argparse.Namespace, settings: Settings, **kwargs: Any) -> KnowledgeBase:
    if getattr(args, "kb_dir", None) is not None:
        settings = settings.model_copy(update={"kb_dir": args.kb_dir, "chroma_url": None})
    return KnowledgeBase.open(settings, **kwargs)


def _guarded(run: Any) -> Any:
    def wrapper(args: argparse.Namespace, settings: Settings) -> int:
        try:
            code: int = run(args, settings)
        except (ModelMismatchError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return code

    wrapper.__doc__ = run.__doc__
    return wrapper


@_guarded
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest; exit 1 if any document was refused (the others are still ingested).

    When no given path exists nothing is opened, so a mistyped path leaves no empty
    knowledge base folder behind. An ingest of approved content is audited as the console's
    upload is (``content_upload``: ``--by``, default ``cli:<login>``, the login that ran it,
    the paths and what was added, replaced, unchanged and refused); an ``--unapproved-eval``
    ingest is not: evaluation corpora never reach users, and the benchmarks ingest them into
    throw-away folders, where an audit would open (and create) a store.
    """
    if not any(Path(path).exists() for path in args.paths):
        for path in args.paths:
            print(Refusal(str(path), "path", "does not exist").line, file=sys.stderr)
        return 1
    kb = _open(args, settings)
    try:
        report = kb.ingest_paths(
            args.paths, unapproved_eval=args.unapproved_eval, progress=sys.stderr.isatty()
        )
    finally:
        kb.close()
    if not args.unapproved_eval:
        operator = f"cli:{getpass.getuser()}"
        asyncio.run(
            _audit(
                settings, "content_upload", by=args.by or operator, via=operator,
                paths=[str(Path(path).resolve()) for path in args.paths], added=report.added,
                replaced=report.replaced, unchanged=report.unchanged,
                refused=[refusal.line for refusal in report.refused],
            )
        )  # fmt: skip
    for skipped in report.skipped:
        print(
            f"skipped {skipped}: {skipped.suffix or 'a file without an extension'} is not a "
            f"source format ({', '.join(sorted(SOURCE_SUFFIXES))})",
            file=sys.stderr,
        )
    for refusal in report.refused:
        print(refusal.line, file=sys.stderr)
    print(
        f"added {len(report.added)}, replaced {len(report.replaced)}, unchanged "
        f"{len(report.unchanged)}, refused {len(report.refused)}; {report.chunks_written} chunks "
        f"written ({report.chunks_embedded} embedded) in {report.seconds:.1f} s"
        + (f"; skipped {len(report.skipped)} of another format" if report.skipped else "")
    )
    return 1 if report.refused else 0


@_guarded
def cmd_kb_list(args: argparse.Namespace, settings: Settings) -> int:
    """One line per document; an approved one that answers cannot use today (expired, or
    not valid yet, in ``VREP_TIMEZONE``) says so in its status."""
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    kb = _open(args, settings)
    try:
        for meta in kb.list_documents():
            flag = " eval" if meta.unapproved_eval else ""
            if meta.status == "approved" and meta.expires_on < today:
                flag += " (expired)"
            elif meta.status == "approved" and meta.valid_from and meta.valid_from > today:
                flag += f" (from {meta.valid_from})"
            print(
                f"{meta.doc_id}\t{meta.status}{flag}\tv{meta.version}\texpires {meta.expires_on}"
                f"\t{meta.approval_code}\t{meta.audience}/{meta.language}\t{meta.title}"
            )
    finally:
        kb.close()
    return 0


@_guarded
def cmd_kb_show(args: argparse.Namespace, settings: Settings) -> int:
    kb = _open(args, settings)
    try:
        meta = kb.get_document(args.doc_id)
        if meta is None:
            print(f"virtualrep: no document {args.doc_id}", file=sys.stderr)
            return 1
        print(json.dumps(meta.model_dump(mode="json"), ensure_ascii=False, indent=2))
        for chunk_id, section, text in kb.document_chunks(args.doc_id):
            print(f"\n--- {chunk_id} [{section}]\n{text}")
    finally:
        kb.close()
    return 0


@_guarded
def cmd_kb_withdraw(args: argparse.Namespace, settings: Settings) -> int:
    """Withdraw at once, then audit it as the console does (``content_withdraw``), with
    ``--by`` (default ``cli:<login>``) and the login that ran the command."""
    kb = _open(args, settings)
    try:
        if not kb.withdraw(args.doc_id):
            print(f"virtualrep: no document {args.doc_id}", file=sys.stderr)
            return 1
    finally:
        kb.close()
    operator = f"cli:{getpass.getuser()}"
    asyncio.run(
        _audit(
            settings, "content_withdraw", doc_id=args.doc_id, by=args.by or operator, via=operator
        )
    )
    print(f"withdrawn {args.doc_id}")
    return 0


async def _audit(settings: Settings, kind: str, **fields: Any) -> None:
    """One record in the audit trail of the configured store and records."""
    from bot.audit import AuditLog
    from bot.resources import open_storage
    from records import open_records

    async with open_storage(settings) as storage, open_records(settings) as records:
        await AuditLog(storage, records).record(kind, datetime.now(UTC), **fields)


@_guarded
def cmd_kb_reindex(args: argparse.Namespace, settings: Settings) -> int:
    kb = _open(args, settings, allow_model_change=True)
    try:
        count = kb.reindex(progress=sys.stderr.isatty())
    finally:
        kb.close()
    print(f"re-embedded {count} chunks with {kb.model_id}")
    return 0


@_guarded
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """One query (human-readable) or the JSONL evaluation contract (includes eval corpora)."""
    kb = _open(args, settings)
    audiences = frozenset({"public", "hcp"} if args.audience == "hcp" else {"public"})
    try:
        if not args.jsonl:
            if not args.query:
                print("error: give a query or --jsonl", file=sys.stderr)
                return 2
            for hit in kb.search(args.query, args.k, audiences=audiences, product=args.product):
                print(f"{hit.rank_score:.3f}\t{hit.doc_id}\t{hit.section}\t{hit.citation}")
                print(f"\t{hit.text[:200]}")
            return 0
        for line in sys.stdin:
            if not line.strip():
                continue
            row = json.loads(line)
            hits = kb.search(
                str(row["query"]),
                args.k * _CHUNKS_PER_DOC,
                audiences=audiences,
                product=args.product,
                include_unapproved_eval=True,
            )
            results: list[dict[str, Any]] = []
            seen: set[str] = set()
            for hit in hits:
                if hit.doc_id in seen:
                    continue
                seen.add(hit.doc_id)
                results.append(
                    {
                        "doc_id": hit.doc_id,
                        "chunk_id": hit.chunk_id,
                        "score": round(hit.rank_score, 6),
                        "title": hit.title,
                        "approval_code": hit.approval_code,
                    }
                )
                if len(results) == args.k:
                    break
            print(json.dumps({"id": row["id"], "results": results}, ensure_ascii=False), flush=True)
    finally:
        kb.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m knowledge.cli``) until ``virtualrep`` wires these in."""
    from bot.settings import load_settings

    parser = argparse.ArgumentParser(prog="virtualrep")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    handler: Any = args.handler
    return int(handler(args, load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
