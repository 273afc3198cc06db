"""Operator verbs for portal-hosted dossiers: ``inbound list`` and ``inbound replay``.

``list`` shows the delivery jobs (to the sink) or the status reports (to the portal) in a
state, dead ones by default, with the last error; ``replay`` queues dead ones again, audited
with who asked. Both run next to a live daemon, like ``dlq`` and ``replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.cli.operator import add_by, operator_policy, who
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.store.engines import AnyStore, open_store
from gateway.store.inbound import JobKind

T = TypeVar("T")
KINDS = {"sink": JobKind.DELIVER, "report": JobKind.REPORT}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inbound = sub.add_parser("inbound", help="dossiers filed on the portal: sink and reports")
    verbs = inbound.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="jobs in a state (dead by default)")
    _common(listing)
    listing.add_argument("--state", default="dead", help="queued, leased, delivered, dead")
    listing.set_defaults(func=_cmd_list)
    replay = verbs.add_parser("replay", help="queue dead jobs again (audited with --by)")
    _common(replay)
    replay.add_argument("--dossier", default="", help="only this MaHoSo")
    replay.add_argument("--all", action="store_true", help="every dead job of the kind")
    add_by(replay, "replay")
    replay.set_defaults(func=_cmd_replay)


def _common(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--kind", choices=sorted(KINDS), default="sink", help="sink deliveries or status reports"
    )


def _with_store(args: argparse.Namespace, work: Callable[[AnyStore], Awaitable[T]]) -> T:
    config = load_config(args.config)

    async def run() -> T:
        store = await open_store(
            config.store, now=time.time(), operator=True, audit=operator_policy(config)
        )
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _cmd_list(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    rows = _with_store(args, lambda s: s.inbound.jobs(kind, state=args.state))
    for row in rows:
        print(f"{row.job_id:>8}  {row.dossier_code:<32} {row.state:<9} {row.attempts:>3}  "
              f"{row.last_error}")  # fmt: skip
    print(f"{len(rows)} {args.kind} job(s) {args.state}")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    if not args.dossier and not args.all:
        print("say which jobs: --dossier MAHOSO, or --all")
        return 2
    kind, by = KINDS[args.kind], who(args.by)
    ids = _with_store(
        args,
        lambda s: s.inbound.replay_jobs(kind, dossier_code=args.dossier, by=by, now=time.time()),
    )
    print(f"{len(ids)} {args.kind} job(s) queued again (by {by})")
    return 0
