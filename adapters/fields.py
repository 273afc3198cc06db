"""Reading a vendor record field by field, collecting every problem with its path.

Adapters read loosely typed vendor records (JSON objects, CSV rows, SQL rows). A
:class:`FieldReader` reads one record and remembers each problem (``$.receiveDate: '31/02/2026'
is not a date``) instead of stopping at the first, so a vendor sees everything wrong with a
record at once; :meth:`FieldReader.finish` raises one ``TranslationError`` if anything was
wrong. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from gateway.errors import Problem, TranslationError, value_shape
from gateway.model import PORTAL_TZ

DEFAULT_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y%m%d%H%M%S")
"""Tried in order after ISO-8601: OpenCPS REST, Vietnamese office exports, DVCQG's own form."""


_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


def shown(value: object) -> str:
    """A bad value as an error message may describe it: its shape, never the value
    (``"a string of 10 characters"``; only short numbers such as a status ``11``), since
    messages reach the audit log and a name in the wrong column is personal data."""
    return value_shape(value)


class FieldReader:
    """Reads fields of one raw record; every problem is kept with its path."""

    def __init__(
        self,
        raw: object,
        *,
        path: str = "$",
        naive_tz: tzinfo = PORTAL_TZ,
        date_formats: Sequence[str] = DEFAULT_DATE_FORMATS,
        epoch_ms: bool = True,
    ) -> None:
        if not isinstance(raw, Mapping):
            raise TranslationError.at(path, f"expected an object, got {type(raw).__name__}")
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self.problems: list[Problem] = []
        self._naive_tz = naive_tz
        self._formats = tuple(date_formats)
        self._epoch_ms = epoch_ms

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def fail(self, key: str, reason: str) -> None:
        self.problems.append(Problem(self.at(key), reason))

    def present(self, key: str) -> bool:
        """Whether ``key`` holds something other than null or an empty string."""
        value = self.raw.get(key)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(key, "required field is missing or empty")
            return default
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return str(value)
        self.fail(key, f"expected text, got {type(value).__name__}")
        return default

    def integer(self, key: str, *, default: int = 0) -> int:
        value = self.raw.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
            return int(value)  # not str.isdigit(): "²" is a digit to it and int() refuses it
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            return int(value)
        self.fail(key, f"expected an integer, got {shown(value)}")
        return default

    def flag(self, key: str) -> bool:
        """A boolean written any of the ways vendors write one (true/"true"/1/"1"/"x")."""
        value = self.raw.get(key)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "x", "yes", "có", "co")
        return bool(value)

    def date(self, key: str, *, required: bool = False) -> datetime | None:
        """A timestamp: ISO-8601, one of the date formats, epoch milliseconds (0 = none) or a
        ``datetime`` from a database driver. Without a zone it is ``naive_tz``."""
        value = self.raw.get(key)
        if value is None or value == "" or (value == 0 and self._epoch_ms):
            if required:
                self.fail(key, "required date is missing or empty")
            return None
        parsed = parse_date(value, self._formats, epoch_ms=self._epoch_ms)
        if parsed is None:
            self.fail(key, f"{shown(value)} is not a date this adapter understands")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self._naive_tz)
        return parsed

    def finish(self) -> None:
        """Raise one ``TranslationError`` with every problem found, if any."""
        if self.problems:
            raise TranslationError(self.problems)


def parse_date(value: object, formats: Sequence[str], *, epoch_ms: bool) -> datetime | None:
    """The datetime ``value`` stands for, or None if it matches no known form."""
    if isinstance(value, datetime):
        return value
    if epoch_ms and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if epoch_ms and text.isdigit() and len(text) == 13:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)  # naive: the caller applies the zone
        except ValueError:
            continue
    return None
