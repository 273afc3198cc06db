"""The core verbs: ``run``, ``check-config``, ``simulate-portal``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import structlog

from gateway import logs
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.config.schema import ROUTE_NAMES, GatewayConfig

log = structlog.get_logger("gateway.cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's verbs to the ``dvc-gateway`` parser."""
    run = sub.add_parser("run", help="run the daemon")
    add_config(run)
    run.add_argument(
        "--grace-s",
        type=float,
        default=10.0,
        help="how long SIGTERM waits for in-flight deliveries (default 10)",
    )
    run.add_argument(
        "--new-store",
        action="store_true",
        help="create a new SQLite store even though an anchor or audit archives show one "
        "existed at store.path (audited as store_started_new)",
    )
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="check a configuration file, list every error")
    add_config(check)
    check.set_defaults(func=_cmd_check_config)

    sim = sub.add_parser("simulate-portal", help="run the national-portal simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--username", default="simulator")
    sim.add_argument("--password", default="simulator")
    sim.add_argument("--session-ttl-s", type=float, default=600.0)
    sim.add_argument(
        "--fault",
        default="none",
        help="none, down, slow, error, throttle, reset_after_apply or random (docs/simulator.md)",
    )
    sim.add_argument("--fault-rate", type=float, default=0.0, help="for --fault random")
    sim.add_argument("--fault-slow-s", type=float, default=2.0, help="for --fault slow")
    sim.add_argument("--fault-retry-after", default="5", help="for --fault throttle")
    sim.add_argument("--fault-count", type=int, default=0, help="only the next N calls")
    sim.add_argument("--fault-seed", type=int, default=None)
    sim.set_defaults(func=_cmd_simulate)

    demo = sub.add_parser("demo", help="the whole system on this machine, with a summary")
    demo.add_argument("--records", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the demo's database in this folder instead of a temporary one",
    )
    demo.add_argument(
        "--route",
        choices=ROUTE_NAMES,
        default="dvcqg-rest",
        help="the road to the simulated portal (default dvcqg-rest)",
    )
    demo.set_defaults(func=_cmd_demo)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from gateway.app import build_sources  # noqa: PLC0415 - loads adapters only when asked
    from gateway.audit.chain import policy_from_config  # noqa: PLC0415
    from gateway.config.mappings import load_tables  # noqa: PLC0415
    from gateway.sources.configured import check_pull_sources  # noqa: PLC0415

    config = load_config(args.config)
    build_sources(config)
    load_tables(config.routes.mappings)
    pulled = check_pull_sources(config)
    print(f"{args.config}: OK")
    print(f"  portal  {config.portal.base_url} (user {config.portal.username})")
    print(f"  store   {_store_line(config)}")
    print(
        f"  intake  http://{config.intake.host}:{config.intake.port}/api/v1/intake/"
        f"{{{','.join(config.intake.sources)}}}"
    )
    agencies = ", ".join(f"{a} -> {r}" for a, r in config.routes.agencies.items())
    print(f"  routes  default {config.routes.default}" + (f"; {agencies}" if agencies else ""))
    for line in pulled:
        print(f"  source  {line}")
    if config.inbound.enabled:  # the sink plugin loads and takes its options, or says why
        from adapters.registry import create_sink  # noqa: PLC0415

        inbound = config.inbound
        sink = create_sink(inbound.sink.plugin, inbound.sink.options, "inbound.sink")
        pull = f"; pulls {inbound.pull.agency}" if inbound.pull.enabled else ""
        print(f"  inbound http://{inbound.host}:{inbound.port}{inbound.path} -> sink {sink.name}"
              f"{pull}")  # fmt: skip
    audit = config.audit
    policy = policy_from_config(audit, os.environ)  # a bad or required-but-unset key fails here
    key = f"key id {policy.signer.key_id}" if policy.signer else "NOT SET: checkpoints unsigned"
    print(
        f"  audit   ${audit.signing_key_env} {key}; retention "
        f"{audit.retention_days:g} days -> {audit.archive_dir}"
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from gateway.admin.systemd import Notifier  # noqa: PLC0415
    from gateway.app import reload, running  # noqa: PLC0415

    config = load_config(args.config)
    logs.configure(config.logging.format, config.logging.level)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        notifier = Notifier()
        async with running(config, grace_s=args.grace_s, new_store=args.new_store) as gateway:
            reloads: set[asyncio.Task[bool]] = set()

            def on_hup() -> None:
                notifier.notify("RELOADING=1")
                task = asyncio.ensure_future(reload(gateway, args.config))
                reloads.add(task)
                task.add_done_callback(reloads.discard)
                task.add_done_callback(lambda _: notifier.notify("READY=1"))

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            notifier.notify(
                "READY=1", f"STATUS=intake on {config.intake.host}:{gateway.port}, delivering"
            )
            watchdog = asyncio.create_task(notifier.watchdog(stop), name="watchdog")
            await stop.wait()
            log.info("shutdown_requested")
            notifier.notify("STOPPING=1", "STATUS=draining")
            await watchdog

    asyncio.run(serve())
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gateway.simulator.faults import Faults  # noqa: PLC0415
    from gateway.simulator.portal import SimulatorSettings, run_simulator  # noqa: PLC0415

    logs.configure("console", "INFO")
    settings = SimulatorSettings(
        username=args.username, password=args.password, session_ttl_s=args.session_ttl_s
    )
    try:
        faults = Faults(
            mode=args.fault,
            failure_rate=args.fault_rate,
            slow_s=args.fault_slow_s,
            retry_after=args.fault_retry_after,
            count=args.fault_count,
            seed=args.fault_seed,
        )
    except ValueError as exc:
        print(f"error: {exc}")
        return 2

    async def serve() -> None:
        task = asyncio.create_task(
            run_simulator(args.host, args.port, settings, fault_modes=faults)
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        task.cancel()

    asyncio.run(serve())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo  # noqa: PLC0415

    return run_demo(records=args.records, seed=args.seed, keep=args.keep, route=args.route)


def _store_line(config: GatewayConfig) -> str:
    """Where the store is, without the password a DSN may hold."""
    if config.store.engine != "postgresql":
        return f"sqlite {config.store.path}"
    url = urlsplit(config.store.dsn)
    netloc = url.netloc
    if url.password:
        netloc = netloc.replace(f":{url.password}@", ":***@", 1)
    return f"postgresql {urlunsplit(url._replace(netloc=netloc))}"
