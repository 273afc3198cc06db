"""Options several verbs share: where the configuration is."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/dvc-gateway/gateway.yaml")
CONFIG_ENV = "DVC_GATEWAY_CONFIG"


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``, by default ``$DVC_GATEWAY_CONFIG`` or the packaged service's path."""
    default = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help=f"the configuration (default ${CONFIG_ENV}, else {DEFAULT_CONFIG}; now {default})",
    )
