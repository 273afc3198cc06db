"""Configuration: YAML into frozen dataclasses, checked once, every error at once.

``load_config(path)`` reads the file with ``yaml.safe_load``, substitutes ``${NAME}`` and
``${NAME:-default}`` from the environment (secrets live only there), and builds
:class:`GatewayConfig`. Unknown keys, wrong types and missing environment variables are all
reported together, each with its YAML path (``portal.timeout_s: expected a number``), in one
:class:`~gateway.errors.ConfigError`. Relative paths are relative to the working directory.

``config/gateway.example.yaml`` documents every key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway.errors import ConfigError, Problem

MAX_CONFIG_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the durable outbox lives: an SQLite file (one process) or PostgreSQL (several)."""

    engine: Literal["sqlite", "postgresql"] = "sqlite"
    path: Path = Path("var/gateway.db")
    dsn: str = ""
    """PostgreSQL connection string, from the environment (``${DATABASE_URL}``)."""
    max_connections: int = 8


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One intake source: the URL name ``/api/v1/intake/{name}`` and the adapter behind it."""

    adapter: str
    options: Mapping[str, Any] = field(default_factory=dict)
    token: str = ""


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """The HTTP intake API."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024
    max_records_per_request: int = 1000
    max_backlog: int = 0
    """Answer 503 while more records than this wait for delivery (0: no bound)."""
    min_free_disk_bytes: int = 100 * 1024 * 1024
    """Answer 503 while the SQLite store's disk has less free space than this."""
    busy_retry_after_s: int = 30
    sources: Mapping[str, SourceConfig] = field(
        default_factory=lambda: {"canonical": SourceConfig(adapter="canonical")}
    )


@dataclass(frozen=True, slots=True)
class PortalConfig:
    """The DVCQG adapter (spec §3). Paths are relative to ``base_url``."""

    base_url: str
    username: str
    password: str
    login_path: str = "/mapi/login"
    service_path: str = "/mapi/g"
    timeout_s: float = 60.0
    session_ttl_s: float = 600.0
    verify_tls: bool = True
    session_error_codes: tuple[int, ...] = (401,)
    exists_error_codes: tuple[int, ...] = (3, -3)
    max_response_bytes: int = 4 * 1024 * 1024
    progress_lookup_service: str = "TraCuuTienDoHoSo"
    """[?] The service that lists a dossier's progress on the portal, asked before a step is
    sent again after an ambiguous failure; empty: re-send without asking (at least once)."""


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """The durable retry schedule: exponential backoff with full jitter, capped."""

    base_delay_s: float = 2.0
    max_delay_s: float = 900.0
    max_attempts: int = 20
    max_attempts_per_class: Mapping[str, int] = field(default_factory=dict)
    """Override ``max_attempts`` per error class: ``network``, ``timeout``, ``server``
    (5xx, 408), ``throttled`` (429), ``session``, ``answer`` (unreadable answer)."""
    budget_ratio: float = 0.2
    """Retries allowed per first attempt on a route (Google SRE retry budget)."""
    budget_min_per_s: float = 1.0
    """Retries always allowed per second, whatever the ratio."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The circuit breaker per route and agency."""

    failure_threshold: int = 5
    """Consecutive failed portal calls that open the breaker."""
    probe_interval_s: float = 30.0
    """While open, one call goes through as a probe this often."""


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """The delivery worker."""

    concurrency: int = 16
    batch_size: int = 64
    lease_s: float = 120.0
    idle_poll_s: float = 1.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    portal_batch_size: int = 10
    """Records per portal call (one agency, one service per call)."""
    rate_limit_per_s: float = 0.0
    """Portal calls per second on this route (0: no limit)."""
    heartbeat_s: float = 0.0
    """How often in-flight leases are extended (0: a third of ``lease_s``)."""
    max_rescues: int = 5
    """A record whose lease is lost more often than this is dead-lettered."""
    breaker: BreakerConfig = field(default_factory=BreakerConfig)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Structured logs: ``json`` for the daemon, ``console`` for people."""

    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole configuration."""

    portal: PortalConfig
    store: StoreConfig = field(default_factory=StoreConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


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
    config = _build(GatewayConfig, substituted, "", problems)
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, GatewayConfig)
    _check_values(config, problems)
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
        return {k: _substitute(v, _join(path, str(k)), environ, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(cls: type, value: Any, path: str, problems: list[Problem]) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.append(Problem(path or "$", "expected a mapping"))
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            problems.append(Problem(_join(path, str(key)), "unknown key"))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        fpath = _join(path, name)
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], fpath, problems)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(Problem(fpath, "required key is missing"))
    try:
        return cls(**kwargs)
    except TypeError:
        return None


def _convert(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, problems)  # type: ignore[arg-type]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            problems.append(Problem(path, f"must be one of {', '.join(map(str, allowed))}"))
        return value
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(Problem(path, "expected a list"))
            return ()
        return tuple(_convert(item_tp, v, f"{path}[{i}]", problems) for i, v in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            problems.append(Problem(path, "expected a mapping"))
            return {}
        if item_tp is Any:
            return dict(value)
        return {
            str(k): _convert(item_tp, v, _join(path, str(k)), problems) for k, v in value.items()
        }
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"config field {path} has an unsupported union type")  # pragma: no cover
    return _convert_scalar(tp, value, path, problems)


def _convert_scalar(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        problems.append(Problem(path, "expected true or false"))
        return False
    if tp is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(Problem(path, "expected an integer"))
            return 0
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(Problem(path, "expected a number"))
            return 0.0
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(Problem(path, "expected a string"))
            return ""
        return str(value)
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(Problem(path, "expected a file path"))
            return Path()
        return Path(value)
    raise TypeError(f"config field {path} has unsupported type {tp!r}")  # pragma: no cover


def _check_values(config: GatewayConfig, problems: list[Problem]) -> None:
    """Rules that span more than one value's type."""
    portal = config.portal
    if not portal.base_url.startswith(("http://", "https://")):
        problems.append(Problem("portal.base_url", "must start with http:// or https://"))
    for name in ("timeout_s", "session_ttl_s"):
        if getattr(portal, name) <= 0:
            problems.append(Problem(f"portal.{name}", "must be positive"))
    if not portal.username:
        problems.append(Problem("portal.username", "must not be empty"))
    delivery = config.delivery
    for name in ("concurrency", "batch_size"):
        if getattr(delivery, name) < 1:
            problems.append(Problem(f"delivery.{name}", "must be at least 1"))
    if delivery.lease_s <= 0:
        problems.append(Problem("delivery.lease_s", "must be positive"))
    if delivery.portal_batch_size < 1 or delivery.max_rescues < 1:
        problems.append(Problem("delivery", "portal_batch_size and max_rescues must be >= 1"))
    if delivery.rate_limit_per_s < 0 or delivery.heartbeat_s < 0:
        problems.append(Problem("delivery", "rate_limit_per_s and heartbeat_s must be >= 0"))
    if delivery.breaker.failure_threshold < 1 or delivery.breaker.probe_interval_s <= 0:
        problems.append(
            Problem("delivery.breaker", "need failure_threshold >= 1, probe_interval_s > 0")
        )
    classes = {"network", "timeout", "server", "throttled", "session", "answer"}
    for name in delivery.retry.max_attempts_per_class:
        if name not in classes:
            problems.append(
                Problem(f"delivery.retry.max_attempts_per_class.{name}", "unknown error class")
            )
    if config.store.engine == "postgresql" and not config.store.dsn:
        problems.append(
            Problem("store.dsn", "required for engine postgresql (use ${DATABASE_URL})")
        )
    retry = delivery.retry
    if retry.base_delay_s <= 0 or retry.max_delay_s < retry.base_delay_s:
        problems.append(Problem("delivery.retry", "need 0 < base_delay_s <= max_delay_s"))
    if retry.max_attempts < 1:
        problems.append(Problem("delivery.retry.max_attempts", "must be at least 1"))
    intake = config.intake
    if not 0 <= intake.port <= 65535:
        problems.append(Problem("intake.port", "must be a TCP port (0-65535)"))
    if intake.max_body_bytes < 1024 or intake.max_records_per_request < 1:
        problems.append(
            Problem("intake", "max_body_bytes >= 1024 and max_records_per_request >= 1")
        )
    if not intake.sources:
        problems.append(Problem("intake.sources", "at least one source is needed"))
    for name in intake.sources:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            problems.append(
                Problem(f"intake.sources.{name}", "name must be lowercase letters, digits, - or _")
            )
