"""Building frozen dataclasses from parsed YAML, with every problem named by its path.

Used for the gateway's configuration (:mod:`gateway.config.schema`) and for each adapter's own
``options`` (:func:`adapters.options.parse_options`). Unknown keys, missing required keys
and wrong types are collected, not raised one at a time, so an operator fixes a file in one
go. Values that arrive as strings (a ``${VAR}`` substitution) are read as booleans and
numbers where the field asks for one. Pure: no I/O.

Supported field types: nested dataclasses, ``str``, ``int``, ``float``, ``bool``, ``Path``,
``Any``, ``Literal[...]``, ``tuple[X, ...]`` and ``Mapping[str, X]``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from gateway.errors import Problem


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def build(cls: type, value: Any, path: str, problems: list[Problem], *, noun: str = "key") -> Any:
    """An instance of dataclass ``cls`` from a mapping, or None if it cannot be built; every
    problem is appended to ``problems``. ``noun`` names the entries in messages ("key",
    "option")."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.append(Problem(path or "$", "expected a mapping"))
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            known = ", ".join(fields)
            problems.append(Problem(join(path, str(key)), f"unknown {noun} (known: {known})"))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        fpath = join(path, name)
        if name in value:
            kwargs[name] = convert(hints[name], value[name], fpath, problems, noun)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(Problem(fpath, f"required {noun} is missing"))
    try:
        return cls(**kwargs)
    except TypeError:
        return None


def convert(tp: Any, value: Any, path: str, problems: list[Problem], noun: str = "key") -> Any:
    """``value`` as type ``tp``; a problem (and a neutral value) when it is not one."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path, problems, noun=noun)  # type: ignore[arg-type]
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
        return tuple(
            convert(item_tp, v, f"{path}[{i}]", problems, noun) for i, v in enumerate(value)
        )
    if origin in (Mapping, dict, typing.Mapping):
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            problems.append(Problem(path, "expected a mapping"))
            return {}
        if item_tp is Any:
            return dict(value)
        return {
            str(k): convert(item_tp, v, join(path, str(k)), problems, noun)
            for k, v in value.items()
        }
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"field {path} has an unsupported union type")  # pragma: no cover
    return _scalar(tp, value, path, problems)


def _scalar(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    if tp is Any:
        return value
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
    raise TypeError(f"field {path} has unsupported type {tp!r}")  # pragma: no cover
