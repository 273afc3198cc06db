"""The canonical JSON form of the model, both ways, with every problem at its field path.

This is the form the ``canonical`` reference adapter accepts and the form the outbox stores.
Keys are the model's English field names; a record names its kind in ``"kind"``
(``dossier``, ``progress``, ``result``). Timestamps are ISO-8601; a timestamp without an
offset is read as Vietnam local time (Asia/Ho_Chi_Minh). Enumerations are their DVCQG
numbers (``"status": 4``); strings of ASCII digits are accepted too, booleans, floats and
other digits (``"²"``) are not. Unknown keys are errors, so a vendor's typo is caught instead
of silently dropped.

:class:`RecordRules` holds what every record must look like whichever adapter made it (the
sources check each translated record against it): the DVCQG dossier-code pattern, a sane
date range, no control, bidi-override or surrogate characters in text. Problems name the
field path and the rule, never the value (it may be personal data).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from gateway.errors import Problem, TranslationError, code_shown, value_shape
from gateway.model import PORTAL_TZ, Dossier, ProgressStep, Record, RecordKind, Result

_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)

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
            problems.append(Problem(key_path(path, key), "unknown field"))
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


def key_path(path: str, key: object) -> str:
    """``$.name`` for a plain key; a hostile one (line breaks, bidi controls, any length) is
    quoted and cut short, so it cannot forge lines in a reason file or a log."""
    if isinstance(key, str) and key.isidentifier() and key.isascii() and len(key) <= 64:
        return f"{path}.{key}"
    return f"{path}[{json.dumps(str(key)[:40])}]"


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
        if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
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
    """An enumeration is its DVCQG number: a JSON integer or a string of ASCII digits. Not a
    boolean (``true`` would become 1), a float or a non-ASCII digit (``"²"``, ``"٣"``)."""
    allowed = ", ".join(str(m.value) for m in tp)
    if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        rule = f"rule enum-number: expected an integer or ASCII digits, got {_json_type(value)}"
        problems.append(Problem(path, rule))
        return False, None
    try:
        return True, tp(value)
    except ValueError:
        problems.append(
            Problem(path, f"rule enum-value: {value_shape(value)} is not one of {allowed}")
        )
        return False, None


def _convert_datetime(value: Any, path: str, problems: list[Problem]) -> tuple[bool, Any]:
    if not isinstance(value, str):
        problems.append(Problem(path, f"expected an ISO-8601 timestamp, got {_json_type(value)}"))
        return False, None
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        problems.append(
            Problem(path, f"rule iso-8601: {value_shape(value)} is not an ISO-8601 timestamp")
        )
        return False, None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PORTAL_TZ)
    return True, parsed


def _convert_bool(value: Any, path: str, problems: list[Problem]) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, value
    if (type(value) is int and value in (0, 1)) or value in ("0", "1"):
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


# --- Rules every record must meet, whichever adapter made it -------------------------------

DEFAULT_DOSSIER_CODE_PATTERN = r"[0-9A-Z]+(\.[0-9A-Z]+)*-[0-9]{6}([0-9]{2})?-[0-9]{5,7}"
"""``MaHoSo`` as DVCQG documents it (spec §4.1): the agency's ``MaDinhDanh``, the date
(``yyMMdd``, or ``yyyyMMdd`` on ministry portals) and a serial number:
``000.00.00.H56-261127-00001``, ``G09.20-20260609-0092637``. The setting
``input.dossier_code_pattern`` replaces it (the whole code must match)."""

MULTILINE_FIELDS = frozenset(
    {"summary", "other_info", "note", "return_info", "action", "content", "reception_info"}
)
"""Free-text fields that may hold line breaks and tabs; every other text field is one line."""

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED = "\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; Cs is U+D800-U+DFFF.
_BAD_IN_FREE_TEXT = re.compile(f"[\u0000-\u0008{_REFUSED}]")
_BAD_IN_LINE = re.compile(f"[\u0000-\u0008\t\n\r{_REFUSED}]")


@dataclass(frozen=True, slots=True)
class RecordRules:
    """What a canonical record's values must look like before the gateway stores it.

    Each broken rule is a :class:`Problem` at the field's path naming the rule
    (``rule dossier-code-pattern``, ``rule control-character``, ``rule bidi-control``,
    ``rule date-range``), never quoting the value: values are personal data."""

    dossier_code_pattern: str = DEFAULT_DOSSIER_CODE_PATTERN
    earliest_year: int = 1990
    latest_year: int = 2100
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.dossier_code_pattern))

    def problems(self, record: Record, path: str = "$") -> list[Problem]:
        """Every broken rule of ``record``, each at its field path."""
        found: list[Problem] = []
        for name in ("dossier_code", "origin_dossier_code"):
            code = getattr(record, name, "")
            if (code or name == "dossier_code") and not self._compiled.fullmatch(code):
                found.append(Problem(f"{path}.{name}", "rule dossier-code-pattern: not a DVCQG "
                                     "dossier code (input.dossier_code_pattern)"))  # fmt: skip
        self._walk(record, path, found)
        return found

    def check(self, record: Record, path: str = "$") -> Record:
        """``record`` itself, or a :class:`TranslationError` listing every broken rule."""
        found = self.problems(record, path)
        if found:
            raise TranslationError(found)
        return record

    def _walk(self, value: object, path: str, found: list[Problem]) -> None:
        cls: type = type(value)
        for name in _field_names(cls):
            item = getattr(value, name)
            if isinstance(item, str):
                if item.isascii() and item.isprintable():
                    continue  # the common case, answered in C
                reason = text_problem(item, multiline=name in MULTILINE_FIELDS)
                if reason:
                    found.append(Problem(f"{path}.{name}", reason))
            elif isinstance(item, datetime):
                if not self.earliest_year <= item.year <= self.latest_year:
                    reason = f"rule date-range: outside the years {self.earliest_year}-"
                    found.append(Problem(f"{path}.{name}", f"{reason}{self.latest_year}"))
            elif isinstance(item, tuple):
                for i, element in enumerate(item):
                    epath = f"{path}.{name}[{i}]"
                    if dataclasses.is_dataclass(element):
                        self._walk(element, epath, found)
                    elif isinstance(element, str) and (reason := text_problem(element)):
                        found.append(Problem(epath, reason))
            elif dataclasses.is_dataclass(item):
                self._walk(item, f"{path}.{name}", found)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def text_problem(text: str, *, multiline: bool = False) -> str:
    """Why ``text`` cannot be sent to the portal, or ``""``: control characters (NUL, escape;
    CR, LF and tab too outside free-text fields), bidirectional overrides (which make a code
    read differently from what it is: U+202A-U+202E, U+2066-U+2069) and lone surrogates
    (which no encoder can write). The reason names the character's code point and position,
    never the text."""
    found = (_BAD_IN_FREE_TEXT if multiline else _BAD_IN_LINE).search(text)
    if found is None:
        return ""
    char = found.group()
    if char in _BIDI_CONTROLS:
        rule = "bidi-control"
    elif unicodedata.category(char) == "Cs":
        rule = "surrogate"
    else:
        rule = "control-character"
    return f"rule {rule}: U+{ord(char):04X} at character {found.start() + 1}"


DEFAULT_RULES = RecordRules()
