"""``dvc-gateway db migrate``: bring the store's schema up to date (the daemon also does it
at every start). Safe to run while gateways run: migrations take an advisory lock (PostgreSQL)
or run in one ``BEGIN IMMEDIATE`` transaction each (SQLite)."""

from __future__ import annotations

import argparse
import asyncio
import time

from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.store.engines import open_store
from gateway.store.postgres import schema as pg_schema
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite import schema


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema")
    verbs = db.add_subparsers(required=True, metavar="VERB")
    migrate = verbs.add_parser("migrate", help="apply missing schema migrations")
    add_config(migrate)
    migrate.set_defaults(func=_cmd_migrate)


def _cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def run() -> str:
        store = await open_store(config.store, now=time.time(), operator=True, migrate=True)
        try:
            if isinstance(store, PostgresStore):
                rows = await store.query("SELECT MAX(version) FROM schema_migrations")
                return f"postgresql schema at version {rows[0][0]} (latest {pg_schema.LATEST})"
            rows = await store.query("SELECT value FROM meta WHERE key = 'schema_version'")
            return f"sqlite schema at version {rows[0][0]} (latest {schema.SCHEMA_VERSION})"
        finally:
            await store.close()

    print(asyncio.run(run()))
    return 0
