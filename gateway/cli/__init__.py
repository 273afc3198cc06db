"""``dvc-gateway``: the command line. Each module of this package registers its own verbs.

Exit codes: 0 success, 1 the command ran and found a problem (e.g. a demo whose check
failed), 2 bad usage or configuration (a database that is missing or cannot be reached too:
``audit verify`` exits with 1 only for a log that fails its checks).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from gateway.cli import (
    adapters,
    audit,
    catalogue,
    core,
    db,
    dlq,
    inbound,
    indicators,
    translate,
)
from gateway.errors import ConfigError, GatewayError, StoreUnavailableError

COMMAND_MODULES = (core, translate, adapters, audit, db, dlq, inbound, indicators, catalogue)
"""Every module that adds verbs; each has ``register(subparsers)``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the verb; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print("configuration errors:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except StoreUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``translate ... | head``): say nothing more, like other Unix
        # tools; point stdout at /dev/null so the interpreter's final flush is silent too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the signal
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvc-gateway",
        description="Durable gateway from local one-stop software to the national portal.",
    )
    parser.add_argument("--version", action="version", version=f"dvc-gateway {_version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _version() -> str:
    try:
        return version("dvc-gateway")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown (not installed)"
