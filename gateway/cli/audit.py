"""``dvc-gateway audit ...``: verify, show, search, export, archive the audit log; keygen.

The commands open the database with their own connection, so they work while the daemon runs,
on either store engine (``store.engine``: the SQLite file or the PostgreSQL database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from gateway.audit.archive import (
    AuditQuery,
    AuditRepository,
    archive_old,
    export_csv,
    export_jsonl,
    iso,
    search,
    verify_all,
)
from gateway.audit.chain import AuditEntry, Finding
from gateway.audit.keys import Signer, load_public_keys, public_key_b64
from gateway.cli.operator import add_by, audit_read, who
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.config.schema import GatewayConfig
from gateway.store.engines import open_audit_repository

VN = timezone(timedelta(hours=7))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` and its verbs to the ``dvc-gateway`` parser."""
    audit = sub.add_parser("audit", help="verify, show, search, export or archive the audit log")
    verbs = audit.add_subparsers(required=True, metavar="VERB")

    verify = _verb(verbs, "verify", "check the chain, checkpoints and archives; first bad entry")
    verify.add_argument(
        "--public-key",
        default=None,
        help="base64 key, or several separated by commas (default audit.public_key)",
    )
    verify.add_argument("--anchor", default=None, help="SEQ:HASH seen elsewhere (e.g. in logs)")
    verify.add_argument(
        "--max-gap",
        type=int,
        default=None,
        help="most entries between checkpoints (default audit.checkpoint_every_entries)",
    )
    verify.set_defaults(func=_cmd_verify)

    show = _verb(verbs, "show", "a dossier's whole timeline as a table")
    show.add_argument("dossier_code", metavar="MAHOSO")
    show.set_defaults(func=_cmd_show)

    find = _verb(verbs, "search", "entries by time range, event, route, error")
    find.add_argument("--since", help="ISO time (no offset: Vietnam time)")
    find.add_argument("--until", help="ISO time, exclusive")
    find.add_argument(
        "--event",
        "--status",
        dest="event",
        action="append",
        default=[],
        help="the transition, e.g. delivered, retry_scheduled, dead_lettered (repeatable)",
    )
    find.add_argument("--route", default="")
    find.add_argument("--error-code", default="")
    find.add_argument("--http-status", type=int, default=None)
    find.add_argument("--dossier", default="")
    find.add_argument("--limit", type=int, default=200)
    find.add_argument("--jsonl", action="store_true", help="JSON lines instead of a table")
    find.set_defaults(func=_cmd_search)

    export = _verb(verbs, "export", "a range as JSONL (verifiable) or CSV (for people)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--from-seq", type=int, default=0)
    export.add_argument("--to-seq", type=int, default=None)
    export.add_argument("--since", help="ISO time (no offset: Vietnam time)")
    export.add_argument("--until", help="ISO time, exclusive")
    export.add_argument("--out", type=Path, default=None, help="file (default: stdout)")
    add_by(export, "export")
    export.set_defaults(func=_cmd_export)

    archive = _verb(verbs, "archive", "move entries older than audit.retention_days to files")
    archive.set_defaults(func=_cmd_archive)

    keygen = verbs.add_parser("keygen", help="a new Ed25519 checkpoint key pair")
    keygen.set_defaults(func=_cmd_keygen)


def _verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=text)
    add_config(parser)
    return parser


def _open(config: GatewayConfig, *, writable: bool = False) -> AuditRepository:
    """The configured store's audit log; a missing or unreachable database raises
    StoreUnavailableError, which ``main`` reports in one line with exit code 2."""
    return open_audit_repository(config.store, writable=writable)


def _cmd_verify(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    key_text = args.public_key or config.audit.public_key
    anchor = None
    if args.anchor:
        seq, _, head = args.anchor.partition(":")
        anchor = (int(seq), head)
    repo = _open(config)
    try:
        report = verify_all(
            repo,
            config.audit.archive_dir,
            public_key=load_public_keys(key_text) if key_text else None,
            max_gap=args.max_gap or config.audit.checkpoint_every_entries,
            anchor=anchor,
        )
    finally:
        repo.close()
    if report.finding is not None:
        print(f"FAILED: {report.finding}")
        return 1
    print(
        f"OK: {report.entries} entries, {report.checkpoints} signed checkpoints; "
        f"last seq {report.last_seq}, head {report.last_hash}"
    )
    if report.unsigned_tail:
        print(f"  the newest {report.unsigned_tail} entries await their checkpoint")
    for note in report.notes:
        print(f"  {note}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    repo = _open(config)
    try:
        query = AuditQuery(dossier_code=args.dossier_code)
        with repo.snapshot():
            entries = list(search(repo, query, config.audit.archive_dir))
    finally:
        repo.close()
    if not entries:
        print(f"no audit entries for {args.dossier_code}")
        return 1
    Console(width=160).print(_table(entries, f"audit timeline of {args.dossier_code}"))
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    query = AuditQuery(
        since=_when(args.since),
        until=_when(args.until),
        dossier_code=args.dossier,
        events=tuple(args.event),
        route=args.route,
        error_code=args.error_code,
        http_status=args.http_status,
    )
    repo = _open(config)
    try:
        found = []
        with repo.snapshot():
            for entry in search(repo, query, config.audit.archive_dir):
                found.append(entry)
                if len(found) >= args.limit:
                    break
    finally:
        repo.close()
    if args.jsonl:
        for entry in found:
            print(json.dumps(_as_json(entry), ensure_ascii=False, sort_keys=True))
    else:
        Console(width=160).print(_table(found, f"{len(found)} entries (limit {args.limit})"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """Verify the log as ``audit verify`` does, audit the export with who asked, then write
    it: a log that fails its checks is not exported (exit 1), so no export of a tampered log
    looks sound to the standalone verifier."""
    config = load_config(args.config)
    repo = _open(config)
    try:
        finding = _verified(repo, config)
    finally:
        repo.close()
    if finding is not None:
        print(f"FAILED: {finding}; nothing exported", file=sys.stderr)
        return 1
    detail = {
        "by": who(args.by),
        "format": args.format,
        "from_seq": args.from_seq,
        "to_seq": args.to_seq,
        "since": args.since or "",
        "until": args.until or "",
        "to": "stdout" if args.out is None else "file",
    }
    asyncio.run(audit_read(config, "audit_exported", detail))
    repo = _open(config)
    out: IO[str] = sys.stdout if args.out is None else args.out.open("w", encoding="utf-8")
    try:
        if args.format == "jsonl":
            first, last = _seq_range(repo, args)
            count = export_jsonl(repo, out, from_seq=first, to_seq=last, now=time.time())
        else:
            query = AuditQuery(since=_when(args.since), until=_when(args.until))
            with repo.snapshot():
                entries = (
                    e
                    for e in search(repo, query, config.audit.archive_dir)
                    if e.seq >= args.from_seq and (args.to_seq is None or e.seq <= args.to_seq)
                )
                count = export_csv(entries, out)
    finally:
        repo.close()
        if args.out is not None:
            out.close()
    print(f"exported {count} entries", file=sys.stderr)
    return 0


def _verified(repo: AuditRepository, config: GatewayConfig) -> Finding | None:
    """The first bad entry of the whole log (archives included), checked with the configured
    public key and checkpoint gap, or None."""
    key_text = config.audit.public_key
    report = verify_all(
        repo,
        config.audit.archive_dir,
        public_key=load_public_keys(key_text) if key_text else None,
        max_gap=config.audit.checkpoint_every_entries,
    )
    return report.finding


def _seq_range(repo: AuditRepository, args: argparse.Namespace) -> tuple[int, int | None]:
    """The seq range to export: ``--from-seq``/``--to-seq``, narrowed by ``--since``/``--until``
    (a JSONL export is always a contiguous range, so the verifier can check it)."""
    first, last = args.from_seq, args.to_seq
    if args.since or args.until:
        seqs = [
            e.seq for e in repo.find(AuditQuery(since=_when(args.since), until=_when(args.until)))
        ]
        if not seqs:
            return 1, 0  # an empty range
        first, last = max(first, seqs[0]), seqs[-1] if last is None else min(last, seqs[-1])
    return first, last


def _cmd_archive(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    now = time.time()
    repo = _open(config, writable=True)
    try:
        written = archive_old(
            repo,
            config.audit.archive_dir,
            cutoff=now - config.audit.retention_days * 86400,
            now=now,
        )
    finally:
        repo.close()
    for path in written:
        print(f"archived to {path}")
    if not written:
        print("nothing to archive")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    signer, private = Signer.generate()
    print(f"private (put it in the environment variable audit.signing_key_env): {private}")
    print(f"public  (audit.public_key; give it to auditors): {public_key_b64(signer.public)}")
    return 0


def _when(text: str | None) -> float | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VN)
    return moment.timestamp()


def _as_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "event": entry.event,
        "record_id": entry.record_id,
        "dossier_code": entry.dossier_code,
        "detail": dict(entry.detail),
    }


def _table(entries: Iterable[AuditEntry], title: str) -> Table:
    table = Table(title=title)
    for column in ("seq", "time (UTC+7)", "event", "record", "route", "HTTP", "code", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        d = dict(e.detail)
        local = datetime.fromtimestamp(e.at, VN).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        rest = {
            k: v
            for k, v in d.items()
            if k not in ("route", "http_status", "error_code", "request_body") and v is not None
        }
        table.add_row(
            str(e.seq),
            local,
            e.event,
            "" if e.record_id is None else str(e.record_id),
            str(d.get("route", "")),
            str(d.get("http_status") or ""),
            str(d.get("error_code") or ""),
            ", ".join(f"{k}={v}" for k, v in sorted(rest.items())),
        )
    return table
