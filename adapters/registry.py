"""Finds adapters by name among the installed entry points (group ``dvc_gateway.adapters``).

Our own adapters are declared in ``pyproject.toml`` exactly the way a vendor's are, so the
registry has no list of its own. Every error names the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from adapters.contract import ENTRY_POINT_GROUP, SINK_ENTRY_POINT_GROUP, Adapter, Sink
from gateway.errors import ConfigError, Problem


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """An installed adapter, for ``dvc-gateway adapters list``."""

    name: str
    package: str
    version: str
    target: str


def installed() -> list[AdapterInfo]:
    """Every adapter entry point installed in this environment, by name."""
    found = []
    for ep in _entry_points():
        dist = ep.dist
        found.append(
            AdapterInfo(
                name=ep.name,
                package=dist.name if dist else "?",
                version=dist.version if dist else "?",
                target=ep.value,
            )
        )
    unique = {(a.name, a.package, a.target): a for a in found}  # an editable install may
    return sorted(unique.values(), key=lambda a: a.name)  # expose one entry point twice


def create(name: str, options: Mapping[str, Any], path: str) -> Adapter:
    """Load adapter ``name`` and configure it; ``path`` is the YAML path of its section.

    Every check names the adapter: not installed, installed twice, failing to import, a
    factory that raises anything but ``ConfigError``, an object without ``translate()`` or
    whose ``name`` is not the name it is registered under."""
    where = f"{path}.adapter"
    matches = [ep for ep in _entry_points() if ep.name == name]
    if not matches:
        known = ", ".join(a.name for a in installed()) or "none"
        raise ConfigError(
            [Problem(where, f"adapter {name!r} is not installed (installed: {known})")]
        )
    packages = sorted({ep.dist.name if ep.dist else "?" for ep in matches})
    if len(matches) > 1 and len({ep.value for ep in matches}) > 1:
        raise ConfigError(
            [Problem(where, f"adapter {name!r} is installed twice ({', '.join(packages)})")]
        )
    try:
        factory = matches[0].load()
    except Exception as exc:
        raise ConfigError([Problem(where, f"adapter {name!r} failed to load: {exc!r}")]) from exc
    try:
        adapter = factory(options)
    except ConfigError as exc:
        raise ConfigError(
            [
                Problem(f"{path}.options.{p.path}", f"adapter {name!r}: {p.reason}")
                for p in exc.problems
            ]
        ) from exc
    except Exception as exc:
        raise ConfigError(
            [Problem(f"{path}.options", f"adapter {name!r} failed to start: {exc!r}")]
        ) from exc
    return _checked(name, adapter, where)


def _checked(name: str, adapter: object, where: str) -> Adapter:
    if not isinstance(adapter, Adapter) or not callable(getattr(adapter, "translate", None)):
        raise ConfigError([Problem(where, f"adapter {name!r} does not implement translate()")])
    if adapter.name != name:
        raise ConfigError(
            [
                Problem(
                    where,
                    f"adapter {name!r} calls itself {adapter.name!r}: the entry point name and "
                    "the adapter's name must be the same",
                )
            ]
        )
    return adapter


def _entry_points() -> list[EntryPoint]:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def create_sink(name: str, options: Mapping[str, Any], path: str) -> Sink:
    """Load sink ``name`` (group ``dvc_gateway.sinks``) and configure it, with the same checks
    as :func:`create`; ``path`` is the YAML path of its section."""
    where = f"{path}.plugin"
    matches = [ep for ep in entry_points(group=SINK_ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(sorted({ep.name for ep in entry_points(group=SINK_ENTRY_POINT_GROUP)}))
        raise ConfigError([Problem(where, f"sink {name!r} is not installed (installed: {known})")])
    if len({ep.value for ep in matches}) > 1:
        raise ConfigError([Problem(where, f"sink {name!r} is installed twice")])
    try:
        sink = matches[0].load()(options)
    except ConfigError as exc:
        raise ConfigError(
            [
                Problem(f"{path}.options.{p.path}", f"sink {name!r}: {p.reason}")
                for p in exc.problems
            ]
        ) from exc
    except Exception as exc:
        raise ConfigError([Problem(where, f"sink {name!r} failed to start: {exc!r}")]) from exc
    if not isinstance(sink, Sink) or getattr(sink, "name", None) != name:
        raise ConfigError(
            [Problem(where, f"sink {name!r} must have render() and call itself {name!r}")]
        )
    return sink
