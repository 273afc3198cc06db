"""The indicator table, per agency or procedure, as text or JSON, and what to fix first."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gateway.indicators.f766 import (
    GROUPS,
    LABELS,
    Cost,
    DossierHistory,
    Indicator,
    Period,
    ProcedureFacts,
    compute,
)

GroupBy = Literal["agency", "procedure"]


@dataclass(frozen=True, slots=True)
class SyncRow:
    """The sync ratio the gateway controls itself, for one agency."""

    agency_code: str
    received: int
    synced: int
    oldest_unsynced_s: float | None
    """Age of the oldest dossier of the period not on the portal, in seconds."""


@dataclass(frozen=True, slots=True)
class Section:
    """The indicators of one agency or procedure (or of everything: ``key`` is empty)."""

    key: str
    dossiers: int
    indicators: list[Indicator]

    @property
    def points(self) -> float:
        return round(sum(i.points or 0 for i in self.indicators), 2)

    @property
    def max_points(self) -> float:
        return sum(i.max_points or 0 for i in self.indicators if i.points is not None)


def sections(
    histories: Sequence[DossierHistory],
    period: Period,
    *,
    as_of: datetime,
    procedures: Mapping[str, ProcedureFacts] | None = None,
    points: Mapping[str, float | None] | None = None,
    agency: str = "",
    by: GroupBy | None = None,
) -> list[Section]:
    """The whole table, or one section per agency / procedure (sorted by key)."""
    if agency:
        histories = [h for h in histories if h.local.agency_code == agency]
    in_period = [h for h in histories if period.holds(h.local.received_at)]
    keys: dict[str, Callable[[DossierHistory], str]] = {
        "agency": lambda h: h.local.agency_code,
        "procedure": lambda h: h.local.procedure_code,
    }
    if by is None:
        groups = {agency: list(histories)}
    else:
        key = keys[by]
        groups = {}
        for history in histories:
            groups.setdefault(key(history), []).append(history)
    found = []
    for name in sorted(groups):
        members = groups[name]
        count = sum(1 for h in members if h in in_period) if by else len(in_period)
        if by and count == 0:
            continue
        table = compute(members, period, as_of=as_of, procedures=procedures, points=points)
        found.append(Section(name, count, table))
    return found


def sync_by_agency(
    histories: Sequence[DossierHistory], period: Period, *, as_of: datetime
) -> list[SyncRow]:
    """Dossiers received locally in the period vs acknowledged by the portal, per agency."""
    rows: dict[str, list[DossierHistory]] = {}
    for history in histories:
        if period.holds(history.local.received_at):
            rows.setdefault(history.local.agency_code, []).append(history)
    found = []
    for agency in sorted(rows):
        members = rows[agency]
        waiting = [
            (as_of - h.accepted_at).total_seconds()
            for h in members
            if h.synced is None and h.accepted_at is not None
        ]
        found.append(
            SyncRow(
                agency_code=agency,
                received=len(members),
                synced=sum(1 for h in members if h.synced is not None),
                oldest_unsynced_s=max(waiting) if waiting else None,
            )
        )
    return found


def explain(section: Section, code: str, *, limit: int = 50) -> list[Cost]:
    """The dossiers that cost points on indicator ``code``, the costliest first."""
    for indicator in section.indicators:
        if indicator.code == code:
            return list(indicator.costs[:limit])
    raise KeyError(code)


# -- rendering ---------------------------------------------------------------------------------


def as_json(
    period: Period, found: Sequence[Section], sync: Sequence[SyncRow], as_of: datetime
) -> dict[str, Any]:
    return {
        "period": period.name,
        "from": period.start.isoformat(),
        "until": period.end.isoformat(),
        "as_of": as_of.isoformat(timespec="seconds"),
        "sections": [
            {
                "key": s.key,
                "dossiers": s.dossiers,
                "points": s.points,
                "max_points": s.max_points,
                "indicators": [_indicator_json(i) for i in s.indicators],
            }
            for s in found
        ],
        "sync_by_agency": [
            {
                "agency": r.agency_code,
                "received": r.received,
                "synced": r.synced,
                "oldest_unsynced_s": r.oldest_unsynced_s,
            }
            for r in sync
        ],
    }


def _indicator_json(i: Indicator) -> dict[str, Any]:
    group = GROUPS[LABELS[i.code][0]]
    return {
        "code": i.code,
        "label_vi": i.label_vi,
        "label_en": i.label_en,
        "group_vi": group[0],
        "group_en": group[1],
        "group_max_points": group[2],
        "numerator": i.numerator,
        "denominator": i.denominator,
        "ratio": None if i.ratio is None else round(i.ratio, 4),
        "value": i.value,
        "points": i.points,
        "max_points": i.max_points,
        "incomplete": list(i.incomplete),
        "dossiers_costing_points": len(i.costs),
    }


def lines(
    period: Period,
    found: Sequence[Section],
    sync: Sequence[SyncRow],
    *,
    lang: Literal["vi", "en"] = "vi",
) -> list[str]:
    """The table as text (labels in Vietnamese or English), one section after the other."""
    out = [f"Decision 766 preview, period {period.name} (by NgayTiepNhan)"]
    for section in found:
        title = section.key or ("tất cả cơ quan" if lang == "vi" else "all agencies")
        out.append("")
        out.append(
            f"{title}: {section.dossiers} dossier(s), "
            f"{section.points:g} of {section.max_points:g} points the gateway can compute"
        )
        out.append(f"{'':5} {'indicator':<44} {'num':>7} {'den':>6} {'ratio':>7} {'points':>10}")
        for i in section.indicators:
            ratio = "-" if i.ratio is None else f"{i.ratio:.1%}"
            numerator = f"{i.numerator:.1f}".removesuffix(".0")
            if i.value is not None or i.code == "2.2":
                ratio = "-" if i.value is None else f"{i.value:g} d"
                numerator = "-"
            score = "-" if i.points is None else f"{i.points:g}/{i.max_points:g}"
            label = i.label_vi if lang == "vi" else i.label_en
            if len(label) > 44:
                label = label[:43] + "…"
            out.append(
                f"{i.code:<5} {label:<44} {numerator:>7} {i.denominator:>6g} {ratio:>7} {score:>10}"
            )
        notes = [(i.code, note) for i in section.indicators for note in i.incomplete]
        for code, note in notes:
            out.append(f"  {code}: {note}")
    if sync:
        out.append("")
        out.append(f"{'agency':<22} {'received':>9} {'synced':>7} {'ratio':>7}  oldest unsynced")
        for row in sync:
            ratio = f"{row.synced / row.received:.1%}" if row.received else "-"
            age = "-" if row.oldest_unsynced_s is None else f"{row.oldest_unsynced_s / 3600:.1f} h"
            out.append(f"{row.agency_code:<22} {row.received:>9} {row.synced:>7} {ratio:>7}  {age}")
    return out
