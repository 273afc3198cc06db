"""The Decision 766 indicators that synced data determines, computed the way the portal does.

Decision 766/QĐ-TTg scores each province and agency out of 100 from the data the one-stop
systems sync (spec §8.2). This module is pure: it takes each dossier's history (the last
snapshot the portal acknowledged, the steps it acknowledged, and what the one-stop system holds
locally) and a period, and returns every indicator with its numerator, denominator, ratio,
points, what it could not compute, and the dossiers that cost points.

A dossier belongs to a period by its ``NgayTiepNhan`` (``received_at``) in the portal's zone.
The indicators are computed from what the portal holds (the acknowledged snapshot and steps),
except 1.4, which compares it with what the one-stop system holds.

Points. The group maxima are published (§8.2: 18, 20, 12 + 10, 22, 18); how each group splits
between its indicators is not in our sources [I]. :data:`DEFAULT_POINTS` is our reading (on-time
handling up to 20 [C], satisfaction 5.4 up to 6 of 18 [C]; the rest split evenly among the
indicators synced data determines, the remainder of a group going to indicators the gateway
cannot see, e.g. 1.1-1.3 publication and 5.1-5.3 complaints) and can be overridden
(``indicators.points`` in the configuration). An indicator with a threshold (3.3: 50 %, 4.2 and
4.3: 80 %, 5.4: 90 %) earns full points at the threshold; the others earn points in proportion
to their ratio [I].
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.model import (
    PORTAL_TZ,
    Channel,
    Dossier,
    DossierStatus,
    OnlinePayment,
    ProgressStep,
)

# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period ``[start, end)`` in the portal's zone: a month, a quarter or a year."""

    name: str
    start: datetime
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{2})|Q([1-4])))?$")


def parse_period(text: str) -> Period:
    """``2026-11`` (a month), ``2026-Q4`` (a quarter) or ``2026`` (a year)."""
    match = _PERIOD.match(text.strip())
    if match is None:
        raise ValueError(f"period {text!r}: expected YYYY-MM, YYYY-Qn or YYYY")
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"period {text!r}: month must be 01-12")
        first, months = month, 1
    elif match.group(3):
        first, months = (int(match.group(3)) - 1) * 3 + 1, 3
    else:
        first, months = 1, 12
    start = datetime(year, first, 1, tzinfo=PORTAL_TZ)
    last = first + months
    end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=PORTAL_TZ)
    return Period(text.strip(), start, end)


@dataclass(frozen=True, slots=True)
class ProcedureFacts:
    """What the national catalogue says of one procedure (``LayThuTuc``) that the rules need."""

    legal_days: float | None = None
    """The maximum handling time, used when a dossier has no ``NgayHenTra`` (§8.2, 2.1)."""
    working_days: bool = True
    """Whether ``legal_days`` counts working days (Monday-Friday) or calendar days."""
    issues_document: bool | None = None
    """Whether the procedure issues a result document (4.1, 3.3); None: unknown."""
    has_fees: bool | None = None
    """Whether the catalogue lists a fee for the procedure (3.5); None: unknown."""


@dataclass(frozen=True, slots=True)
class DossierHistory:
    """One dossier as the portal holds it and as the one-stop system holds it."""

    local: Dossier
    """The latest snapshot the gateway accepted (what the one-stop system holds)."""
    synced: Dossier | None
    """The latest snapshot the portal acknowledged; None: the dossier is not on the portal."""
    steps: tuple[ProgressStep, ...] = ()
    """The progress steps the portal acknowledged."""
    accepted_at: datetime | None = None
    """When the gateway first accepted the dossier (the age of an unsynced one)."""


# -- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cost:
    """A dossier that cost points on one indicator, and why."""

    dossier_code: str
    agency_code: str
    procedure_code: str
    points: float
    why: str


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator's figures for one period (and one agency or procedure, when grouped)."""

    code: str
    label_vi: str
    label_en: str
    numerator: float
    denominator: float
    max_points: float | None
    points: float | None
    value: float | None = None
    """For indicators that are not a ratio (2.2: average days)."""
    incomplete: tuple[str, ...] = ()
    """What could not be computed, and why."""
    costs: tuple[Cost, ...] = ()

    @property
    def ratio(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator


LABELS: dict[str, tuple[str, str, str]] = {
    # code: (group, Vietnamese label, English label)
    "1.4": ("1", "Tỷ lệ hồ sơ đồng bộ lên Cổng DVCQG", "Dossiers synced to the portal"),
    "2.1": ("2", "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn", "Dossiers handled on time"),
    "2.2": ("2", "Thời gian giải quyết trung bình (ngày)", "Average handling time (days)"),
    "3.2": ("3", "Tỷ lệ DVCTT có phát sinh hồ sơ", "Online services with dossiers"),
    "3.3": ("3", "Tỷ lệ hồ sơ nộp trực tuyến", "Dossiers filed online (x sync ratio)"),
    "3.5": ("3b", "TTHC có NVTC được thanh toán trực tuyến", "Fee procedures paid online"),
    "3.6": ("3b", "Tỷ lệ hồ sơ thanh toán trực tuyến", "Fee-bearing dossiers paid online"),
    "4.1": ("4", "Tỷ lệ kết quả giải quyết điện tử", "Electronic results"),
    "4.2": ("4", "Tỷ lệ số hóa hồ sơ", "Digitised dossiers"),
    "4.3": ("4", "Tỷ lệ tái sử dụng dữ liệu số hóa", "Reused digitised data"),
    "4.4": ("4", "Tỷ lệ kết nối kho dữ liệu cá nhân", "Documents from the personal data store"),
    "4.5": ("4", "Tỷ lệ ứng dụng dữ liệu dân cư", "Population data (VNeID) used"),
    "5.4": ("5", "Tỷ lệ hài lòng trong tiếp nhận, giải quyết TTHC", "Satisfaction (100% - late)"),
}
GROUPS: dict[str, tuple[str, str, float]] = {
    "1": ("Công khai, minh bạch", "Openness and transparency", 18),
    "2": ("Tiến độ giải quyết", "Handling progress", 20),
    "3": ("Dịch vụ công trực tuyến", "Online public services", 12),
    "3b": ("Thanh toán trực tuyến", "Online payment", 10),
    "4": ("Số hóa hồ sơ", "Digitisation", 22),
    "5": ("Mức độ hài lòng", "Satisfaction", 18),
}
DEFAULT_POINTS: dict[str, float | None] = {
    "1.4": 6,
    "2.1": 20,
    "2.2": None,  # how average time is scored is not in our sources [?]
    "3.2": 6,
    "3.3": 6,
    "3.5": 5,
    "3.6": 5,
    "4.1": 6,
    "4.2": 6,
    "4.3": 4,
    "4.4": 3,
    "4.5": 3,
    "5.4": 6,
}
THRESHOLDS = {"3.3": 0.5, "4.2": 0.8, "4.3": 0.8, "5.4": 0.9}
"""Ratios at which an indicator earns full points (§8.2)."""

END_PRECEDENCE = (
    DossierStatus.FINISHED,
    DossierStatus.RETURNED,
    DossierStatus.STOPPED,
    DossierStatus.WITHDRAWN,
)
"""§8.2, 2.1: the end of processing is the time of status 9, else 10, else 8, else 7."""
NOT_RECEIVED = frozenset({DossierStatus.SUBMITTED, DossierStatus.REFUSED})
"""Dossiers never received (only submitted, or refused at reception) are not handled."""


def points_for(code: str, ratio: float | None, max_points: float | None) -> float | None:
    """Points earned for ``ratio`` (full at the indicator's threshold, else proportional)."""
    if max_points is None or ratio is None:
        return None
    threshold = THRESHOLDS.get(code, 1.0)
    return round(max_points * min(1.0, ratio / threshold), 2)


# -- the rules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Handling:
    """How one dossier's handling reads under rule 2.1."""

    end: datetime | None
    """The end of processing; None: not ended (the end of the period stands in)."""
    supplement_requests: int
    supplement_time: timedelta
    on_time: bool | None
    """None: cannot tell (no due date and no legal duration)."""
    why: str


def end_of_processing(snapshot: Dossier, steps: Sequence[ProgressStep]) -> datetime | None:
    """§8.2, 2.1: status 9, else 10, else 8, else 7; else, when there was exactly one supplement
    request, its time. The steps the portal holds decide; a snapshot at 9/10 without its step
    falls back to ``NgayKetThucXuLy``."""
    for status in END_PRECEDENCE:
        times = [s.handled_at for s in steps if s.status == status]
        if times:
            return min(times)
    if snapshot.status in (DossierStatus.FINISHED, DossierStatus.RETURNED):
        return snapshot.processing_finished_at or snapshot.returned_at
    requests = [s.handled_at for s in steps if s.status == DossierStatus.SUPPLEMENT_REQUESTED]
    if len(requests) == 1:
        return requests[0]
    return None


def supplement_requests(snapshot: Dossier, steps: Sequence[ProgressStep]) -> int:
    """How many times a supplement was requested: the steps at status 5, or the supplement
    rounds of the snapshot (``DanhSachHoSoBoSung``) when they say more."""
    from_steps = sum(1 for s in steps if s.status == DossierStatus.SUPPLEMENT_REQUESTED)
    return max(from_steps, len(snapshot.supplements))


def supplement_time(snapshot: Dossier) -> timedelta:
    """§8.2, 2.1: the time the dossier waited for the applicant (completion - request) is not
    counted against the agency; only completed rounds have both ends."""
    total = timedelta()
    for round_ in snapshot.supplements:
        if round_.received_at is not None and round_.received_at > round_.requested_at:
            total += round_.received_at - round_.requested_at
    return total


def elapsed_days(start: datetime, end: datetime, *, working: bool) -> float:
    """Days from ``start`` to ``end``; working days skip Saturdays and Sundays (public holidays
    are not known to the gateway [I])."""
    if end <= start:
        return 0.0
    if not working:
        return (end - start).total_seconds() / 86400
    days = 0.0
    cursor = start
    while cursor < end:
        next_midnight = datetime.combine(
            cursor.date() + timedelta(days=1), datetime.min.time(), cursor.tzinfo
        )
        stop = min(end, next_midnight)
        if cursor.weekday() < 5:
            days += (stop - cursor).total_seconds() / 86400
        cursor = stop
    return days


def handling(
    history: DossierHistory,
    period: Period,
    as_of: datetime,
    procedures: Mapping[str, ProcedureFacts],
) -> Handling:
    """Rule 2.1 for one synced dossier."""
    snapshot = history.synced
    assert snapshot is not None
    steps = history.steps
    requests = supplement_requests(snapshot, steps)
    waited = supplement_time(snapshot)
    end = end_of_processing(snapshot, steps)
    if requests > 1:
        return Handling(end, requests, waited, False, f"{requests} supplement requests")
    until = end if end is not None else min(period.end, as_of)
    effective = until - waited
    if snapshot.due_at is not None:
        late = effective > snapshot.due_at
        what = "ended" if end is not None else "still open at"
        when = _short(until)
        due = _short(snapshot.due_at)
        why = f"{what} {when}, due {due}" + (f", {_days(waited)} supplement" if waited else "")
        return Handling(end, requests, waited, not late, why)
    facts = procedures.get(snapshot.procedure_code)
    if facts is None or facts.legal_days is None or snapshot.received_at is None:
        return Handling(end, requests, waited, None, "no NgayHenTra and no legal duration")
    used = elapsed_days(snapshot.received_at, effective, working=facts.working_days)
    unit = "working days" if facts.working_days else "days"
    why = f"took {used:.1f} of {facts.legal_days:g} {unit} (no NgayHenTra)"
    return Handling(end, requests, waited, used <= facts.legal_days, why)


@dataclass
class _Tally:
    numerator: float = 0
    denominator: float = 0
    incomplete: list[str] = field(default_factory=list)
    losers: list[tuple[DossierHistory, str]] = field(default_factory=list)


def compute(
    histories: Iterable[DossierHistory],
    period: Period,
    *,
    as_of: datetime,
    procedures: Mapping[str, ProcedureFacts] | None = None,
    points: Mapping[str, float | None] | None = None,
) -> list[Indicator]:
    """Every indicator for the dossiers received in ``period`` (by ``NgayTiepNhan``)."""
    facts = procedures or {}
    maxima = {**DEFAULT_POINTS, **(points or {})}
    local = [h for h in histories if period.holds(h.local.received_at)]
    synced = [h for h in local if h.synced is not None and period.holds(h.synced.received_at)]
    # A dossier whose received date was changed on the way counts where the portal has it.
    synced += [
        h
        for h in histories
        if h.synced is not None
        and period.holds(h.synced.received_at)
        and not period.holds(h.local.received_at)
    ]
    tallies: dict[str, _Tally] = {code: _Tally() for code in LABELS}
    values: dict[str, float | None] = {}

    # 1.4 sync ratio: synced ÷ received. The portal divides by the national reporting system's
    # count; the gateway knows the one-stop system's own count of received dossiers.
    sync = tallies["1.4"]
    sync.denominator = len(local)
    sync.numerator = sum(1 for h in local if h.synced is not None)
    sync.losers = [(h, _unsynced_why(h, as_of)) for h in local if h.synced is None]
    sync.incomplete.append(
        "denominator: dossiers the one-stop system received (the portal uses the national "
        "reporting system's count, which the gateway cannot see)"
    )
    sync_ratio = sync.numerator / sync.denominator if sync.denominator else None

    handled = [h for h in synced if h.synced is not None and h.synced.status not in NOT_RECEIVED]
    on_time = tallies["2.1"]
    durations: list[float] = []
    unknown = 0
    for history in handled:
        verdict = handling(history, period, as_of, facts)
        if verdict.on_time is None:
            unknown += 1
            continue
        on_time.denominator += 1
        if verdict.on_time:
            on_time.numerator += 1
        else:
            on_time.losers.append((history, f"late: {verdict.why}"))
        snapshot = history.synced
        assert snapshot is not None
        if verdict.end is not None and snapshot.received_at is not None and _completed(history):
            taken = verdict.end - verdict.supplement_time - snapshot.received_at
            durations.append(max(0.0, taken.total_seconds() / 86400))
    if unknown:
        on_time.incomplete.append(
            f"{unknown} dossier(s) without NgayHenTra whose procedure's legal duration is not "
            "in the catalogue (run the catalogue sync or list it in indicators.procedures)"
        )
    average = tallies["2.2"]
    average.numerator = sum(durations)
    average.denominator = len(durations)
    values["2.2"] = round(sum(durations) / len(durations), 2) if durations else None
    average.incomplete.append("days (the procedure's unit, DonViTinh, is not used)")

    _online(tallies, synced, sync_ratio, facts)
    _payment(tallies, synced, facts)
    _digitisation(tallies, synced, facts)

    late_rate = 1 - on_time.numerator / on_time.denominator if on_time.denominator else None
    satisfaction = tallies["5.4"]
    if late_rate is not None:
        satisfaction.denominator = 1
        satisfaction.numerator = 1 - late_rate
    satisfaction.incomplete.append(
        "complaints (PAKN) and 'dislike' evaluations are not synced data: only the late rate "
        "is subtracted"
    )
    return [_indicator(code, tallies[code], maxima.get(code), values.get(code)) for code in LABELS]


def _online(
    tallies: dict[str, _Tally],
    synced: list[DossierHistory],
    sync_ratio: float | None,
    facts: Mapping[str, ProcedureFacts],
) -> None:
    online = [h for h in synced if h.synced is not None and h.synced.channel == Channel.ONLINE]
    services = tallies["3.2"]
    with_online = {h.synced.procedure_code for h in online if h.synced is not None}
    offered = {h.synced.procedure_code for h in synced if h.synced is not None}
    services.numerator = len(with_online)
    services.denominator = len(offered)
    services.incomplete.append(
        "denominator: procedures with dossiers in the period (the portal counts every online "
        "service the agency offers, from the national catalogue)"
    )
    share = tallies["3.3"]
    counted = 0
    for history in online:
        snapshot = history.synced
        assert snapshot is not None
        issues = facts.get(snapshot.procedure_code, ProcedureFacts()).issues_document
        finished = snapshot.status in (DossierStatus.FINISHED, DossierStatus.RETURNED)
        if issues and finished and not _has_result_link(snapshot):
            share.losers.append((history, "online, but its e-result has no code and link"))
            continue
        counted += 1
    share.denominator = len(synced)
    share.numerator = counted * (sync_ratio if sync_ratio is not None else 0)
    share.incomplete.append("numerator: online dossiers x the sync ratio (1.4)")


def _payment(
    tallies: dict[str, _Tally], synced: list[DossierHistory], facts: Mapping[str, ProcedureFacts]
) -> None:
    bearing = [h for h in synced if h.synced is not None and _fee_bearing(h.synced)]
    procedures = tallies["3.5"]
    paid_procedures = {
        h.synced.procedure_code
        for h in bearing
        if h.synced is not None and h.synced.online_payment != OnlinePayment.NONE
    }
    with_fees = {code for code, f in facts.items() if f.has_fees} | {
        h.synced.procedure_code for h in bearing if h.synced is not None
    }
    procedures.numerator = len(paid_procedures)
    procedures.denominator = len(with_fees)
    if not any(f.has_fees is not None for f in facts.values()):
        procedures.incomplete.append(
            "denominator: procedures with fee-bearing dossiers in the period (the catalogue's "
            "fee list is not synced)"
        )
    payments = tallies["3.6"]
    payments.denominator = len(bearing)
    for history in bearing:
        assert history.synced is not None
        if history.synced.online_payment in (OnlinePayment.ON_PORTAL, OnlinePayment.LOCAL_GATEWAY):
            payments.numerator += 1
        else:
            payments.losers.append((history, "fee-bearing, not paid online"))


def _digitisation(
    tallies: dict[str, _Tally], synced: list[DossierHistory], facts: Mapping[str, ProcedureFacts]
) -> None:
    results = tallies["4.1"]
    unknown_issuing = 0
    for history in synced:
        snapshot = history.synced
        assert snapshot is not None
        if snapshot.status not in (DossierStatus.FINISHED, DossierStatus.RETURNED):
            continue
        issues = facts.get(snapshot.procedure_code, ProcedureFacts()).issues_document
        if issues is None:
            unknown_issuing += 1
        elif not issues:
            continue
        results.denominator += 1
        if _has_result_link(snapshot):
            results.numerator += 1
        else:
            results.losers.append((history, "finished without a result document link"))
    if unknown_issuing:
        results.incomplete.append(
            f"{unknown_issuing} finished dossier(s) of procedures not known to issue a "
            "document were counted as issuing one"
        )
    rules = {
        "4.2": (_digitised, "no submitted document file (TaiLieuNop)"),
        "4.3": (lambda d: d.has_digitised_components, "HoSoCoThanhPhanSoHoa is not set"),
        "4.4": (
            lambda d: any(doc.from_personal_store for doc in d.documents),
            "no document taken from the personal data store",
        ),
        "4.5": (
            lambda d: (
                d.vneid_verified
                or bool(d.databases_consulted)
                or any(doc.from_personal_store for doc in d.documents)
            ),
            "no VNeID account, population data or personal store",
        ),
    }
    for code, (rule, why) in rules.items():
        tally = tallies[code]
        tally.denominator = len(synced)
        for history in synced:
            assert history.synced is not None
            if rule(history.synced):
                tally.numerator += 1
            else:
                tally.losers.append((history, why))


def _indicator(
    code: str, tally: _Tally, max_points: float | None, value: float | None
) -> Indicator:
    _, vi, en = LABELS[code]
    ratio = tally.numerator / tally.denominator if tally.denominator else None
    earned = None if code == "2.2" else points_for(code, ratio, max_points)
    costs: tuple[Cost, ...] = ()
    if max_points is not None and tally.denominator and earned is not None:
        threshold = THRESHOLDS.get(code, 1.0)
        # What one dossier more on the right side would have earned, until the threshold.
        each = max_points / (threshold * tally.denominator) if earned < max_points else 0.0
        costs = tuple(
            sorted(
                (
                    Cost(
                        h.local.dossier_code,
                        h.local.agency_code,
                        h.local.procedure_code,
                        round(each, 4),
                        why,
                    )
                    for h, why in tally.losers
                ),
                key=lambda c: (-c.points, c.dossier_code),
            )
        )
    return Indicator(
        code=code,
        label_vi=vi,
        label_en=en,
        numerator=round(tally.numerator, 4),
        denominator=tally.denominator,
        max_points=max_points,
        points=earned,
        value=value,
        incomplete=tuple(tally.incomplete),
        costs=costs,
    )


# -- small readings ----------------------------------------------------------------------------


def _completed(history: DossierHistory) -> bool:
    return any(
        s.status in (DossierStatus.FINISHED, DossierStatus.RETURNED) for s in history.steps
    ) or (
        history.synced is not None
        and history.synced.status in (DossierStatus.FINISHED, DossierStatus.RETURNED)
    )


def _has_result_link(snapshot: Dossier) -> bool:
    return any(doc.download_url for doc in snapshot.result_documents)


def _fee_bearing(snapshot: Dossier) -> bool:
    """§8.2, 3.6: dossiers with fees, minus those whose every ``Gia`` is 0."""
    return any(fee.amount_vnd > 0 for fee in snapshot.fees)


def _digitised(snapshot: Dossier) -> bool:
    return any(doc.download_url and not doc.deleted for doc in snapshot.documents)


def _unsynced_why(history: DossierHistory, as_of: datetime) -> str:
    if history.accepted_at is None:
        return "not on the portal"
    return f"not on the portal, accepted {_days(as_of - history.accepted_at)} ago"


def _days(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _short(moment: datetime) -> str:
    return moment.astimezone(PORTAL_TZ).strftime("%Y-%m-%d %H:%M")
