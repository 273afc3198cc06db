"""The simulated local one-stop system (hệ thống một cửa điện tử).

:func:`generate_feed` produces the records a province's one-stop software would push to our
intake API: dossier snapshots, progress steps and results, interleaved the way many dossiers in
flight interleave, in canonical form (:mod:`gateway.model`).

Pure and deterministic: no clock, no I/O except the two CSV catalogues packaged with
``gateway.simulator`` (read with :mod:`importlib.resources`), randomness only from
``random.Random(seed)``. Procedures, field codes and agency codes are real rows of those
catalogues; people, phone numbers, ID numbers, files and result codes are invented.

How a feed is built: dossiers arrive one after another during office hours (7:30-17:00 on
working days; weekends and the fixed-date public holidays are closed; online submissions may
come in the evening). Each dossier's whole life is planned at arrival; all events are then
sorted by time and the first ``record_count`` kept, so the feed is a snapshot of the system at
the time of its last record: nothing in it lies after that time except appointments (due
dates), and the dossiers received last are still in progress.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from heapq import heappop, heappush
from random import Random
from typing import Any

from gateway.canonical import record_to_json
from gateway.model import (
    PORTAL_TZ,
    Channel,
    Dossier,
    DossierStatus,
    Fee,
    OnlinePayment,
    ProgressStep,
    Record,
    Result,
    Supplement,
)
from gateway.simulator import onestop_names as names

OPEN, CLOSE = time(7, 30), time(17, 0)
DAY_SECONDS = 9 * 3600 + 1800
"""One working day of office time (7:30-17:00)."""
HOLIDAYS = frozenset({(1, 1), (4, 30), (5, 1), (9, 2)})
"""Fixed-date public holidays; Tết and the other lunar holidays are not modelled."""
MEAN_ARRIVAL_SECONDS = 40 * 60
CHANNEL_WEIGHTS = {Channel.ONLINE: 46, Channel.AT_DESK: 49, Channel.POSTAL: 5}
P_REFUSED = 0.08  # of online and postal dossiers (≈4% of all): desk refusals leave no record
P_SUPPLEMENT, P_FEES, P_WITHDRAWN = 0.08, 0.03, 0.01
P_LATE, P_UNCOLLECTED = 0.08, 0.04

_Event = tuple[datetime, int, int, Record]


@dataclass(frozen=True)
class GeneratedFeed:
    """What the simulated one-stop system pushes, in push order."""

    records: list[Record]
    dossier_codes: list[str]


@dataclass
class _World:
    rng: Random
    procedures: tuple[names.Procedure, ...]
    weights: list[float]
    agencies: tuple[tuple[str, str], ...]
    used_codes: set[str] = field(default_factory=set)
    staff: dict[tuple[str, str, str], list[names.Staff]] = field(default_factory=dict)


def generate_feed(
    record_count: int, *, seed: int = 7, start: datetime, agencies: Sequence[str] | None = None
) -> GeneratedFeed:
    """``record_count`` records (at least one dossier) from a one-stop system opening at
    ``start`` (timezone-aware), for ``agencies`` (default: :func:`default_agencies`)."""
    if record_count < 1:
        raise ValueError("record_count must be at least 1")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    world = _world(seed, agencies)
    start = start.astimezone(PORTAL_TZ)
    if start.microsecond:
        start = start.replace(microsecond=0) + timedelta(seconds=1)
    arrival, index, settled = _open_at(start), 0, 0
    events: list[_Event] = []
    pending: list[datetime] = []
    while True:
        while pending and pending[0] <= arrival:  # later dossiers cannot precede these
            heappop(pending)
            settled += 1
        if settled >= record_count:
            break
        for event in _simulate(world, index, arrival):
            events.append(event)
            heappush(pending, event[0])
        index += 1
        gap = 1 + int(world.rng.expovariate(1 / MEAN_ARRIVAL_SECONDS))
        arrival = _add_office_time(arrival, gap)
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    records = [e[3] for e in events[:record_count]]
    return GeneratedFeed(records, list(dict.fromkeys(r.dossier_code for r in records)))


def to_json_records(feed: GeneratedFeed) -> list[dict[str, Any]]:
    """The feed's records in canonical JSON (:func:`gateway.canonical.record_to_json`)."""
    return [record_to_json(record) for record in feed.records]


def default_agencies() -> tuple[str, ...]:
    """The agency codes used when none are given: every province (``cap`` = ``tỉnh``) row of
    ``agency-codes-sample.csv``, in file order."""
    return tuple(code for code, (_, level) in names.catalogue()[1].items() if level == "tỉnh")


# --- set-up -----------------------------------------------------------------------------


def _world(seed: int, agencies: Sequence[str] | None) -> _World:
    if isinstance(agencies, str):
        raise TypeError("agencies must be a sequence of agency codes, not one string")
    procedures, known = names.catalogue()
    codes = default_agencies() if agencies is None else tuple(agencies)
    if not codes or not all(code.strip() for code in codes):
        raise ValueError("agencies must be a non-empty list of agency codes")
    named = tuple((c, known[c][0] if c in known else f"Cơ quan có mã định danh {c}") for c in codes)
    per_field = Counter(p.field_code for p in procedures)
    weights = [
        names.FIELD_WEIGHTS.get(p.field_code, 1)
        / per_field[p.field_code]
        * names.PROCEDURE_BOOST.get(p.code, 1)
        for p in procedures
    ]
    return _World(Random(seed), procedures, weights, named)  # noqa: S311 - simulation only


# --- office time ------------------------------------------------------------------------


def _is_working_day(day: date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS


def _open_at(t: datetime) -> datetime:
    """``t`` if the office is open then, else the next opening time."""
    if _is_working_day(t.date()) and OPEN <= t.time() < CLOSE:
        return t
    day = t.date()
    if not (_is_working_day(day) and t.time() < OPEN):
        day += timedelta(days=1)
        while not _is_working_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, OPEN, tzinfo=PORTAL_TZ)


def _add_office_time(t: datetime, seconds: int) -> datetime:
    t = _open_at(t)
    while True:
        closing = datetime.combine(t.date(), CLOSE, tzinfo=PORTAL_TZ)
        if seconds < (closing - t).total_seconds():
            return t + timedelta(seconds=seconds)
        seconds -= int((closing - t).total_seconds())
        t = _open_at(closing)


def _add_working_days(t: datetime, days: int) -> datetime:
    for _ in range(days):
        t += timedelta(days=1)
        while not _is_working_day(t.date()):
            t += timedelta(days=1)
    return t


def _due(received: datetime, duration: names.Duration) -> datetime:
    if duration.unit == "HOUR":
        return _add_office_time(received, duration.amount * 3600)
    if duration.unit == "DAY":
        return _add_working_days(received + timedelta(days=duration.amount - 1), 1)
    return _add_working_days(received, duration.amount)


def _budget(duration: names.Duration) -> int:
    """The processing time allowed, in office seconds."""
    per_unit = {"HOUR": 3600, "DAY": DAY_SECONDS * 5 // 7}.get(duration.unit, DAY_SECONDS)
    return duration.amount * per_unit


# --- dossiers ---------------------------------------------------------------------------


def _dossier_code(world: _World, agency: str, at: datetime) -> str:
    """``<MaDinhDanh>-<yyMMdd>-<5 digits>``, the shape TD generates (spec §4.1), unique."""
    while True:
        code = f"{agency}-{at:%y%m%d}-{world.rng.randrange(100_000):05d}"
        if code not in world.used_codes:
            world.used_codes.add(code)
            return code


def _new_dossier(
    world: _World, proc: names.Procedure, channel: Channel, agency: tuple[str, str], at: datetime
) -> Dossier:
    """The dossier as submitted (status 1; later snapshots are replaced copies)."""
    online = channel is Channel.ONLINE
    return Dossier(
        dossier_code=_dossier_code(world, agency[0], at),
        agency_code=agency[0],
        procedure_code=proc.code,
        status=DossierStatus.SUBMITTED,
        received_at=None,
        due_at=None,
        procedure_name=proc.name,
        field_code=proc.field_code,
        field_name=proc.field_name,
        channel=channel,
        handling_agency_name=agency[1],
        submission_place="2",
        submitted_at=at,
        **names.paper_fields(world.rng, proc, channel, at),
        **names.owner_fields(world.rng, proc.name, proc.field_code, agency[0], online),
    )


class _Sim:
    """One dossier's life: snapshots on status changes, steps, results, as timed events."""

    def __init__(self, world: _World, index: int, proc: names.Procedure, dossier: Dossier) -> None:
        self.world, self.rng, self.index, self.proc = world, world.rng, index, proc
        self.cur = dossier
        self.events: list[_Event] = []
        self.last_step: datetime | None = None
        units = names.units(proc.field_code, proc.provincial)
        self.desk, self.handler, self.leader = map(self._staff, units)

    def _staff(self, unit: tuple[str, str]) -> names.Staff:
        """Someone of ``unit`` (department, title); each agency has three per unit."""
        key = (self.cur.agency_code, *unit)
        if key not in self.world.staff:
            people = [names.person(self.rng)[0] for _ in range(3)]
            self.world.staff[key] = [names.Staff(name, unit[1], unit[0]) for name in people]
        return self.rng.choice(self.world.staff[key])

    def emit(self, record: Record, at: datetime) -> None:
        self.events.append((at, self.index, len(self.events), record))

    def later(self, t: datetime, seconds: float) -> datetime:
        """``seconds`` of office time after ``t`` (at least two minutes)."""
        return _add_office_time(t, max(120, int(seconds)))

    def step(self, at: datetime, status: DossierStatus, action: str, who: names.Staff) -> None:
        started, self.last_step = self.last_step or self.cur.submitted_at, at
        step = ProgressStep(
            self.cur.dossier_code,
            self.cur.agency_code,
            who.name,
            at,
            action,
            status,
            title=who.title,
            department=who.department,
            started_at=started,
            deadline_at=self.cur.due_at,
        )
        self.emit(step, at)

    def change(
        self, at: datetime, status: DossierStatus, action: str, who: names.Staff, **changes: Any
    ) -> None:
        """A status change: the updated snapshot, then the step that made it."""
        self.cur = replace(self.cur, status=status, **changes)
        self.emit(self.cur, at)
        self.step(at, status, action, who)

    def refuse(self, at: datetime) -> None:
        """Refused at reception (3): received and refused at once, no due date."""
        reason = self.rng.choice(names.REFUSAL_REASONS)
        action = names.REFUSAL_ACTION.format(reason=reason)
        fields = {"received_at": at, "refused_at": at, "note": reason}
        self.change(at, DossierStatus.REFUSED, action, self.desk, **fields)

    def run(self, received: datetime, channel: Channel) -> None:
        """Reception (2), processing (4, with detours to 5 or 6), then the result."""
        rng, duration = self.rng, self.proc.times[channel]
        due = _due(received, duration)
        reception = names.RECEPTION_ACTIONS[channel]
        self.change(
            received, DossierStatus.RECEIVED, reception, self.desk, received_at=received, due_at=due
        )
        late = rng.random() < P_LATE
        budget = _budget(duration) * (rng.uniform(1.1, 1.6) if late else rng.uniform(0.25, 0.9))
        t = self.later(received, min(budget * 0.05, 5400) * rng.uniform(0.5, 1.5))
        transfer = names.TRANSFER_ACTION.format(department=self.handler.department)
        self.change(t, DossierStatus.PROCESSING, transfer, self.desk)
        t = self.later(t, budget * 0.35 * rng.uniform(0.6, 1.4))
        if rng.random() < P_SUPPLEMENT:
            t = self.later(self.supplement(t), budget * 0.1)
        if rng.random() < P_WITHDRAWN:
            self.change(t, DossierStatus.WITHDRAWN, names.WITHDRAWAL_ACTION, self.desk)
            return
        self.step(t, DossierStatus.PROCESSING, rng.choice(names.REVIEW_ACTIONS), self.handler)
        t = self.later(t, budget * 0.35 * rng.uniform(0.6, 1.4))
        self.step(t, DossierStatus.PROCESSING, names.SUBMIT_ACTION, self.handler)
        if rng.random() < P_FEES:
            t = self.fees(self.later(t, 1800))
        self.finish(self.later(t, budget * 0.25 * rng.uniform(0.6, 1.4)), channel)

    def supplement(self, at: datetime) -> datetime:
        """Supplement requested (5), then received back (4) with the due date moved on."""
        rng, due = self.rng, self.cur.due_at
        assert due is not None
        reason = rng.choice(names.SUPPLEMENT_REASONS)
        request = Supplement(names.uid(rng), self.handler.name, reason, at, previous_due_at=due)
        action = f"Yêu cầu bổ sung hồ sơ: {reason}"
        self.change(
            at, DossierStatus.SUPPLEMENT_REQUESTED, action, self.handler, supplements=(request,)
        )
        days = rng.randint(1, 5)
        back = self.later(at, days * DAY_SECONDS - rng.randint(0, 3 * 3600))
        paper = names.submitted_document(rng, "", "Giấy tờ bổ sung", True, back)
        done = replace(
            request,
            received_by=self.desk.name,
            reception_info=names.SUPPLEMENT_RECEIVED_INFO,
            received_at=back,
            completed=True,
            documents=(paper,),
            new_due_at=_add_working_days(due, days),
        )
        action = names.SUPPLEMENT_RECEIVED_ACTION
        fields = {"supplements": (done,), "due_at": done.new_due_at}
        self.change(back, DossierStatus.PROCESSING, action, self.desk, **fields)
        return back

    def fees(self, at: datetime) -> datetime:
        """Financial obligations requested (6), then paid (4)."""
        rng = self.rng
        name, low, high = rng.choice(names.FEE_ITEMS)
        fees = (*self.cur.fees, Fee(name, rng.randrange(low, high, 1000)))
        self.change(at, DossierStatus.FEES_REQUESTED, names.FEES_ACTION, self.handler, fees=fees)
        paid = self.later(at, rng.randint(1, 3) * DAY_SECONDS * rng.uniform(0.3, 1.0))
        payment = OnlinePayment.NONE
        if self.cur.channel is Channel.ONLINE:
            payment = rng.choice([OnlinePayment.ON_PORTAL, OnlinePayment.LOCAL_GATEWAY])
        action = names.FEES_PAID_ACTION
        self.change(paid, DossierStatus.PROCESSING, action, self.desk, online_payment=payment)
        return paid

    def finish(self, at: datetime, channel: Channel) -> None:
        """Finished (9) with the result documents, then usually handed over (10)."""
        rng, code, agency, proc = self.rng, self.cur.dossier_code, self.cur.agency_code, self.proc
        papers = names.result_documents(rng, proc.code, proc.name, proc.field_code, at)
        who = self.leader
        finished = Result(
            code,
            agency,
            DossierStatus.FINISHED,
            at,
            who.name,
            names.FINISH_ACTION,
            result_documents=papers,
            title=who.title,
            department=who.department,
        )
        self.emit(finished, at)
        if rng.random() < P_UNCOLLECTED:
            return
        returned = self.later(at, rng.choice((0.2, 0.5, 1, 1, 2, 4)) * DAY_SECONDS * rng.random())
        action, who = names.RETURN_ACTIONS[channel], self.desk
        handed_over = Result(
            code,
            agency,
            DossierStatus.RETURNED,
            at,
            who.name,
            action,
            returned_at=returned,
            return_info=action,
            result_documents=papers,
            title=who.title,
            department=who.department,
        )
        self.emit(handed_over, returned)


def _simulate(world: _World, index: int, arrival: datetime) -> list[_Event]:
    """Every event of the dossier arriving at ``arrival`` (none of them before it)."""
    rng = world.rng
    proc = rng.choices(world.procedures, world.weights)[0]
    options = [c for c in CHANNEL_WEIGHTS if c in proc.times]
    channel = rng.choices(options, [CHANNEL_WEIGHTS[c] for c in options])[0]
    submitted = arrival
    if channel is Channel.ONLINE and rng.random() < 0.3:  # the portal is open in the evening
        submitted = arrival.replace(hour=rng.randint(17, 22), minute=rng.randrange(60))
    dossier = _new_dossier(world, proc, channel, rng.choice(world.agencies), submitted)
    sim = _Sim(world, index, proc, dossier)
    received = submitted
    if channel is Channel.ONLINE:
        sim.emit(dossier, submitted)
        received = sim.later(submitted, rng.randint(600, DAY_SECONDS))
    if channel is not Channel.AT_DESK and rng.random() < P_REFUSED:
        sim.refuse(received)
    else:
        sim.run(received, channel)
    return sim.events
