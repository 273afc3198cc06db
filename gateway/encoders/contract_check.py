"""Every outgoing DVCQG message is checked against its contract before it leaves.

The JSON Schemas of ``contracts/dvcqg/v1/`` say what the portal accepts (fields, code lists,
the date pattern, dates required by status). On top of them, two text rules no schema can
say: every string is NFC-normalised Vietnamese, and no string looks like mojibake (UTF-8
bytes read as Windows-1252, e.g. ``"Nguyá»…n"``). A violation raises
:class:`~gateway.errors.TranslationError` naming the JSON path and the rule, so the record is
quarantined instead of being sent. Every route applies this to the JSON form of the message
(the SOAP route too: its body carries the same objects).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

import contracts
from gateway.errors import Problem, TranslationError

MAX_PROBLEMS = 20
"""At most this many problems are reported for one message (the rest are the same story)."""


@cache
def _validator(name: str) -> Draft7Validator:
    schema = contracts.json_schema(name)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@cache
def _fast(name: str) -> Any:
    return fastjsonschema.compile(contracts.json_schema(name))


def check_message(name: str, body: dict[str, Any]) -> None:
    """Raise :class:`TranslationError` if ``body`` breaks contract ``name`` (e.g.
    ``DongBoHoSoMC.request``) or its text rules.

    The compiled validator (fastjsonschema) answers "valid" quickly; only a violation is
    run through jsonschema, which names every path and rule.
    """
    try:
        _fast(name)(body)
        problems: list[Problem] = []
    except fastjsonschema.JsonSchemaException:
        problems = [_problem(error) for error in _validator(name).iter_errors(body)]
    problems.extend(text_problems(body))
    if problems:
        problems.sort(key=lambda p: p.path)
        raise TranslationError(problems[:MAX_PROBLEMS])


def _problem(error: ValidationError) -> Problem:
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    rule = "/".join(str(p) for p in error.schema_path)
    if error.validator in ("required", "additionalProperties"):
        reason = error.message[:200]  # names keys, never values
    else:
        # the value may be personal data (an ID number): name the rule, never the value
        reason = f"breaks {error.validator} {_limit(error)}"
    return Problem(path, f"{reason} (contract rule {rule})")


def _limit(error: ValidationError) -> str:
    value = error.validator_value
    if error.validator in ("oneOf", "anyOf", "allOf", "not", "if"):
        return "(no allowed shape matches)"
    if error.validator == "enum" and isinstance(value, list):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return repr(value)


def text_problems(value: object, path: str = "$") -> list[Problem]:
    """Strings that are not NFC or look like mojibake, with their paths."""
    return [Problem(p, reason) for p, reason in _text_walk(value, path)]


def _text_walk(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if not unicodedata.is_normalized("NFC", value):
            yield path, "text is not NFC-normalised Unicode"
        elif looks_like_mojibake(value):
            yield path, "text looks like UTF-8 decoded as Windows-1252 (mojibake)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_walk(item, f"{path}[{index}]")


_CONTINUATION = frozenset([chr(b) for b in range(0x80, 0xC0)] + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"))
"""What UTF-8 continuation bytes look like when read as Windows-1252 or Latin-1. Vietnamese
text has none of them, so most words are cleared by one set lookup."""


def looks_like_mojibake(text: str) -> bool:
    """True when ``text`` re-encoded as Windows-1252 (or Latin-1) is valid, different UTF-8.

    Vietnamese letters such as "ư", "ơ", "ạ" or "Đ" have no Windows-1252 byte, so real
    Vietnamese text fails the re-encoding and passes; "Nguyá»…n" re-encodes to the UTF-8 of
    "Nguyễn" and is caught. Each word is tried on its own, so one undecodable word does not
    hide the others.
    """
    if text.isascii() or _CONTINUATION.isdisjoint(text):
        return False
    return any(_word_is_mojibake(word) for word in text.split() if not word.isascii())


def _word_is_mojibake(text: str) -> bool:
    for codec in ("cp1252", "latin-1"):
        try:
            repaired = text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if repaired != text:
            return True
    return False
