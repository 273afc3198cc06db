"""``dvc-gateway adapters list`` and ``dvc-gateway adapters new NAME``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters import registry
from gateway.cli.sink_scaffold import scaffold_sink
from gateway.scaffold import install_hint, scaffold


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``adapters`` verbs to the ``dvc-gateway`` parser."""
    adapters = sub.add_parser("adapters", help="installed adapters; scaffold a new one")
    verbs = adapters.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="every installed adapter: name, version, package")
    listing.set_defaults(func=_cmd_list)
    new = verbs.add_parser("new", help="create an installable adapter package, tests included")
    new.add_argument("name", help="the adapter's name, e.g. acme (lowercase, digits, -)")
    new.add_argument("--dir", type=Path, default=Path(), help="where to create it (default: here)")
    new.add_argument(
        "--sink",
        action="store_true",
        help="a sink instead: portal-hosted dossiers into your system (vendor guide section 6)",
    )
    new.set_defaults(func=_cmd_new)


def _cmd_list(args: argparse.Namespace) -> int:
    table = Table("adapter", "version", "package", "entry point", box=None)
    for info in registry.installed():
        table.add_row(info.name, info.version, info.package, info.target)
    Console(width=120).print(table)
    return 0


def _cmd_new(args: argparse.Namespace) -> int:
    try:
        root = (scaffold_sink if args.sink else scaffold)(args.name, args.dir)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}")
        return 2
    print("\n".join(install_hint(root)))
    return 0
