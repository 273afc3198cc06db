"""One version of the national catalogue, as JSON, and the differences between two versions.

What ``LayThuTuc`` tells of a procedure beyond its code, name and field is read defensively
(the keys past ``LINHVUCTHUCHIEN`` are our reading of spec §2.2, [I]): a key that is missing or
shaped otherwise leaves the fact unknown (None), never an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

_DURATION_UNITS = {"WORKING_DAY": True, "DAY": False}


@dataclass(frozen=True, slots=True)
class ProcedureEntry:
    """One procedure (``MATTHC``) as the catalogue describes it."""

    name: str
    fields: tuple[str, ...] = ()
    """Its field codes (``LINHVUCTHUCHIEN[].MALINHVUC``)."""
    legal_days: float | None = None
    working_days: bool = True
    has_fees: bool | None = None
    issues_document: bool | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The catalogue: procedures, fields and agencies by code, each with its name."""

    procedures: Mapping[str, ProcedureEntry] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    agencies: Mapping[str, str] = field(default_factory=dict)
    retired: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per kind, codes an earlier version had and this one has not, with their last name: a
    record still using one is told which code now carries that name (§11 re-coding)."""

    def to_json(self) -> str:
        body = {
            "procedures": {c: asdict(p) for c, p in sorted(self.procedures.items())},
            "fields": dict(sorted(self.fields.items())),
            "agencies": dict(sorted(self.agencies.items())),
            "retired": {k: dict(sorted(v.items())) for k, v in sorted(self.retired.items())},
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True)

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        body = json.loads(text)
        procedures = {
            code: ProcedureEntry(**{**entry, "fields": tuple(entry.get("fields", ()))})
            for code, entry in body.get("procedures", {}).items()
        }
        return cls(
            procedures,
            dict(body.get("fields", {})),
            dict(body.get("agencies", {})),
            {k: dict(v) for k, v in body.get("retired", {}).items()},
        )

    def with_retired_from(self, previous: Snapshot | None) -> Snapshot:
        """This snapshot, remembering every code ``previous`` had (or had retired) that this
        one lacks."""
        if previous is None:
            return self
        retired: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            now = self.names(kind)
            gone = {**previous.retired.get(kind, {}), **previous.names(kind)}
            retired[kind] = {c: n for c, n in gone.items() if c not in now}
        return Snapshot(self.procedures, self.fields, self.agencies, retired)

    def names(self, kind: str) -> dict[str, str]:
        """Code -> name of ``kind`` (``procedure``, ``field`` or ``agency``)."""
        if kind == "procedure":
            return {code: entry.name for code, entry in self.procedures.items()}
        return dict(self.fields if kind == "field" else self.agencies)


KINDS = ("procedure", "field", "agency")


def changes(old: Snapshot | None, new: Snapshot) -> dict[str, Any]:
    """What changed from ``old`` to ``new``, per kind: codes ``added`` and ``removed``, names
    ``renamed`` (same code), and ``recoded`` (a removed code whose exact name came back under
    an added code: the §11 re-coding). With no ``old``, everything is added."""
    report: dict[str, Any] = {}
    for kind in KINDS:
        before = old.names(kind) if old is not None else {}
        after = new.names(kind)
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        by_name = {after[c]: c for c in added}
        recoded = [
            {"from": c, "to": by_name[before[c]], "name": before[c]}
            for c in removed
            if before[c] in by_name
        ]
        moved = {r["from"] for r in recoded} | {r["to"] for r in recoded}
        report[kind] = {
            "added": [c for c in added if c not in moved],
            "removed": [c for c in removed if c not in moved],
            "renamed": [
                {"code": c, "from": before[c], "to": after[c]}
                for c in sorted(set(before) & set(after))
                if before[c] != after[c]
            ],
            "recoded": recoded,
            "total": len(after),
        }
    return report


def counts(report: Mapping[str, Any]) -> dict[str, int]:
    """How many of each change, over all kinds (for a one-line summary)."""
    return {
        change: sum(len(report[kind][change]) for kind in KINDS)
        for change in ("added", "removed", "renamed", "recoded")
    }


# -- reading the portal's answers -------------------------------------------------------------


def _text(item: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return ""


def procedure_list(result: list[dict[str, Any]]) -> dict[str, str]:
    """``LayDanhSachTTHC``: code -> name (items without a code are skipped)."""
    return {c: _text(i, "TENTTHC") for i in result if (c := _text(i, "MATTHC"))}


def field_list(result: list[dict[str, Any]]) -> dict[str, str]:
    """``LayDanhMucLinhVuc``: code -> name."""
    return {c: _text(i, "TENLINHVUC") for i in result if (c := _text(i, "MALINHVUC"))}


def agency_list(result: list[dict[str, Any]]) -> dict[str, str]:
    """``LayDanhMucCoQuan``: code -> name."""
    return {c: _text(i, "TENDONVI") for i in result if (c := _text(i, "MADONVI"))}


_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)")


def procedure_entry(name: str, detail: Mapping[str, Any] | None) -> ProcedureEntry:
    """A procedure from its ``LayThuTuc`` ``result[0]`` (None: the list's name only)."""
    if not detail:
        return ProcedureEntry(name=name)
    fields = tuple(
        code for item in _list(detail.get("LINHVUCTHUCHIEN")) if (code := _text(item, "MALINHVUC"))
    )
    legal_days: float | None = None
    working_days = True
    fee_texts: list[str] = []
    for channel in _list(detail.get("CACHTHUCTHUCHIEN")):
        for timing in _list(channel.get("THOIGIAN")):
            unit = _text(timing, "DONVITINH")
            number = _NUMBER.match(_text(timing, "THOIGIANGIAIQUYET"))
            if number and unit in _DURATION_UNITS and legal_days is None:
                legal_days = float(number.group(1).replace(",", "."))
                working_days = _DURATION_UNITS[unit]
        fee_texts += [
            _text(fee, "MOTA", "MUCPHI").lower() for fee in _list(channel.get("PHILEPHI"))
        ]
    results = _list(detail.get("KETQUATHUCHIEN"))
    return ProcedureEntry(
        name=_text(detail, "TENTTHC") or name,
        fields=fields,
        legal_days=legal_days,
        working_days=working_days,
        has_fees=_fees(fee_texts),
        issues_document=True if results else None,
    )


def _fees(texts: list[str]) -> bool | None:
    """``có`` -> True, ``không`` -> False; anything else (``tùy trường hợp``, ``không ghi``) is
    unknown: 0 đ often means "set by the province", not free (data/README.md)."""
    if any(t.startswith("có") for t in texts):
        return True
    if texts and all(t.startswith("không") and not t.startswith("không ghi") for t in texts):
        return False
    return None


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
