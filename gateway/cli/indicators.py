"""``dvc-gateway indicators``: the Decision 766 preview from the gateway's own data.

``indicators --period 2026-11 [--agency A] [--by agency|procedure] [--json]`` prints every
indicator synced data determines (numerator, denominator, ratio, points, what it could not
compute) and the sync ratio per agency; ``indicators explain --period P --indicator 2.1`` lists
the dossiers that cost points on one indicator, the costliest first, each with why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime

from gateway.catalogue.snapshot import Snapshot
from gateway.catalogue.sync import current_snapshot
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.config.schema import GatewayConfig
from gateway.indicators.f766 import LABELS, DossierHistory, parse_period
from gateway.indicators.reading import catalogue_facts, histories, merged_facts, procedure_facts
from gateway.indicators.report import (
    Section,
    as_json,
    explain,
    lines,
    sections,
    sync_by_agency,
)
from gateway.model import PORTAL_TZ
from gateway.store.engines import open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "indicators", help="the Decision 766 indicators from the gateway's own data"
    )
    parser.add_argument(
        "verb",
        nargs="?",
        choices=("table", "explain"),
        default="table",
        help="table (default) or explain: the dossiers that cost points on --indicator",
    )
    add_config(parser)
    parser.add_argument("--period", required=True, help="YYYY-MM, YYYY-Qn or YYYY")
    parser.add_argument("--agency", default="", help="only this agency (MaDinhDanh)")
    parser.add_argument("--by", choices=("agency", "procedure"), default=None)
    parser.add_argument("--indicator", default="", help="with explain: e.g. 2.1")
    parser.add_argument("--limit", type=int, default=50, help="with explain: rows at most")
    parser.add_argument("--as-of", default="", help="compute as at (ISO 8601; default: now)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help="labels (default vi)")
    parser.set_defaults(func=_cmd_indicators)


def _cmd_indicators(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.period)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    if args.verb == "explain" and args.indicator not in LABELS:
        print(f"error: --indicator must be one of {', '.join(LABELS)}")
        return 2
    as_of = datetime.now(PORTAL_TZ)
    if args.as_of:
        parsed = datetime.fromisoformat(args.as_of)
        as_of = parsed if parsed.tzinfo else parsed.replace(tzinfo=PORTAL_TZ)
    config = load_config(args.config)
    found_histories, synced = asyncio.run(_read(config))
    facts = merged_facts(procedure_facts(config), catalogue_facts(synced))
    found = sections(
        found_histories,
        period,
        as_of=as_of,
        procedures=facts,
        points=dict(config.indicators.points),
        agency=args.agency,
        by=args.by,
    )
    if args.verb == "explain":
        return _explain(args, found)
    sync = sync_by_agency(
        [h for h in found_histories if not args.agency or h.local.agency_code == args.agency],
        period,
        as_of=as_of,
    )
    if args.json:
        print(json.dumps(as_json(period, found, sync, as_of), ensure_ascii=False, indent=2))
    else:
        print("\n".join(lines(period, found, sync, lang=args.lang)))
    return 0


def _explain(args: argparse.Namespace, found: list[Section]) -> int:
    rows = []
    for section in found:
        for cost in explain(section, args.indicator, limit=args.limit):
            rows.append((section.key, cost))
    rows.sort(key=lambda item: (-item[1].points, item[1].dossier_code))
    rows = rows[: args.limit]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "section": key,
                        "dossier_code": c.dossier_code,
                        "agency_code": c.agency_code,
                        "procedure_code": c.procedure_code,
                        "points": c.points,
                        "why": c.why,
                    }
                    for key, c in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    vi, en = LABELS[args.indicator][1:]
    print(f"{args.indicator} {vi} ({en}): dossiers that cost points, costliest first")
    for _, cost in rows:
        print(f"{cost.points:>8.4f}  {cost.dossier_code:<30} {cost.procedure_code:<12} {cost.why}")
    print(f"{len(rows)} dossier(s)")
    return 0


async def _read(config: GatewayConfig) -> tuple[list[DossierHistory], Snapshot | None]:
    store = await open_store(config.store, now=time.time(), operator=True)
    try:
        return await histories(store), await current_snapshot(store)
    finally:
        await store.close()
