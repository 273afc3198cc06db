"""The daemon runs its pulling sources as named tasks: a vendor SQLite database and a folder
feed the portal simulator; a source's failure is survived; check-config names bad sources."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.app import running
from gateway.canonical import record_to_json
from gateway.cli import main
from gateway.config.loading import parse_config
from gateway.config.schema import FileDropConfig, SourcesConfig
from gateway.errors import ConfigError
from tests.factories import dossier
from tests.integration.test_end_to_end import Portal, drained, gateway_config, portal
from tests.vendor_databases import T0, row, vendor_database

__all__ = ["portal"]


async def test_sql_and_file_sources_reach_the_portal(tmp_path: Path, portal: Portal) -> None:
    async for vendor in vendor_database("sqlite", tmp_path):
        await vendor.upsert([row(i, T0 + timedelta(minutes=i)) for i in range(1, 6)])
        inbox = tmp_path / "inbox"
        sources = SourcesConfig(
            sql_poll={"onestop": vendor.config(interval_s=30.0)},
            file_drop={
                "exports": FileDropConfig(
                    adapter="canonical", path=inbox, settle_s=0.0, interval_s=30.0
                )
            },
        )
        config = gateway_config(tmp_path, portal.url)
        config = dataclasses.replace(config, sources=sources)
        async with running(config) as gw:
            assert {t.get_name() for t in asyncio.all_tasks()} >= {
                "source:onestop",
                "source:exports",
                "delivery",
            }
            extra = record_to_json(dossier("000.00.00.H56-261127-09999"))
            inbox.mkdir(exist_ok=True)
            (inbox / "one.json").write_text(json.dumps([extra]), encoding="utf-8")
            await gw.sources["exports"].round()
            await gw.sources["onestop"].round()  # after the loop's own first round
            await drained(gw)
        assert (inbox / "done" / "one.json").exists()
        assert set(portal.state.dossiers) == {
            *(f"000.00.00.H56-261127-{i:05d}" for i in range(1, 6)),
            "000.00.00.H56-261127-09999",
        }
        held = portal.state.dossiers["000.00.00.H56-261127-00003"]["item"]
        assert held["TrichYeuHoSo"] == "Đăng ký khai sinh cho cháu Nguyễn Minh Khôi số 3"


async def test_a_failing_source_is_logged_and_survived(tmp_path: Path, portal: Portal) -> None:
    async for vendor in vendor_database("sqlite", tmp_path):
        broken = vendor.config(dsn=str(tmp_path / "missing.sqlite"), interval_s=30.0)
        config = gateway_config(tmp_path, portal.url)
        config = dataclasses.replace(config, sources=SourcesConfig({"onestop": broken}))
        async with running(config) as gw:
            loop = gw.sources["onestop"]
            await loop.round()
            await loop.round()
            task = next(t for t in asyncio.all_tasks() if t.get_name() == "source:onestop")
            assert not task.done()
            assert loop.rounds >= 2


def test_source_configuration_errors_have_paths() -> None:
    document = {
        "portal": {"base_url": "http://x", "username": "u", "password": "p"},
        "sources": {
            "sql_poll": {
                "canonical": {
                    "adapter": "opencps",
                    "engine": "oracle",
                    "dsn": "x",
                    "query": "SELECT 1",
                },
            },
            "file_drop": {"Bad Name": {"adapter": "canonical", "path": "in", "formats": ["xls"]}},
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    reasons = {str(p) for p in caught.value.problems}
    assert "sources.sql_poll.canonical.engine: must be one of postgresql, mysql, sqlite" in reasons
    document["sources"]["sql_poll"]["canonical"]["engine"] = "mysql"  # type: ignore[index]
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    reasons = {str(p) for p in caught.value.problems}
    assert {
        "sources.sql_poll.canonical: a source named 'canonical' is already configured",
        "sources.sql_poll.canonical.query: must use the parameter :after_ts",
        "sources.file_drop.Bad Name: name must be lowercase letters, digits, - or _",
        "sources.file_drop.Bad Name.formats: unknown: ['xls']",
    } <= reasons


def test_check_config_builds_each_source_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "portal: {base_url: 'http://x', username: u, password: p}\n"
        "sources:\n"
        "  sql_poll:\n"
        "    onestop:\n"
        "      adapter: opencps\n"
        "      engine: mysql\n"
        "      dsn: 'postgres://nope'\n"
        "      query: 'SELECT * FROM d WHERE (a, b) > (:after_ts, :after_id) LIMIT :limit'\n"
        "      options: {status_map: {done: 12}}\n"
        "  file_drop:\n"
        "    exports: {adapter: legacy-csv, path: in, options: {columns: {}}}\n",
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "sources.sql_poll.onestop.options.status_map.done: adapter 'opencps'" in err
    assert "sources.sql_poll.onestop.dsn: expected mysql://" in err
    assert "sources.file_drop.exports.options.columns: adapter 'legacy-csv'" in err


def test_pulling_sources_alone_are_enough() -> None:
    base = {"portal": {"base_url": "http://x", "username": "u", "password": "p"}}
    with pytest.raises(ConfigError, match="at least one source"):
        parse_config({**base, "intake": {"sources": {}}}, environ={})
    config = parse_config(
        {
            **base,
            "intake": {"sources": {}},
            "sources": {"file_drop": {"exports": {"adapter": "canonical", "path": "in"}}},
        },
        environ={},
    )
    assert config.sources.file_drop["exports"].path == Path("in")
