"""Reading a configuration: YAML into :class:`~gateway.config.schema.GatewayConfig`, checked
once, every error at once.

``load_config(path)`` reads the file with ``yaml.safe_load``, substitutes ``${NAME}`` and
``${NAME:-default}`` from the environment (secrets live only there), builds the dataclasses of
:mod:`gateway.config.schema` and applies the rules of :mod:`gateway.config.rules`. Unknown
keys, wrong types, missing environment variables and broken rules are all reported together,
each with its YAML path (``portal.timeout_s: expected a number``), in one
:class:`~gateway.errors.ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gateway.config.rules import check_values
from gateway.config.schema import GatewayConfig
from gateway.config.typed_input import build, join
from gateway.errors import ConfigError, Problem

MAX_CONFIG_BYTES = 1_000_000


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, substitute and check a YAML configuration file."""
    try:
        raw_text = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc.strerror}")]) from exc
    if len(raw_text) > MAX_CONFIG_BYTES:
        raise ConfigError([Problem(str(path), f"larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        document = yaml.safe_load(raw_text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), f"not valid YAML: {exc}")]) from exc
    return parse_config(document, os.environ if environ is None else environ)


def parse_config(document: object, environ: Mapping[str, str]) -> GatewayConfig:
    """Build :class:`GatewayConfig` from a parsed YAML document."""
    problems: list[Problem] = []
    if not isinstance(document, Mapping):
        raise ConfigError([Problem("$", "the configuration must be a mapping")])
    substituted = _substitute(document, "", environ, problems)
    config = build(GatewayConfig, substituted, "", problems)
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, GatewayConfig)
    check_values(config, problems)
    if problems:
        raise ConfigError(problems)
    return config


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, path: str, environ: Mapping[str, str], problems: list[Problem]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            problems.append(Problem(path or "$", f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, join(path, str(k)), environ, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(value)]
    return value
