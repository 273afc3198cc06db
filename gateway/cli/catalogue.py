"""Two-way verbs (issue 16): ``catalogue sync|show``, ``mappings suggest|apply``, ``reconcile``,
``resync``.

They run next to a live daemon (like ``replay``) and talk to the portal over the route the
configuration gives the agency (``dvcqg-rest``, ``xroad-rest`` or ``lgsp``). What they change
is audited: ``catalogue_synced``, ``mappings_applied`` and ``replayed`` (with ``--by``),
``reconcile_requeued``, ``resync_requeued``. The daemon reads a new catalogue or mapping
table on its next start or SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.drafts import draft, merge_table, read_draft, release_fixed, write_draft
from gateway.catalogue.reconcile import DriftReport, reconcile, resync
from gateway.catalogue.snapshot import KINDS, Snapshot
from gateway.catalogue.sync import SyncReport, calling_agency, current_snapshot, sync_catalogue
from gateway.cli.operator import add_by, operator_policy, who
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.config.mappings import load_tables
from gateway.config.schema import GatewayConfig
from gateway.delivery.ratelimit import RateLimit
from gateway.errors import ConfigError, GatewayError, Problem
from gateway.model import PORTAL_TZ
from gateway.routes.router import RouterRoute, build_router
from gateway.sources.intake import portal_validator
from gateway.store.engines import AnyStore, open_store

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalogue = sub.add_parser(
        "catalogue", help="the national catalogue (procedures, fields, agencies)"
    )
    verbs = catalogue.add_subparsers(required=True, metavar="VERB")
    sync = verbs.add_parser("sync", help="fetch the catalogue from the portal, store a new version")
    add_config(sync)
    sync.add_argument(
        "--agency", default="", help="the madonvi to call as (default: catalogue.agency)"
    )
    sync.add_argument(
        "--max-details", type=int, default=None, help="LayThuTuc calls this run at most"
    )
    sync.add_argument("--json", action="store_true", help="machine-readable output")
    sync.set_defaults(func=_cmd_sync)
    show = verbs.add_parser("show", help="the latest synced version, counts per kind")
    add_config(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_show)

    mappings = sub.add_parser("mappings", help="mapping tables from the catalogue")
    mverbs = mappings.add_subparsers(required=True, metavar="VERB")
    suggest = mverbs.add_parser("suggest", help="write a mapping draft for unknown local codes")
    add_config(suggest)
    suggest.add_argument("--out", type=Path, default=None, help="the draft file (default stdout)")
    suggest.set_defaults(func=_cmd_suggest)
    apply = mverbs.add_parser("apply", help="check a reviewed draft, write the tables, release")
    add_config(apply)
    apply.add_argument("draft", type=Path)
    add_by(apply, "release of quarantined records")
    apply.set_defaults(func=_cmd_apply)

    for name, text in (
        ("reconcile", "compare acknowledged dossiers with what the portal holds"),
        ("resync", "queue every acknowledged dossier and step of a range again"),
    ):
        verb = sub.add_parser(name, help=text)
        add_config(verb)
        verb.add_argument("--since", required=True, help="acknowledged at or after (ISO 8601)")
        verb.add_argument("--until", default="", help="acknowledged before (ISO 8601)")
        verb.add_argument("--agency", default="", help="only this agency (madonvi)")
        add_by(verb, name)
        if name == "reconcile":
            verb.add_argument("--fix", action="store_true", help="queue what is missing or behind")
            verb.add_argument("--json", action="store_true")
            verb.set_defaults(func=_cmd_reconcile)
        else:
            verb.set_defaults(func=_cmd_resync)


def _epoch(text: str) -> float | None:
    if not text:
        return None
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=PORTAL_TZ)).timestamp()


def _run(
    config: GatewayConfig,
    work: Callable[[AnyStore, RouterRoute | None], Awaitable[T]],
    *,
    route: bool,
) -> T:
    async def run() -> T:
        store = await open_store(
            config.store, now=time.time(), operator=True, audit=operator_policy(config)
        )
        router = build_router(config) if route else None
        try:
            return await work(store, router)
        finally:
            if router is not None:
                await router.close()
            await store.close()

    return asyncio.run(run())


def _limiter(config: GatewayConfig) -> RateLimit:
    return RateLimit(config.catalogue.rate_per_s, time.monotonic)


def _cmd_sync(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    agency = calling_agency(config, args.agency)
    bound = config.catalogue.max_details if args.max_details is None else args.max_details
    interactive = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if interactive:
            width = 30
            filled = width * done // max(total, 1)
            print(
                f"\r  LayThuTuc [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                end="",
                file=sys.stderr,
            )

    async def work(store: AnyStore, router: RouterRoute | None) -> SyncReport:
        assert router is not None
        return await sync_catalogue(
            router,
            store,
            agency=agency,
            clock=time.time,
            limiter=_limiter(config),
            max_details=bound,
            progress=progress,
        )

    report = _run(config, work, route=True)
    if interactive:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(_sync_json(report), ensure_ascii=False, indent=2))
        return 0
    if not report.complete:
        print(
            f"catalogue sync unfinished: {report.fetched} procedure details fetched this run "
            f"({report.resumed} from an earlier run), {report.remaining} to go; "
            "run it again to resume"
        )
        return 0
    state = (
        f"stored as version {report.version}"
        if report.stored
        else (f"unchanged since version {report.version}")
    )
    print(
        f"catalogue synced: {state} ({report.calls} calls, {report.fetched} details fetched, "
        f"{report.resumed} resumed)"
    )
    print(_changes_table(report.changes))
    return 0


def _sync_json(report: SyncReport) -> dict[str, object]:
    return {
        "complete": report.complete,
        "version": report.version,
        "stored": report.stored,
        "calls": report.calls,
        "fetched": report.fetched,
        "resumed": report.resumed,
        "remaining": report.remaining,
        "summary": report.summary(),
        "changes": report.changes,
    }


def _changes_table(changes: dict[str, dict[str, object]]) -> str:
    lines = [
        f"  {'kind':<10} {'total':>6} {'added':>6} {'removed':>8} {'renamed':>8} {'recoded':>8}"
    ]
    for kind in KINDS:
        c = changes.get(kind, {})

        def n(key: str, c: dict[str, object] = c) -> int:
            value = c.get(key, [])
            return len(value) if isinstance(value, list) else 0

        lines.append(
            f"  {kind:<10} {c.get('total', 0)!s:>6} {n('added'):>6} {n('removed'):>8} "
            f"{n('renamed'):>8} {n('recoded'):>8}"
        )
    for kind in KINDS:
        c = changes.get(kind, {})
        recoded, renamed = c.get("recoded", []), c.get("renamed", [])
        for item in recoded if isinstance(recoded, list) else []:
            lines.append(f"  {kind} re-coded: {item['from']} -> {item['to']} ({item['name']})")
        for item in renamed if isinstance(renamed, list) else []:
            lines.append(f"  {kind} renamed: {item['code']}: {item['from']} -> {item['to']}")
    return "\n".join(lines)


def _cmd_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def work(store: AnyStore, _: RouterRoute | None) -> tuple[int, float, str] | None:
        return await store.latest_catalogue()

    latest = _run(config, work, route=False)
    if latest is None:
        print("no catalogue synced yet: run dvc-gateway catalogue sync")
        return 1
    version, at, content = latest
    snapshot = Snapshot.from_json(content)
    figures = {kind: len(snapshot.names(kind)) for kind in KINDS}
    if args.json:
        print(json.dumps({"version": version, "synced_at": at, **figures}))
    else:
        when = datetime.fromtimestamp(at, PORTAL_TZ).isoformat(timespec="seconds")
        plural = {"procedure": "procedures", "field": "fields", "agency": "agencies"}
        listed = ", ".join(f"{n} {plural[k]}" for k, n in figures.items())
        print(f"catalogue version {version}, synced {when}: {listed}")
    return 0


async def _catalogue_or_fail(store: AnyStore) -> Snapshot:
    snapshot = await current_snapshot(store)
    if snapshot is None:
        raise GatewayError("no catalogue synced yet: run dvc-gateway catalogue sync first")
    return snapshot


def _cmd_suggest(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    tables = load_tables(config.routes.mappings)

    async def work(store: AnyStore, _: RouterRoute | None) -> str:
        return write_draft(await draft(store, tables, await _catalogue_or_fail(store)))

    text = _run(config, work, route=False)
    lines = text.count("\n") - 1
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(
            f"{lines} unknown code(s) written to {args.out}: review the dvcqg column, then "
            f"dvc-gateway mappings apply {args.out}"
        )
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    by = who(args.by)

    async def work(store: AnyStore, _: RouterRoute | None) -> tuple[int, list[int], int]:
        catalogue = await _catalogue_or_fail(store)
        chosen = read_draft(args.draft, catalogue)
        written = 0
        for kind, table in (("procedure", "procedures"), ("agency", "agencies")):
            rows = {local: code for k, local, code in chosen if k == kind}
            if not rows:
                continue
            path_text = getattr(config.routes.mappings, table)
            if not path_text:
                raise ConfigError(
                    [
                        Problem(
                            f"routes.mappings.{table}",
                            "not set: name the table file the mappings go to",
                        )
                    ]
                )
            written += merge_table(Path(path_text), rows)
        tables = load_tables(config.routes.mappings)  # the files as now written, checked again
        now = time.time()
        await store.audit_system(
            "mappings_applied",
            {"by": by, "draft": str(args.draft), "mappings": [list(c) for c in chosen]},
            now=now,
        )
        validate = with_catalogue(portal_validator(tables), tables, catalogue)
        released, still = await release_fixed(store, validate, by=by, now=now)
        return written, released, still

    written, released, still = _run(config, work, route=False)
    print(
        f"{written} mapping(s) written; {len(released)} quarantined record(s) released, "
        f"{still} still quarantined; reload the daemon (SIGHUP) so it uses the new tables"
    )
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    since = _epoch(args.since)
    assert since is not None

    async def work(store: AnyStore, router: RouterRoute | None) -> DriftReport:
        assert router is not None
        report = await reconcile(
            store,
            router,
            router.tables,
            since=since,
            until=_epoch(args.until),
            agency=args.agency,
            progress_service=config.portal.progress_lookup_service,
            fix=args.fix,
            by=who(args.by),
            clock=time.time,
            limiter=_limiter(config),
        )
        detail = {"by": who(args.by), "since": args.since, "until": args.until, "fix": args.fix}
        detail |= {"agency": args.agency, "checked": report.checked, "counts": report.counts()}
        await store.audit_system("reconciled", detail, now=time.time())
        return report

    report = _run(config, work, route=True)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return 1 if report.drifts and not args.fix else 0
    print(f"{report.checked} dossier(s) checked, {len(report.drifts)} with drift")
    for agency, kinds in report.counts().items():
        print(f"  {agency:<20} " + ", ".join(f"{kind} {n}" for kind, n in kinds.items()))
    for drift in report.drifts[:50]:
        print(f"  {drift.dossier_code:<32} {drift.kind:<17} {drift.detail}".rstrip())
    if len(report.drifts) > 50:
        print(f"  … {len(report.drifts) - 50} more (--json lists all)")
    if args.fix:
        print(f"{len(report.requeued)} record(s) queued again")
    return 1 if report.drifts and not args.fix else 0


def _cmd_resync(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    since = _epoch(args.since)
    assert since is not None

    async def work(store: AnyStore, _: RouterRoute | None) -> list[int]:
        return await resync(
            store,
            since=since,
            until=_epoch(args.until),
            agency=args.agency,
            by=who(args.by),
            clock=time.time,
        )

    queued = _run(config, work, route=False)
    print(f"{len(queued)} record(s) queued again")
    return 0
