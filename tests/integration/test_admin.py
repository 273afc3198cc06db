"""The admin API of a running gateway: the role table, readiness, metrics, replay, audit."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.admin.auth import Role
from gateway.admin.endpoints import ENDPOINTS, Endpoint
from gateway.canonical import record_to_json
from gateway.config.schema import BreakerConfig, DeliveryConfig, RetryConfig
from gateway.model import PORTAL_TZ
from gateway.store.contract import DeadFilter
from tests.admin_rig import TOKENS, AdminRig, admin_gateway
from tests.factories import dossier

CODE = "000.00.00.H56-261102-00001"


def canonical(code: str, **changes: Any) -> dict[str, Any]:

    return record_to_json(dossier(code, **changes))


def sample_path(endpoint: Endpoint) -> str:
    return (
        endpoint.path.replace("{code}", CODE).replace("{id}", "1").replace("{route}", "dvcqg-rest")
    )


SAFE_BODIES = {
    "replay": {"all": True, "dry_run": True},
    "resolve": {"all": True, "dry_run": True},
    "pause": {},
    "resume": {},
}


async def call(
    http: aiohttp.ClientSession, rig: AdminRig, endpoint: Endpoint, headers: dict[str, str]
) -> int:
    url = rig.admin_url + sample_path(endpoint)
    body = SAFE_BODIES.get(endpoint.handler)
    params = {"dossier": CODE} if endpoint.handler == "records" else None
    async with http.request(
        endpoint.method, url, headers=headers, json=body, params=params
    ) as response:
        await response.read()
        return response.status


async def test_every_endpoint_answers_by_the_role_table(tmp_path: Path) -> None:
    """No token and a wrong token: 401 where a role is needed; each role: 403 below the
    endpoint's role, never 401/403 at or above it."""
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        await rig.push(http, [canonical(CODE)])
        checked = 0
        for endpoint in ENDPOINTS:
            anonymous = await call(http, rig, endpoint, {})
            wrong = await call(http, rig, endpoint, {"Authorization": "Bearer not-a-token-at-all"})
            if endpoint.role is None:
                assert anonymous < 400, endpoint.path
                continue
            assert (anonymous, wrong) == (401, 401), endpoint.path
            for role in Role:
                status = await call(http, rig, endpoint, rig.auth(role.name.lower()))
                if role < endpoint.role:
                    assert status == 403, (endpoint.path, role)
                else:  # allowed: a real answer (404 for the sample dead letter id)
                    assert status in (200, 404), (endpoint.path, role, status)
                checked += 1
        assert checked == 3 * sum(1 for e in ENDPOINTS if e.role is not None)


async def test_openapi_document_lists_every_endpoint_with_its_role(tmp_path: Path) -> None:
    async with (
        admin_gateway(tmp_path) as rig,
        aiohttp.ClientSession() as http,
        http.get(rig.admin_url + "/api/v1/openapi.json") as response,
    ):
        document = await response.json()
    assert document["openapi"] == "3.1.0"
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["x-role"] == (endpoint.role.name.lower() if endpoint.role else "none")


FAST_BREAKER = DeliveryConfig(
    concurrency=4,
    batch_size=16,
    idle_poll_s=0.2,
    retry=RetryConfig(base_delay_s=0.05, max_delay_s=0.1, max_attempts=50),
    breaker=BreakerConfig(failure_threshold=2, probe_interval_s=0.3),
)


async def readyz(http: aiohttp.ClientSession, rig: AdminRig) -> tuple[int, Any]:
    async with http.get(rig.admin_url + "/readyz") as response:
        return response.status, await response.json()


async def test_readyz_turns_503_while_the_breaker_is_open_and_back(tmp_path: Path) -> None:
    async with (
        admin_gateway(tmp_path, delivery=FAST_BREAKER) as rig,
        aiohttp.ClientSession() as http,
    ):
        assert (await readyz(http, rig))[0] == 200
        rig.faults.update({"mode": "down"})
        await rig.push(http, [canonical(f"000.00.00.H56-261102-{i:05d}") for i in range(1, 4)])
        async with asyncio.timeout(30):
            while (await readyz(http, rig))[0] != 503:
                await rig.gateway.worker.next_round()
        status, body = await readyz(http, rig)
        assert (status, body["checks"]["route"], body["checks"]["store"]) == (503, False, True)
        rig.faults.update({"mode": "none"})
        async with asyncio.timeout(30):
            while (await readyz(http, rig))[0] != 200:
                await rig.gateway.worker.next_round()
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["delivered"] < 3:
                await rig.gateway.worker.next_round()


async def test_metrics_count_deliveries_and_describe_the_store(tmp_path: Path) -> None:
    now = datetime.now(PORTAL_TZ)
    today = {"received_at": now, "due_at": now + timedelta(days=1)}
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        await rig.push(http, [canonical(CODE), canonical("000.00.00.H56-261102-00002", **today)])
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["delivered"] < 2:
                await rig.gateway.worker.next_round()
        async with http.get(rig.admin_url + "/metrics", headers=rig.auth("viewer")) as response:
            assert response.status == 200
            text = await response.text()
    lines = {
        line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines() if line[:1] != "#"
    }
    delivered = (
        'dvcgw_deliveries_total{agency="000.00.00.H56",outcome="delivered",route="dvcqg-rest"}'
    )
    assert float(lines[delivered]) == 2
    assert float(lines['dvcgw_records{state="delivered"}']) == 2
    assert float(lines['dvcgw_intake_records_total{source="canonical",status="accepted"}']) == 2
    assert float(lines["dvcgw_audit_entries"]) > 0
    assert float(lines["dvcgw_ready"]) == 1
    # The current month holds the second dossier, on the portal: synced 1 of 1.
    assert float(lines['dvcgw_766_ratio{indicator="1.4"}']) == 1


async def test_replay_counts_first_needs_the_count_above_the_threshold_and_is_audited(
    tmp_path: Path,
) -> None:
    async with (
        admin_gateway(tmp_path, replay_confirm_above=2) as rig,
        aiohttp.ClientSession() as http,
    ):
        # Three dossiers the portal refuses on their content (an unknown procedure code).
        bad = [
            canonical(f"000.00.00.H56-261102-{i:05d}", procedure_code="9.999999") for i in (1, 2, 3)
        ]
        await rig.push(http, bad)
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["dead"] < 3:
                await rig.gateway.worker.next_round()
        url = rig.admin_url + "/api/v1/dead-letters/replay"
        headers = rig.auth("operator")
        async with http.post(url, json={"all": True, "dry_run": True}, headers=headers) as r:
            assert (r.status, await r.json()) == (200, {"would_replay": 3})
        async with http.post(url, json={"all": True}, headers=headers) as r:
            assert r.status == 409
            assert (await r.json())["would_replay"] == 3
        async with http.post(url, json={}, headers=headers) as r:
            assert r.status == 400  # nothing named: not "everything" by accident
        async with http.post(url, json={"all": True, "confirm": 3}, headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["replayed"] == 3
        entries = await rig.gateway.store.audit_entries()
    replays = [e for e in entries if e.event == "replayed"]
    assert len(replays) == 3
    assert all("operator-1 (admin API)" in json.dumps(dict(e.detail)) for e in replays)


async def test_payload_reads_need_the_operator_role_and_are_audited(tmp_path: Path) -> None:
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        await rig.push(http, [canonical(CODE, procedure_code="9.999999")])
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["dead"] < 1:
                await rig.gateway.worker.next_round()
        [letter] = await rig.gateway.store.dead_letters(DeadFilter())
        url = f"{rig.admin_url}/api/v1/dead-letters/{letter.record_id}"
        async with http.get(url, headers=rig.auth("viewer")) as r:
            shown = await r.json()
            assert r.status == 200
            assert "payload" not in shown
        async with http.get(url + "?payload=true", headers=rig.auth("viewer")) as r:
            assert r.status == 403
        async with http.get(url + "?payload=true", headers=rig.auth("operator")) as r:
            assert r.status == 200
            assert (await r.json())["payload"]["dossier_code"] == CODE
        entries = await rig.gateway.store.audit_entries()
    reads = [e for e in entries if e.event == "payload_read"]
    assert [dict(e.detail)["by"] for e in reads] == ["operator-1"]


async def test_pause_defers_a_route_and_resume_lets_it_go(tmp_path: Path) -> None:
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        pause = rig.admin_url + "/api/v1/routes/dvcqg-rest/pause"
        async with http.post(pause, json={}, headers=rig.auth("operator")) as r:
            assert (await r.json())["paused"] == {"dvcqg-rest": "operator-1"}
        await rig.push(http, [canonical(CODE)])
        for _ in range(3):
            await rig.gateway.worker.next_round()
        assert (await rig.gateway.store.counts())["delivered"] == 0
        resume = rig.admin_url + "/api/v1/routes/dvcqg-rest/resume"
        async with http.post(resume, json={}, headers=rig.auth("operator")) as r:
            assert (await r.json())["paused"] == {}
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["delivered"] < 1:
                await rig.gateway.worker.next_round()
        async with http.post(
            rig.admin_url + "/api/v1/routes/nowhere/pause", json={}, headers=rig.auth("operator")
        ) as r:
            assert r.status == 404
        events = [e.event for e in await rig.gateway.store.audit_entries()]
    assert events.count("route_paused") == 1
    assert events.count("route_resumed") == 1


async def test_status_explains_what_waits_and_config_hides_secrets(tmp_path: Path) -> None:
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        async with http.get(rig.admin_url + "/api/v1/status", headers=rig.auth("viewer")) as r:
            status = await r.json()
        assert set(status) >= {"states", "agencies", "portal_down", "synced_within_an_hour"}
        async with http.get(rig.admin_url + "/api/v1/config", headers=rig.auth("admin")) as r:
            text = await r.text()
        for token in TOKENS.values():
            assert token not in text
        assert json.loads(text)["config"]["portal"]["password"] == "***"
        async with http.get(
            rig.admin_url + "/api/v1/records", params={"dossier": CODE}, headers=rig.auth("viewer")
        ) as r:
            assert r.status == 200
        async with http.get(rig.admin_url + "/api/v1/records", headers=rig.auth("viewer")) as r:
            assert r.status == 400


@pytest.mark.parametrize("limit", ["-1", "abc", "1e3", "²"])
async def test_bad_query_values_are_400_not_500(tmp_path: Path, limit: str) -> None:
    async with (
        admin_gateway(tmp_path) as rig,
        aiohttp.ClientSession() as http,
        http.get(
            rig.admin_url + "/api/v1/dead-letters",
            params={"limit": limit},
            headers=rig.auth("viewer"),
        ) as r,
    ):
        assert r.status == 400
