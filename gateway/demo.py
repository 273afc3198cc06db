"""``dvc-gateway demo``: the whole system on one machine, nothing to install or configure.

A simulated local one-stop system files realistic dossiers and pushes them to the gateway's
intake API; the gateway (SQLite outbox) delivers them to the built-in portal simulator; a
progress bar shows the flow and a summary ends it, with a check, made by asking the
simulator over HTTP, that the portal holds exactly what the gateway accepted.

A handful of deliberately broken records ride along, so the summary shows intake
rejections and quarantine too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway import logs
from gateway.app import running
from gateway.audit.archive import verify_all
from gateway.audit.keys import Signer, public_key_b64
from gateway.canonical import record_from_json
from gateway.config.schema import (
    AuditConfig,
    DeliveryConfig,
    GatewayConfig,
    IntakeConfig,
    LgspConfig,
    LoggingConfig,
    PortalConfig,
    RetryConfig,
    RouteName,
    RoutesConfig,
    StoreConfig,
    XRoadMemberConfig,
    XRoadRestConfig,
    XRoadSoapConfig,
)
from gateway.encoders.dvcqg_json import encode_dossier, encode_step
from gateway.indicators.f766 import parse_period
from gateway.indicators.reading import histories
from gateway.indicators.report import Section, lines, sections
from gateway.model import PORTAL_TZ, Dossier, ProgressStep
from gateway.simulator.onestop import generate_feed, to_json_records
from gateway.simulator.portal import SimulatorSettings, create_app
from gateway.store.engines import AnyStore
from gateway.store.sqlite.audit import SqliteAuditRepository

PUSH_CHUNK = 250
DEMO_PERIOD = "2026-11"
DRAIN_TIMEOUT_S = 300.0


@dataclass
class DemoReport:
    """What the demo measured; ``ok`` is the portal check."""

    generated: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    dossiers_expected: int = 0
    dossiers_matching: int = 0
    steps_expected: int = 0
    steps_matching: int = 0
    mismatches: list[str] = field(default_factory=list)
    audit: str = ""
    audit_ok: bool = True
    """The demo sets it from verifying the audit log after the run."""
    indicators: list[Section] = field(default_factory=list)
    """The Decision 766 preview of the demo's period (its data is dated November 2026)."""
    indicator_lines: list[str] = field(default_factory=list)
    indicators_as_of: datetime | None = None
    portal_state: dict[str, Any] = field(default_factory=dict)
    """What the simulator held at the end (``/_sim/state``), for checks."""

    @property
    def ok(self) -> bool:
        return (
            self.audit_ok
            and not self.mismatches
            and self.dossiers_matching == self.dossiers_expected
            and self.steps_matching == self.steps_expected
            and self.states.get("queued", 0) + self.states.get("leased", 0) == 0
        )


def broken_records(agency: str) -> list[dict[str, Any]]:
    """Records a careless one-stop system might send: three rejected, two quarantined."""
    base = {
        "kind": "dossier",
        "dossier_code": f"{agency}-000000-00001",
        "agency_code": agency,
        "procedure_code": "1.001193",
        "procedure_name": "Thủ tục đăng ký khai sinh",
        "field_code": "G15-TP07",
        "field_name": "Hộ tịch",
        "status": 2,
        "received_at": "2026-11-27T08:00:00+07:00",
        "due_at": "2026-11-28T08:00:00+07:00",
        "owner_name": "Lê Thị Hoa",
        "summary": "Đăng ký khai sinh",
        "handling_agency_name": "UBND xã",
    }
    missing_code = {k: v for k, v in base.items() if k != "dossier_code"}
    bad_status = {**base, "dossier_code": f"{agency}-000000-00002", "status": 11}
    bad_date = {**base, "dossier_code": f"{agency}-000000-00003", "received_at": "27/11/2026"}
    no_summary = {**base, "dossier_code": f"{agency}-000000-00004", "summary": ""}
    no_due = {**base, "dossier_code": f"{agency}-000000-00005", "due_at": None}
    return [missing_code, bad_status, bad_date, no_summary, no_due]


def run_demo(*, records: int, seed: int, keep: Path | None, route: RouteName = "dvcqg-rest") -> int:
    """Run the demo over ``route``; return 0 when the portal check passes."""
    console = Console(stderr=False)
    with _workdir(keep) as folder, (folder / "gateway.log").open("a", encoding="utf-8") as sink:
        logs.configure("json", "INFO", stream=sink)
        try:
            report = asyncio.run(demo_report(folder, records, seed, console, route))
        finally:
            logs.reset()
    _print_summary(console, report, folder if keep else None)
    return 0 if report.ok else 1


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="dvc-gateway-demo-") as tmp:
        yield Path(tmp)


def demo_routes(portal_url: str, route: RouteName) -> RoutesConfig:
    """Every road to the simulator: it plays the X-Road forwarder, the security server and
    the LGSP too (docs/simulator.md)."""
    return RoutesConfig(
        default=route,
        xroad_rest=XRoadRestConfig(forwarder_url=portal_url),
        xroad_soap=XRoadSoapConfig(
            security_server_url=f"{portal_url}/xroad",
            client=XRoadMemberConfig(member_code="000.00.00.H56", subsystem_code="motcua"),
        ),
        lgsp=LgspConfig(
            base_url=f"{portal_url}/lgsp",
            consumer_key="lgsp-demo-key",
            consumer_secret="lgsp-demo-secret",  # noqa: S106 - the simulator's built-in account
        ),
    )


def demo_config(folder: Path, portal_url: str, route: RouteName = "dvcqg-rest") -> GatewayConfig:
    return GatewayConfig(
        portal=PortalConfig(
            base_url=portal_url,
            username="simulator",
            password="simulator",  # noqa: S106 - the simulator's built-in account
        ),
        store=StoreConfig(path=folder / "gateway.db"),
        intake=IntakeConfig(port=0),
        delivery=DeliveryConfig(
            concurrency=32, batch_size=128, retry=RetryConfig(base_delay_s=0.2, max_delay_s=5)
        ),
        logging=LoggingConfig(),
        routes=demo_routes(portal_url, route),
        audit=AuditConfig(archive_dir=folder / "audit-archive"),
    )


def _check_audit(folder: Path, config: GatewayConfig, signer: Signer, report: DemoReport) -> None:
    """Verify the audit log the run wrote: chain, checkpoints and their signatures."""
    repo = SqliteAuditRepository(config.store.path)
    try:
        checked = verify_all(
            repo,
            config.audit.archive_dir,
            public_key=signer.public,
            max_gap=config.audit.checkpoint_every_entries,
        )
    finally:
        repo.close()
    report.audit_ok = checked.ok
    report.audit = f"OK, {checked.entries} entries" if checked.ok else f"FAILED: {checked.finding}"


def _demo_keys(folder: Path, config: GatewayConfig) -> tuple[Signer, dict[str, str]]:
    """Fresh audit keys for this run; the public key is kept next to the database."""
    signer, private = Signer.generate()
    (folder / "audit-public.key").write_text(public_key_b64(signer.public) + "\n")
    return signer, {
        config.audit.signing_key_env: private,
        config.audit.hash_key_env: secrets.token_hex(32),
    }


async def demo_report(
    folder: Path, count: int, seed: int, console: Console, route: RouteName
) -> DemoReport:
    """Run the demo in ``folder`` and return what it measured (the database stays there)."""
    report = DemoReport()
    portal = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await portal.setup()
    site = web.TCPSite(portal, "127.0.0.1", 0)
    await site.start()
    portal_url = f"http://127.0.0.1:{_port(portal)}"
    start = datetime(2026, 11, 2, 7, 30, tzinfo=PORTAL_TZ)
    feed = to_json_records(generate_feed(count, seed=seed, start=start))
    agency = feed[0]["agency_code"]
    payload = feed + broken_records(agency)
    report.generated = len(payload)
    started = time.perf_counter()
    try:
        config = demo_config(folder, portal_url, route)
        signer, environ = _demo_keys(folder, config)
        async with running(config, environ=environ) as gateway:
            intake_url = f"http://127.0.0.1:{gateway.port}/api/v1/intake/canonical"
            report.totals = await _push_and_watch(payload, intake_url, gateway.store, console)
            report.states = await gateway.store.counts()
            report.seconds = time.perf_counter() - started
            await check_portal(portal_url, gateway.store, report)
            await _preview_indicators(gateway.store, report)
        _check_audit(folder, config, signer, report)
    finally:
        await portal.cleanup()
    return report


async def _push_and_watch(
    payload: list[dict[str, Any]], url: str, store: AnyStore, console: Console
) -> dict[str, int]:
    totals = {"accepted": 0, "duplicate": 0, "quarantined": 0, "rejected": 0}
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        pushed = progress.add_task("pushed to intake", total=len(payload))
        delivered = progress.add_task("delivered to portal", total=None)
        async with aiohttp.ClientSession() as http:
            for i in range(0, len(payload), PUSH_CHUNK):
                chunk = payload[i : i + PUSH_CHUNK]
                async with http.post(url, json=chunk) as response:
                    response.raise_for_status()
                    answer = await response.json()
                for key in totals:
                    totals[key] += answer[key]
                progress.update(pushed, advance=len(chunk))
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            states = await store.counts()
            waiting = states["queued"] + states["leased"]
            done = states["delivered"]
            progress.update(delivered, completed=done, total=done + waiting)
            if waiting == 0:
                break
            await asyncio.sleep(0.1)  # a progress bar's refresh, not synchronisation
    return totals


async def _preview_indicators(store: AnyStore, report: DemoReport) -> None:
    """The Decision 766 preview of the period the demo's data falls in."""
    period = parse_period(DEMO_PERIOD)
    found = await histories(store)
    as_of = datetime.now(PORTAL_TZ)
    report.indicators_as_of = as_of
    report.indicators = sections(found, period, as_of=as_of)
    report.indicator_lines = lines(period, report.indicators, [])


async def check_portal(portal_url: str, store: AnyStore, report: DemoReport) -> None:
    """Ask the simulator what it holds and compare it with what the gateway accepted."""
    async with aiohttp.ClientSession() as http, http.get(f"{portal_url}/_sim/state") as resp:
        state = await resp.json()
    report.portal_state = state
    rows = await store.query(
        "SELECT payload FROM records WHERE state IN ('delivered', 'superseded', "
        "'queued', 'leased', 'dead') ORDER BY id"
    )
    latest: dict[str, dict[str, Any]] = {}
    steps: dict[str, list[dict[str, Any]]] = {}
    for (payload,) in rows:
        record = record_from_json(json.loads(payload))
        if isinstance(record, Dossier):
            latest[record.dossier_code] = encode_dossier(record)
        elif isinstance(record, ProgressStep):
            steps.setdefault(record.dossier_code, []).append(encode_step(record))
    report.dossiers_expected = len(latest)
    report.steps_expected = sum(len(v) for v in steps.values())
    held = state["dossiers"]
    for code, item in latest.items():
        if held.get(code, {}).get("item") == item:
            report.dossiers_matching += 1
        else:
            report.mismatches.append(f"dossier {code} differs on the portal")
    for code in set(held) - set(latest):
        report.mismatches.append(f"portal holds dossier {code} the gateway never accepted")
    for code, expected in steps.items():
        got = state["progress"].get(code, [])
        expected_sorted = sorted(expected, key=lambda s: s["ThoiDiemXuLy"])
        if got == expected_sorted:
            report.steps_matching += len(expected)
        else:
            report.mismatches.append(
                f"progress of {code}: portal has {len(got)} steps, gateway accepted {len(expected)}"
            )


def _print_summary(console: Console, report: DemoReport, kept: Path | None) -> None:
    table = Table(title="dvc-gateway demo", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    t, s = report.totals, report.states
    rate = (s.get("delivered", 0) / report.seconds) if report.seconds else 0.0
    rows = [
        ("records pushed by the one-stop system", report.generated),
        ("accepted (durably committed)", t.get("accepted", 0)),
        ("rejected at intake (reason returned)", t.get("rejected", 0)),
        ("quarantined (stored, portal would refuse)", s.get("quarantined", 0)),
        ("delivered to the portal", s.get("delivered", 0)),
        ("coalesced (newer snapshot replaced it)", s.get("superseded", 0)),
        ("still queued", s.get("queued", 0) + s.get("leased", 0)),
        ("dead-lettered", s.get("dead", 0)),
        ("seconds", f"{report.seconds:.1f}"),
        ("deliveries per second", f"{rate:.0f}"),
        ("portal check: dossiers", f"{report.dossiers_matching}/{report.dossiers_expected}"),
        ("portal check: progress steps", f"{report.steps_matching}/{report.steps_expected}"),
        ("audit log: chain and signatures", report.audit),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    for line in report.mismatches[:10]:
        console.print(f"  mismatch: {line}")
    verdict = "OK: the portal holds exactly what the gateway accepted" if report.ok else "FAILED"
    console.print(f"portal check: {verdict}")
    if report.indicator_lines:
        console.print()
        for line in report.indicator_lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if kept:
        console.print(f"database and logs kept in {kept}")


def _port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("simulator is not listening")  # pragma: no cover
