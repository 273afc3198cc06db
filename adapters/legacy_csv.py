"""Reference adapter for a legacy CSV export: the column mapping is configuration.

Many older one-stop products can only export a spreadsheet with their own column headers
("Số hồ sơ", "Ngày tiếp nhận", ...). This adapter takes one CSV row (a mapping from header to
text, as the file-drop source reads it) and builds a canonical record from:

- ``columns``: canonical field -> CSV header (``dossier_code: "Số hồ sơ"``);
- ``constants``: canonical field -> fixed value for every row (``agency_code``);
- ``status_map``: the export's status text -> DVCQG code (``"Đang xử lý": 4``); without it the
  status column must already hold 1-10; ``channel_map`` likewise for ``KenhThucHien``;
- ``date_formats``: how the export writes dates (tried in order; ISO-8601 always works).

Only scalar fields of the model can be mapped (no document lists). Every problem names the
CSV header it came from. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from adapters.fields import FieldReader, shown
from adapters.options import parse_options
from gateway.canonical import record_from_json
from gateway.errors import ConfigError, Problem, TranslationError
from gateway.model import Dossier, ProgressStep, Record, Result

_KINDS: dict[str, type[Dossier] | type[ProgressStep] | type[Result]] = {
    "dossier": Dossier,
    "progress": ProgressStep,
    "result": Result,
}


@dataclass(frozen=True, slots=True)
class LegacyCsvOptions:
    """The ``options`` of a ``legacy-csv`` source."""

    columns: Mapping[str, str]
    kind: Literal["dossier", "progress", "result"] = "dossier"
    constants: Mapping[str, str] = field(default_factory=dict)
    status_map: Mapping[str, int] = field(default_factory=dict)
    channel_map: Mapping[str, int] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")


class LegacyCsvAdapter:
    """One CSV row -> one canonical record, by the configured column mapping."""

    name = "legacy-csv"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = parse_options(LegacyCsvOptions, options)
        self._cls = _KINDS[self.options.kind]
        self._hints = typing.get_type_hints(self._cls)
        self._required = {
            f.name
            for f in dataclasses.fields(self._cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and not _optional(self._hints[f.name])
        }
        problems = self._check_fields()
        if problems:
            raise ConfigError(problems)

    def _check_fields(self) -> list[Problem]:
        scalars = {name for name, tp in self._hints.items() if name != "kind" and _is_scalar(tp)}
        problems = [
            Problem(f"{section}.{name}", f"not a mappable field of a {self.options.kind}")
            for section in ("columns", "constants")
            for name in getattr(self.options, section)
            if name not in scalars
        ]
        mapped = set(self.options.columns) | set(self.options.constants)
        needed = {
            f.name
            for f in dataclasses.fields(self._cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        problems += [
            Problem("columns", f"required field {name!r} is neither a column nor a constant")
            for name in sorted(needed - mapped)
        ]
        return problems

    def translate(self, raw: object) -> Record:
        r = FieldReader(raw, date_formats=self.options.date_formats, epoch_ms=False)
        body: dict[str, Any] = {"kind": self.options.kind, **self.options.constants}
        for name, header in self.options.columns.items():
            body[name] = self._value(r, name, header)
        r.finish()
        try:
            return record_from_json(body)
        except TranslationError as exc:
            raise TranslationError(
                [Problem(self._header_path(p.path), p.reason) for p in exc.problems]
            ) from exc

    def _value(self, r: FieldReader, name: str, header: str) -> Any:
        if not r.present(header):
            if name in self._required:
                r.fail(header, f"required column for {name} is missing or empty")
            return None if _optional(self._hints[name]) else ""
        if name == "status" and self.options.status_map:
            return self._mapped(r, header, self.options.status_map)
        if name == "channel" and self.options.channel_map:
            return self._mapped(r, header, self.options.channel_map)
        if _is_date(self._hints[name]):
            when = r.date(header)
            return when.isoformat() if when else None
        return r.text(header)

    def _mapped(self, r: FieldReader, header: str, table: Mapping[str, int]) -> int | None:
        text = r.text(header)
        if text not in table:
            r.fail(header, f"{shown(text)} is not in the mapping table ({', '.join(table)})")
            return None
        return table[text]

    def _header_path(self, path: str) -> str:
        name = path.removeprefix("$.").split(".")[0].split("[")[0]
        header = self.options.columns.get(name)
        return f"$[{header!r}] ({name})" if header else path


def _is_date(tp: Any) -> bool:
    return tp is datetime or datetime in typing.get_args(tp)


def _optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _is_scalar(tp: Any) -> bool:
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return all(isinstance(a, type) and not dataclasses.is_dataclass(a) for a in args) and (
        typing.get_origin(tp) is not tuple
    )
