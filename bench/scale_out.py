"""Gateway processes sharing one PostgreSQL: delivery time for 1, 2 and 3 processes.

    .venv/bin/python bench/scale_out.py [--dossiers N] [--processes 1,2,3]

Each run creates a throw-away database, starts the daemons (real ``dvc-gateway run``
processes) and one portal simulator, pushes ``4 x N`` records spread over the daemons'
intakes (each dossier's records to one daemon, in order), and times from the first push
until the portal holds every dossier finished with both steps. The one-process run is the
baseline of the same invocation; on a machine with fewer cores than processes (plus the
database and the simulator) more processes cannot be faster, only as fast and safe.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.daemons, tests.pg

from tests.daemons import (
    complete,
    feed,
    free_port,
    push,
    recording_portal,
    start_daemon,
    wait_for_intake,
    write_config,
)
from tests.pg import pg_database


async def deliver(processes: int, dossiers: int, folder: Path) -> float:
    records = feed(0, dossiers)
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(dossiers)]
    shares = [
        [r for i in range(p * 4, len(records), 4 * processes) for r in records[i : i + 4]]
        for p in range(processes)
    ]
    async with pg_database() as dsn, recording_portal() as portal:
        ports = [free_port() for _ in range(processes)]
        store = {"engine": "postgresql", "dsn": dsn}
        configs = [
            write_config(folder, f"p{processes}-{n}", portal.url, ports[n], store)
            for n in range(processes)
        ]
        procs = [
            await start_daemon(c, folder / f"p{processes}-{n}.log") for n, c in enumerate(configs)
        ]
        try:
            for port, proc in zip(ports, procs, strict=True):
                await wait_for_intake(port, proc)

            async def refused() -> None:
                raise RuntimeError("a gateway refused a push")

            async def pusher(n: int) -> None:
                for i in range(0, len(shares[n]), 1000):
                    await push(ports[n], shares[n][i : i + 1000], refused)

            started = time.perf_counter()
            await asyncio.gather(*(pusher(n) for n in range(processes)))
            async with asyncio.timeout(900):
                await portal.when(lambda: complete(portal.state, codes)).wait()
            seconds = time.perf_counter() - started
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await proc.wait()
    return seconds


async def main(dossiers: int, counts: list[int]) -> None:
    n = 4 * dossiers
    print(f"{n} records ({dossiers} dossiers x 4), PostgreSQL, portal simulator on loopback")
    baseline = None
    with tempfile.TemporaryDirectory() as folder:
        for processes in counts:
            seconds = await deliver(processes, dossiers, Path(folder))
            baseline = baseline or seconds
            print(
                f"  {processes} process{'es' if processes > 1 else '  '}  "
                f"{n / seconds:>7.0f} records/s  ({seconds:6.1f} s, "
                f"x{baseline / seconds:.2f} of the first run)"
            )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=2500)
    parser.add_argument("--processes", default="1,2,3")
    return parser.parse_args()


if __name__ == "__main__":
    args = _args()
    asyncio.run(main(args.dossiers, [int(p) for p in args.processes.split(",")]))
