"""SIGHUP's reload: new sources and route without a restart; a bad file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from gateway.app import reload, running
from gateway.canonical import record_to_json
from gateway.config.loading import load_config
from tests.factories import dossier


def write(path: Path, sources: dict[str, Any], db: Path) -> None:
    config = {
        "portal": {"base_url": "http://127.0.0.1:9", "username": "u", "password": "p"},
        "store": {"path": str(db)},
        "intake": {"port": 0, "sources": sources},
        "delivery": {"idle_poll_s": 60},
    }
    path.write_text(json.dumps(config), encoding="utf-8")


async def test_reload_switches_sources_and_route_and_refuses_a_bad_file(tmp_path: Path) -> None:
    path, db = tmp_path / "gw.yaml", tmp_path / "gw.db"
    write(path, {"canonical": {"adapter": "canonical"}}, db)
    async with running(load_config(path), grace_s=1) as gateway:
        url = f"http://127.0.0.1:{gateway.port}/api/v1/intake/"
        body = [record_to_json(dossier())]
        old_route = gateway.worker.route
        write(path, {"motcua": {"adapter": "canonical"}}, db)
        assert await reload(gateway, path)
        await gateway.worker.run_once()  # the switch happens between rounds
        assert gateway.worker.route is not old_route
        path.write_text("portal: [not, a, mapping]", encoding="utf-8")
        assert not await reload(gateway, path)
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "motcua", json=body) as response:
                assert response.status == 200
                assert (await response.json())["accepted"] == 1
            async with http.post(url + "canonical", json=body) as response:
                assert response.status == 404
        counts = await gateway.store.counts()
        assert counts["queued"] + counts["leased"] == 1  # the portal here is unreachable
