"""How an adapter declares and checks its own configuration section.

An adapter describes its options as a frozen dataclass and calls :func:`parse_options` in its
factory. Unknown keys, missing required keys and wrong types are all reported together, each
with its path relative to the adapter's ``options`` (the registry prefixes the YAML path and
the adapter's name)::

    @dataclass(frozen=True, slots=True)
    class AcmeOptions:
        agency_code: str
        status_map: Mapping[str, int] = field(default_factory=dict)

    class AcmeAdapter:
        name = "acme"

        def __init__(self, options: Mapping[str, Any]) -> None:
            self.options = parse_options(AcmeOptions, options)

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``,
``tuple[str, ...]`` and ``Mapping[str, X]`` of those. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from gateway.errors import ConfigError, Problem

T = TypeVar("T")


def parse_options(cls: type[T], options: Mapping[str, Any] | None) -> T:
    """Build ``cls`` from the adapter's options; raise ``ConfigError`` listing every problem."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")  # pragma: no cover - a programming error
    problems: list[Problem] = []
    given = dict(options or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in given:
        if key not in fields:
            problems.append(Problem(str(key), f"unknown option (known: {', '.join(fields)})"))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in given:
            kwargs[name] = _convert(hints[name], given[name], name, problems)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(Problem(name, "required option is missing"))
    if problems:
        raise ConfigError(problems)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            problems.append(Problem(path, f"must be one of {', '.join(map(str, allowed))}"))
        return value
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            problems.append(Problem(path, "expected a list"))
            return ()
        return tuple(_convert(item_tp, v, f"{path}[{i}]", problems) for i, v in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            problems.append(Problem(path, "expected a mapping"))
            return {}
        return {str(k): _convert(item_tp, v, f"{path}.{k}", problems) for k, v in value.items()}
    return _scalar(tp, value, path, problems)


def _scalar(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.append(Problem(path, "expected true or false"))
        return False
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        problems.append(Problem(path, "expected an integer"))
        return 0
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        problems.append(Problem(path, "expected a number"))
        return 0.0
    if tp is str:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        problems.append(Problem(path, "expected a string"))
        return ""
    raise TypeError(f"option {path} has unsupported type {tp!r}")  # pragma: no cover
