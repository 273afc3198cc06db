"""The configured pulling sources: :func:`build_pull_sources` builds one loop per
``sources.sql_poll`` and ``sources.file_drop`` entry; :func:`check_pull_sources` checks them
for ``check-config`` without connecting."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters import registry
from gateway.canonical import RecordRules
from gateway.config.schema import GatewayConfig, InputConfig
from gateway.errors import ConfigError, Problem
from gateway.sources.file_drop import FileDropSource
from gateway.sources.intake import validate_for_portal
from gateway.sources.pulling import PullLoop
from gateway.sources.sql_poll import SqlPollSource
from gateway.sources.vendor_db import open_vendor_db
from gateway.store.contract import Store, Validate


def build_pull_sources(
    config: GatewayConfig,
    store: Store,
    *,
    on_commit: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.time,
    validate: Validate = validate_for_portal,
) -> dict[str, PullLoop]:
    """One loop per configured pulling source (raises ConfigError naming the source).
    ``validate`` is the same check intake uses (mapping tables and contracts)."""
    loops: dict[str, PullLoop] = {}
    rules = record_rules(config.input)
    for name, sql in config.sources.sql_poll.items():
        path = f"sources.sql_poll.{name}"
        adapter = registry.create(sql.adapter, sql.options, path)
        db = open_vendor_db(sql, path)
        source = SqlPollSource(
            name, sql, adapter, store, db, validate=validate, clock=clock, rules=rules
        )
        loops[name] = PullLoop(source, sql.interval_s, on_commit=on_commit)
    for name, drop in config.sources.file_drop.items():
        adapter = registry.create(drop.adapter, drop.options, f"sources.file_drop.{name}")
        folder = FileDropSource(
            name,
            drop,
            adapter,
            store,
            validate=validate,
            clock=clock,
            rules=rules,
            max_json_depth=config.input.max_json_depth,
        )
        loops[name] = PullLoop(folder, drop.interval_s, on_commit=on_commit)
    return loops


def record_rules(config: InputConfig) -> RecordRules:
    """The rules every source checks its records against (``input``)."""
    return RecordRules(config.dossier_code_pattern, config.earliest_year, config.latest_year)


def check_pull_sources(config: GatewayConfig) -> list[str]:
    """Build every pulling source's adapter and driver without connecting (for
    ``check-config``); raise one ConfigError with every problem; return one line per source."""
    problems: list[Problem] = []
    lines = []
    for name, sql in config.sources.sql_poll.items():
        path = f"sources.sql_poll.{name}"
        try:
            registry.create(sql.adapter, sql.options, path)
        except ConfigError as exc:
            problems += exc.problems
        try:
            open_vendor_db(sql, path)
        except ConfigError as exc:
            problems += exc.problems
        lines.append(f"sql_poll  {name}: {sql.engine}, adapter {sql.adapter}")
    for name, drop in config.sources.file_drop.items():
        try:
            registry.create(drop.adapter, drop.options, f"sources.file_drop.{name}")
        except ConfigError as exc:
            problems += exc.problems
        lines.append(f"file_drop {name}: {drop.path}, adapter {drop.adapter}")
    if problems:
        raise ConfigError(problems)
    return lines
