"""The strict JSON reader every source uses for vendor JSON (intake bodies, drop files).

The standard library's reader is lenient in ways a hostile or clumsy sender can use:

- nesting is limited only by the interpreter's stack: 10,000 ``[`` raise ``RecursionError``,
  which no caller expects (it ended a file-drop round and answered 500 at intake);
- a repeated key silently keeps the last value (``{"status": 2, "status": 10}``), so the
  record the sender's own tools show is not the one stored;
- ``NaN``, ``Infinity`` and ``1e999`` are read as floats no portal field can hold;
- an integer of more than 4,300 digits raises a plain ``ValueError``.

:func:`loads` refuses each of these with a :class:`StrictJsonError` that names the rule
(``depth``, ``duplicate-key``, ``non-finite-number``, ``number-too-long``, ``syntax``,
``encoding``) and where it was found, never the offending value. The standard C parser stops
deep input at the interpreter's recursion limit (its ``RecursionError`` is caught here and
never escapes); the parsed value's depth is then measured without recursion.

Pure: text in, Python values out.
"""

from __future__ import annotations

import json
import math
from typing import Any

DEFAULT_MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused. A canonical record batch is at
most six levels deep (array, record, supplement, document list, document, ...)."""

MAX_NUMBER_CHARS = 40
"""A number written with more characters is refused (no DVCQG field holds one)."""


class StrictJsonError(ValueError):
    """The text is not JSON this gateway accepts. ``rule`` names the broken rule, ``where``
    says where (``line 3 column 7``, or a key path), and the message combines both."""

    def __init__(self, rule: str, detail: str, where: str = "") -> None:
        self.rule = rule
        self.detail = detail
        self.where = where
        super().__init__(f"{detail} (rule {rule})" + (f" at {where}" if where else ""))


def loads(data: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value in ``data`` (UTF-8 bytes, an optional BOM, or text)."""
    text = _text(data)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except StrictJsonError:
        raise
    except RecursionError:
        # The C parser stops at the interpreter's recursion limit (about 1,000 levels),
        # long before the stack is at risk; anything shallower is measured below.
        raise StrictJsonError("depth", f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise StrictJsonError("syntax", f"malformed JSON: {exc.msg}", where) from None
    except ValueError as exc:  # anything else the standard reader raises on odd input
        raise StrictJsonError("syntax", f"malformed JSON ({type(exc).__name__})") from None
    _check_depth(value, max_depth)
    return value


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StrictJsonError("encoding", "not UTF-8", f"byte {exc.start}") from None


def _check_depth(value: Any, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth``, walking the parsed value without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            raise StrictJsonError("depth", f"nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            detail = f"the key {_key(key)} appears twice in an object"
            raise StrictJsonError("duplicate-key", detail)
        out[key] = value
    return out


def _key(key: str) -> str:
    """A key as a message may show it: keys are field names, but a hostile one is cut short
    and its control characters escaped."""
    return json.dumps(key[:40])


def _refuse_constant(name: str) -> Any:
    raise StrictJsonError("non-finite-number", f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    _check_length(text)
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError("non-finite-number", "a number too large for a float")
    return value


def _bounded_int(text: str) -> int:
    _check_length(text)
    return int(text)


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        detail = f"a number longer than {MAX_NUMBER_CHARS} characters"
        raise StrictJsonError("number-too-long", detail)
