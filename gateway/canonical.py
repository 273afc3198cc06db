"""The canonical JSON form of the model, both ways, with every problem at its field path.

This is the form the ``canonical`` reference adapter accepts and the form the outbox stores.
Keys are the model's English field names; a record names its kind in ``"kind"``
(``dossier``, ``progress``, ``result``). Timestamps are ISO-8601; a timestamp without an
offset is read as Vietnam local time (Asia/Ho_Chi_Minh). Enumerations are their DVCQG
numbers (``"status": 4``); numeric strings are accepted too. Unknown keys are errors, so a
vendor's typo is caught instead of silently dropped.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from gateway.errors import Problem, TranslationError, code_shown, value_shape
from gateway.model import PORTAL_TZ, Dossier, ProgressStep, Record, RecordKind, Result

MAX_TEXT_CHARS = 10_000
"""No canonical text field may exceed this; DVCQG limits are enforced by the encoder."""

_KINDS: dict[str, type[Dossier] | type[ProgressStep] | type[Result]] = {
    RecordKind.DOSSIER: Dossier,
    RecordKind.PROGRESS: ProgressStep,
    RecordKind.RESULT: Result,
}


def record_from_json(value: object, path: str = "$") -> Record:
    """Build a canonical record from its JSON form; raise :class:`TranslationError` listing
    every problem with its path."""
    problems: list[Problem] = []
    if not isinstance(value, Mapping):
        raise TranslationError.at(path, f"expected an object, got {_json_type(value)}")
    kind = value.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        reason = f"must be one of {sorted(_KINDS)}, got {code_shown(kind)}"
        raise TranslationError.at(f"{path}.kind", reason)
    body = {k: v for k, v in value.items() if k != "kind"}
    record = _build(cls, body, path, problems)
    if problems:
        raise TranslationError(problems)
    assert isinstance(record, Dossier | ProgressStep | Result)
    return record


def record_to_json(record: Record) -> dict[str, Any]:
    """The canonical JSON form of a record (inverse of :func:`record_from_json`)."""
    out: dict[str, Any] = {"kind": str(record.kind)}
    out.update(_dump(record))
    return out


def _dump(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """A dataclass's fields by name, worked out once per class (the store reads every
    claimed record back through :func:`record_from_json`)."""
    return {f.name: f for f in dataclasses.fields(cls)}


@cache
def _shape(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``typing.get_origin`` and ``typing.get_args`` of a field type, once per type."""
    return typing.get_origin(tp), typing.get_args(tp)


def _build(cls: type, value: Mapping[str, Any], path: str, problems: list[Problem]) -> Any:
    hints = _hints(cls)
    fields = _fields(cls)
    for key in value:
        if key not in fields:
            problems.append(Problem(f"{path}.{key}", "unknown field"))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        fpath = f"{path}.{name}"
        if name not in value:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                problems.append(Problem(fpath, "required field is missing"))
            continue
        ok, converted = _convert(hints[name], value[name], fpath, problems)
        if ok:
            kwargs[name] = converted
    if len(kwargs) != len([n for n in fields if n in value]):
        return None
    if any(
        n not in kwargs
        and fields[n].default is dataclasses.MISSING
        and fields[n].default_factory is dataclasses.MISSING
        for n in fields
    ):
        return None
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, problems: list[Problem]) -> tuple[bool, Any]:
    """Convert ``value`` to type ``tp``; on failure record a problem and return (False, None)."""
    if tp is str and type(value) is str and len(value) <= MAX_TEXT_CHARS:
        return True, value  # the common case first
    origin, type_args = _shape(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in type_args if a is not type(None)]
        if (value is None or value == "") and type(None) in type_args:
            return True, None
        if len(args) == 1:
            return _convert(args[0], value, path, problems)
    if origin is tuple:
        (item_tp, _ellipsis) = type_args
        if not isinstance(value, list):
            problems.append(Problem(path, f"expected an array, got {_json_type(value)}"))
            return False, None
        items = []
        ok_all = True
        for i, item in enumerate(value):
            ok, conv = _convert(item_tp, item, f"{path}[{i}]", problems)
            ok_all = ok_all and ok
            items.append(conv)
        return ok_all, tuple(items)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            problems.append(Problem(path, f"expected an object, got {_json_type(value)}"))
            return False, None
        before = len(problems)
        built = _build(tp, value, path, problems)  # type: ignore[arg-type]
        return len(problems) == before and built is not None, built
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(tp, value, path, problems)
    if tp is datetime:
        return _convert_datetime(value, path, problems)
    if tp is bool:
        return _convert_bool(value, path, problems)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return True, int(value)
        problems.append(Problem(path, f"expected an integer, got {value_shape(value)}"))
        return False, None
    if tp is str:
        if not isinstance(value, str):
            problems.append(Problem(path, f"expected a string, got {_json_type(value)}"))
            return False, None
        if len(value) > MAX_TEXT_CHARS:
            problems.append(Problem(path, f"longer than {MAX_TEXT_CHARS} characters"))
            return False, None
        return True, value
    raise TypeError(f"canonical codec cannot handle {tp!r} at {path}")  # pragma: no cover


def _convert_enum(
    tp: type[enum.Enum], value: Any, path: str, problems: list[Problem]
) -> tuple[bool, Any]:
    raw = value
    if isinstance(value, str) and value.strip().isdigit():
        raw = int(value)
    try:
        return True, tp(raw)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in tp)
        problems.append(Problem(path, f"{value_shape(value)} is not one of {allowed}"))
        return False, None


def _convert_datetime(value: Any, path: str, problems: list[Problem]) -> tuple[bool, Any]:
    if not isinstance(value, str):
        problems.append(Problem(path, f"expected an ISO-8601 timestamp, got {_json_type(value)}"))
        return False, None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem(path, f"{value_shape(value)} is not an ISO-8601 timestamp"))
        return False, None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PORTAL_TZ)
    return True, parsed


def _convert_bool(value: Any, path: str, problems: list[Problem]) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, value
    if value in (0, 1, "0", "1"):
        return True, bool(int(value))
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return True, value.lower() == "true"
    problems.append(Problem(path, f"expected true/false, got {value_shape(value)}"))
    return False, None


def _json_type(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
