"""Operator verbs for the queue: ``status``, ``dlq list``, ``dlq show``, ``replay``.

They run next to a live daemon (SQLite: as a second writer without the process lock;
PostgreSQL: as one more client). A replay and a payload read (``dlq show --payload``) are
audited with who asked (:mod:`gateway.cli.operator`). Records *blocked* behind a
dead-lettered or quarantined snapshot (they cannot go until an operator acts) are shown by
``status`` and ``dlq list`` with the record that blocks them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from gateway.admin.metrics import StoreFigures
from gateway.admin.queries import AgencyRow, Reader
from gateway.cli.operator import add_by, operator_policy, who
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.model import PORTAL_TZ
from gateway.store.contract import BlockedDossier, DeadFilter, DeadLetter
from gateway.store.engines import AnyStore, open_store
from gateway.store.postgres.store import PostgresStore

T = TypeVar("T")
MAX_DRY_RUN = 100_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status", help="records per state, blocked records, ages, what waits per agency"
    )
    add_config(status)
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
    add_config(show)
    show.add_argument("record_id", type=int)
    show.add_argument(
        "--payload",
        action="store_true",
        help="also print the record (holds personal data: audited with who asked)",
    )
    add_by(show, "payload read")
    show.set_defaults(func=_cmd_show)
    resolve = verbs.add_parser(
        "resolve",
        help="mark dead letters settled outside the gateway (never sent; audited with --by)",
    )
    _filters(resolve)
    resolve.add_argument("--all", action="store_true", help="every dead letter")
    resolve.add_argument("--note", default="", help="why (kept in the audit log)")
    resolve.add_argument("--dry-run", action="store_true", help="only count them")
    add_by(resolve, "resolve")
    resolve.set_defaults(func=_cmd_resolve)

    replay = sub.add_parser("replay", help="queue dead letters again (audited with --by)")
    _filters(replay)
    replay.add_argument("--all", action="store_true", help="every dead letter")
    add_by(replay, "replay")
    replay.add_argument(
        "--dry-run", action="store_true", help="only count what would be queued again"
    )
    replay.set_defaults(func=_cmd_replay)


def _filters(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--id", type=int, action="append", default=[], dest="ids")
    parser.add_argument("--dossier", default="", help="MaHoSo")
    parser.add_argument("--code", default="", help="the portal's error_code")
    parser.add_argument("--since", default="", help="dead-lettered at or after (ISO 8601)")
    parser.add_argument("--until", default="", help="dead-lettered before (ISO 8601)")
    parser.add_argument("--quarantined", action="store_true", help="include quarantined records")


def _where(args: argparse.Namespace) -> DeadFilter:
    return DeadFilter(
        record_ids=tuple(args.ids),
        dossier_code=args.dossier,
        portal_code=args.code,
        since=_epoch(args.since),
        until=_epoch(args.until),
        include_quarantined=args.quarantined,
    )


def _epoch(text: str) -> float | None:
    if not text:
        return None
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=PORTAL_TZ)).timestamp()


def _with_store(args: argparse.Namespace, work: Callable[[AnyStore], Awaitable[T]]) -> T:
    config = load_config(args.config)

    async def run() -> T:
        policy = operator_policy(config)  # replays and payload reads are audited
        store = await open_store(config.store, now=time.time(), operator=True, audit=policy)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, PORTAL_TZ).isoformat(timespec="seconds")


def _cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def work(
        store: AnyStore,
    ) -> tuple[StoreFigures, list[AgencyRow], list[BlockedDossier], float | None]:
        reader = Reader(store, numbered=isinstance(store, PostgresStore))
        return (
            await reader.figures(),
            await reader.agencies(),
            await store.blocked(limit=100_000),
            await store.next_due(),
        )

    figures, agencies, blocked, due = _with_store(args, work)
    now = time.time()
    held = sum(b.records for b in blocked)
    rows = [
        {
            "agency": a.agency_code,
            "route": config.routes.agencies.get(a.agency_code, config.routes.default),
            "queued": a.queued,
            "leased": a.leased,
            "dead": a.dead,
            "blocked": a.blocked,
            "oldest_waiting_age_s": None
            if a.oldest_waiting_at is None
            else round(now - a.oldest_waiting_at, 1),
            "next_attempt_at": None if a.next_attempt_at is None else _when(a.next_attempt_at),
        }
        for a in agencies
    ]
    if args.json:
        document = {
            "states": figures.states,
            "blocked": held,
            "blocked_dossiers": [_blocked_json(b) for b in blocked],
            "oldest_queued_age_s": figures.oldest_queued_s,
            "next_attempt_due": None if due is None else _when(max(due, now)),
            "agencies": rows,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    for state, n in figures.states.items():
        print(f"{state:<12}{n:>10}")
    if held:
        print(
            f"{'blocked':<12}{held:>10}  queued behind a dead or quarantined snapshot of "
            f"{len(blocked)} dossier(s): see dlq list"
        )
    if figures.oldest_queued_s is not None:
        print(f"oldest queued record waits for {_age(figures.oldest_queued_s)}")
    if due is not None:
        # A due time in the past belongs to a record waiting for another one of its
        # dossier (in flight, or an earlier step): it goes as soon as that one is done.
        print(f"next attempt due {'now' if due <= now else _when(due)}")
    if rows:
        print()
        print(
            f"{'agency':<20} {'route':<11} {'queued':>7} {'leased':>7} {'dead':>6} "
            f"{'blocked':>8}  oldest"
        )
        for r in rows:
            age = r["oldest_waiting_age_s"]
            assert age is None or isinstance(age, float)
            print(
                f"{r['agency']:<20} {r['route']:<11} {r['queued']:>7} {r['leased']:>7} "
                f"{r['dead']:>6} {r['blocked']:>8}  {'-' if age is None else _age(age)}"
            )
    return 0


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
    by = who(args.by) if args.payload else ""

    async def work(store: AnyStore) -> tuple[list[DeadLetter], list[BlockedDossier]]:
        found = await store.dead_letters(where, limit=1)
        if found and args.payload:  # audited before the personal data is printed
            letter = found[0]
            detail = {"by": by, "record_id": letter.record_id, "dossier_code": letter.dossier_code}
            await store.audit_system("payload_read", detail, now=time.time())
        return found, await store.blocked()

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


def _cmd_resolve(args: argparse.Namespace) -> int:
    """A dead letter settled by hand (a snapshot entered on the portal, a duplicate the portal
    already holds): it leaves the list and is never sent; a resolved snapshot releases the
    steps behind it (the portal has the dossier)."""
    where = _where(args)
    if where == DeadFilter(include_quarantined=where.include_quarantined) and not args.all:
        print("say which records: --id, --dossier, --code, --since, --until, or --all")
        return 2
    if args.dry_run:
        letters = _with_store(args, lambda s: s.dead_letters(where, limit=MAX_DRY_RUN))
        print(f"{len(letters)} record(s) would be resolved")
        return 0
    by = who(args.by)
    ids = _with_store(args, lambda s: s.resolve(where, by=by, note=args.note, now=time.time()))
    print(f"{len(ids)} record(s) resolved (by {by})")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    where = _where(args)
    if where == DeadFilter(include_quarantined=where.include_quarantined) and not args.all:
        print("say which records: --id, --dossier, --code, --since, or --all")
        return 2
    by = who(args.by)
    if args.dry_run:
        letters = _with_store(args, lambda s: s.dead_letters(where, limit=MAX_DRY_RUN))
        print(f"{len(letters)} record(s) would be queued again")
        return 0
    ids = _with_store(args, lambda s: s.replay(where, by=by, now=time.time()))
    print(f"{len(ids)} record(s) queued again (by {by})")
    return 0
