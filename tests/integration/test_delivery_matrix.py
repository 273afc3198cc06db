"""Once, in order, never backwards: every road and both engines, under faults and SIGKILLs.

For each road (dvcqg-rest, xroad-rest, xroad-soap, lgsp) and engine (SQLite, PostgreSQL) a
real daemon delivers the feed of :mod:`tests.matrix` to a hostile simulator (500, 429 with
Retry-After, reset after apply, 5-second sessions, refused batches applied in part) and is
SIGKILLed while it delivers. At the end: 0 duplicates, 0 order violations, 0 status
regressions on the portal; every acknowledged record delivered, or dead-lettered with the
portal's reason when the portal refused it on its content (those only); 0 records queued.

``make test`` runs the small size (50 dossiers, 2 kills per cell); ``make soak``
(``DVCGW_SOAK=1``) the full size (800 dossiers = 3,200 records, 8 kills per cell).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.matrix import FULL, REFUSED_EVERY, run_matrix, size
from tests.pg import pg_database
from tests.wire import ROUTES

SCALE = size()


@asynccontextmanager
async def engine_store(engine: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    if engine == "postgresql":
        async with pg_database() as dsn:
            yield {"engine": "postgresql", "dsn": dsn}
    else:
        yield {"path": str(tmp_path / "gw.db")}


@pytest.mark.timeout(900 if SCALE is FULL else 240)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("route", ROUTES)
async def test_once_in_order_never_backwards(tmp_path: Path, route: str, engine: str) -> None:
    async with engine_store(engine, tmp_path) as store:
        run = await run_matrix(tmp_path, route, store, SCALE, seed=ROUTES.index(route) + 11)
    print(run.line(route, engine))
    refused = SCALE.dossiers // REFUSED_EVERY
    stale = max(1, SCALE.dossiers // 10)
    assert run.kills == SCALE.kills
    assert run.acknowledged == 4 * SCALE.dossiers + stale
    assert run.report["duplicates"] == 0, run.report["dossiers"]["duplicates"]
    assert run.report["order_violations"] == 0, run.report["dossiers"]["order_violations"]
    assert run.report["status_regressions"] == 0, run.report["dossiers"]["status_regressions"]
    assert run.states.get("queued", 0) + run.states.get("leased", 0) == 0
    assert run.complete  # every dossier finished on the portal, with its steps
    # Only what the portal refused on its content is dead, with the portal's reason.
    assert len(run.dead) == refused
    assert all(kind == "progress" and "từ chối" in error for kind, error in run.dead)
    assert run.states["delivered"] + run.states.get("superseded", 0) + refused == (
        4 * SCALE.dossiers + stale
    )
    assert sum(run.injected.values()) > 0
