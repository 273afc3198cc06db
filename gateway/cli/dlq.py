"""Operator verbs for the queue: ``status``, ``dlq list``, ``dlq show``, ``replay``.

They run next to a live daemon (SQLite: as a second writer without the process lock;
PostgreSQL: as one more client). A replay is audited with who asked: ``--by`` or the OS user.
Records *blocked* behind a dead-lettered or quarantined snapshot (they cannot go until an
operator acts) are shown by ``status`` and ``dlq list`` with the record that blocks them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gateway.config.loading import load_config
from gateway.model import PORTAL_TZ
from gateway.store.contract import BlockedDossier, DeadFilter, DeadLetter
from gateway.store.engines import AnyStore, open_store

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="records per state, blocked records, next attempt")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument(
        "--json", action="store_true", help="one JSON object, with per-dossier blocks"
    )
    status.set_defaults(func=_cmd_status)

    dlq = sub.add_parser("dlq", help="the dead-letter list")
    verbs = dlq.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="dead letters, oldest first")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(func=_cmd_list)
    show = verbs.add_parser("show", help="one dead letter with the portal's answer")
    show.add_argument("--config", type=Path, required=True)
    show.add_argument("record_id", type=int)
    show.add_argument(
        "--payload", action="store_true", help="also print the record (holds personal data)"
    )
    show.set_defaults(func=_cmd_show)

    replay = sub.add_parser("replay", help="queue dead letters again (audited with --by)")
    _filters(replay)
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--by", default="", help="who asked (default: the OS user)")
    replay.set_defaults(func=_cmd_replay)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--id", type=int, action="append", default=[], dest="ids")
    parser.add_argument("--dossier", default="", help="MaHoSo")
    parser.add_argument("--code", default="", help="the portal's error_code")
    parser.add_argument("--since", default="", help="dead-lettered at or after (ISO 8601)")
    parser.add_argument("--quarantined", action="store_true", help="include quarantined records")


def _where(args: argparse.Namespace) -> DeadFilter:
    since = None
    if args.since:
        when = datetime.fromisoformat(args.since)
        since = (when if when.tzinfo else when.replace(tzinfo=PORTAL_TZ)).timestamp()
    return DeadFilter(
        record_ids=tuple(args.ids),
        dossier_code=args.dossier,
        portal_code=args.code,
        since=since,
        include_quarantined=args.quarantined,
    )


def _with_store(args: argparse.Namespace, work: Callable[[AnyStore], Awaitable[T]]) -> T:
    config = load_config(args.config)

    async def run() -> T:
        store = await open_store(config.store, now=time.time(), operator=True)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, PORTAL_TZ).isoformat(timespec="seconds")


def _cmd_status(args: argparse.Namespace) -> int:
    async def work(
        store: AnyStore,
    ) -> tuple[dict[str, int], list[BlockedDossier], float | None]:
        return await store.counts(), await store.blocked(limit=100_000), await store.next_due()

    counts, blocked, due = _with_store(args, work)
    now = time.time()
    held = sum(b.records for b in blocked)
    if args.json:
        document = {
            "states": counts,
            "blocked": held,
            "blocked_dossiers": [_blocked_json(b) for b in blocked],
            "next_attempt_due": None if due is None else _when(max(due, now)),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    for state, n in counts.items():
        print(f"{state:<12}{n:>10}")
    if held:
        print(
            f"{'blocked':<12}{held:>10}  queued behind a dead or quarantined snapshot of "
            f"{len(blocked)} dossier(s): see dlq list"
        )
    if due is not None:
        # A due time in the past belongs to a record waiting for another one of its
        # dossier (in flight, or an earlier step): it goes as soon as that one is done.
        print(f"next attempt due {'now' if due <= now else _when(due)}")
    return 0


def _blocked_json(b: BlockedDossier) -> dict[str, object]:
    return {
        "dossier_code": b.dossier_code,
        "records": b.records,
        "first_record_id": b.first_record_id,
        "blocked_by": b.blocked_by,
        "blocker_state": b.blocker_state,
        "portal_code": b.portal_code,
        "error": b.error,
    }


def _line(d: DeadLetter) -> str:
    error = d.error.replace("\n", " ")[:120]
    code = d.portal_code or "-"
    return (
        f"{d.record_id:>8}  {_when(d.updated_at)}  {d.kind:<8} {d.dossier_code}  {code:>4}  {error}"
    )


def _cmd_list(args: argparse.Namespace) -> int:
    where = _where(args)

    async def work(store: AnyStore) -> tuple[list[DeadLetter], list[BlockedDossier]]:
        return await store.dead_letters(where, limit=args.limit), await store.blocked()

    letters, blocked = _with_store(args, work)
    behind = {b.blocked_by: b for b in blocked}
    for letter in letters:
        line = _line(letter)
        if letter.record_id in behind:
            line += f"  [blocks {behind[letter.record_id].records} queued record(s)]"
        print(line)
    print(f"{len(letters)} dead letter(s)")
    shown = [b for b in blocked if not where.dossier_code or b.dossier_code == where.dossier_code]
    if shown:
        print(f"{sum(b.records for b in shown)} record(s) blocked (replay the record that blocks")
        print("them, or a newer snapshot of the dossier releases them):")
        for b in shown:
            print(
                f"  {b.dossier_code}  {b.records} record(s) from {b.first_record_id}, "
                f"behind {b.blocker_state} record {b.blocked_by}"
            )
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    where = DeadFilter(record_ids=(args.record_id,), include_quarantined=True)

    async def work(store: AnyStore) -> tuple[list[DeadLetter], list[BlockedDossier]]:
        return await store.dead_letters(where, limit=1), await store.blocked()

    letters, blocked = _with_store(args, work)
    if not letters:
        print(f"record {args.record_id} is not dead-lettered or quarantined")
        return 1
    d = letters[0]
    print(f"record       {d.record_id} ({d.kind}, {d.state})")
    print(f"dossier      {d.dossier_code} (agency {d.agency_code})")
    print(f"attempts     {d.attempts}, last at {_when(d.updated_at)}")
    print(f"portal code  {d.portal_code or '-'}")
    print(f"error        {d.error}")
    for b in blocked:
        if b.blocked_by == d.record_id:
            first = b.first_record_id
            print(f"blocks       {b.records} queued record(s) of its dossier, from {first}")
    if args.payload:
        print(json.dumps(json.loads(d.payload), ensure_ascii=False, indent=2))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    where = _where(args)
    if where == DeadFilter(include_quarantined=where.include_quarantined) and not args.all:
        print("say which records: --id, --dossier, --code, --since, or --all")
        return 2
    by = args.by or getpass.getuser()
    ids = _with_store(args, lambda s: s.replay(where, by=by, now=time.time()))
    print(f"{len(ids)} record(s) queued again (by {by})")
    return 0
