"""The simulated local one-stop system: gateway/simulator/onestop.py."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from importlib import resources
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.canonical import record_from_json, record_to_json
from gateway.model import (
    PORTAL_TZ,
    ApplicantType,
    Channel,
    Dossier,
    DossierStatus,
    IdentifierKind,
    ProgressStep,
    Record,
    Result,
)
from gateway.simulator.onestop import (
    GeneratedFeed,
    default_agencies,
    generate_feed,
    to_json_records,
)
from gateway.simulator.onestop_names import Duration, catalogue, parse_processing_time

START = datetime(2026, 3, 2, 8, 0, tzinfo=PORTAL_TZ)  # a Monday
S = DossierStatus
HOLIDAYS = {(1, 1), (4, 30), (5, 1), (9, 2)}
NEXT = {  # statuses a dossier may show next (5/6 -> 4 is the one legitimate step back)
    S.SUBMITTED: {S.SUBMITTED, S.RECEIVED, S.REFUSED},
    S.RECEIVED: {S.RECEIVED, S.PROCESSING},
    S.PROCESSING: {S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FEES_REQUESTED, S.WITHDRAWN, S.FINISHED},
    S.SUPPLEMENT_REQUESTED: {S.SUPPLEMENT_REQUESTED, S.PROCESSING},
    S.FEES_REQUESTED: {S.FEES_REQUESTED, S.PROCESSING},
    S.FINISHED: {S.FINISHED, S.RETURNED},
    S.REFUSED: {S.REFUSED},
    S.WITHDRAWN: {S.WITHDRAWN},
    S.RETURNED: {S.RETURNED},
}


@pytest.fixture(scope="module")
def feed() -> GeneratedFeed:
    return generate_feed(2000, start=START)


@pytest.fixture(scope="module")
def big_feed() -> GeneratedFeed:
    return generate_feed(3000, seed=3, start=START)


def csv_rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("gateway.simulator") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def by_dossier(feed: GeneratedFeed) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in feed.records:
        grouped[record.dossier_code].append(record)
    return grouped


def snapshots(feed: GeneratedFeed) -> list[Dossier]:
    return [r for r in feed.records if isinstance(r, Dossier)]


def first_snapshots(feed: GeneratedFeed) -> list[Dossier]:
    return [records[0] for records in by_dossier(feed).values() if isinstance(records[0], Dossier)]


def step_time(record: ProgressStep | Result) -> datetime:
    """When the step (or the closing step a result stands for) happened."""
    if isinstance(record, ProgressStep):
        return record.handled_at
    return record.returned_at or record.finished_at


def office_moments(record: Record) -> list[datetime]:
    """Times of things cán bộ did, which all happen in office hours."""
    if isinstance(record, ProgressStep):
        return [record.handled_at]
    if isinstance(record, Result):
        return [t for t in (record.finished_at, record.returned_at) if t is not None]
    moments = [record.received_at, record.refused_at]
    for supplement in record.supplements:
        moments += [supplement.requested_at, supplement.received_at]
    return [t for t in moments if t is not None]


def past_moments(record: Record) -> list[datetime]:
    """Every time a record states as already past (appointments excluded)."""
    if isinstance(record, Dossier):
        return [t for t in (record.submitted_at, *office_moments(record)) if t is not None]
    if isinstance(record, ProgressStep) and record.started_at is not None:
        return [record.started_at, record.handled_at]
    return office_moments(record)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


# --- determinism and size ----------------------------------------------------------------


def test_same_seed_gives_the_same_feed() -> None:
    first = generate_feed(300, seed=11, start=START)
    again = generate_feed(300, seed=11, start=START)
    assert to_json_records(first) == to_json_records(again)
    assert first.dossier_codes == again.dossier_codes


def test_another_seed_gives_another_feed() -> None:
    one = generate_feed(300, seed=11, start=START)
    other = generate_feed(300, seed=12, start=START)
    assert to_json_records(one) != to_json_records(other)


@pytest.mark.parametrize("count", [1, 7, 100, 2000, 3000])
def test_size_is_close_to_the_request(count: int) -> None:
    result = generate_feed(count, start=START)
    assert abs(len(result.records) - count) <= max(1, count * 0.05)
    assert len(result.dossier_codes) >= 1
    assert isinstance(result.records[0], Dossier)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"record_count": 0, "start": START}, ValueError),
        ({"record_count": 10, "start": datetime(2026, 3, 2, 8)}, ValueError),  # naive
        ({"record_count": 10, "start": START, "agencies": []}, ValueError),
        ({"record_count": 10, "start": START, "agencies": "000.00.00.H56"}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        generate_feed(**kwargs)


# --- canonical form ----------------------------------------------------------------------


def test_records_round_trip_through_canonical_json(feed: GeneratedFeed) -> None:
    as_json = to_json_records(feed)
    assert as_json == [record_to_json(r) for r in feed.records]
    json.dumps(as_json, ensure_ascii=False)  # plain JSON values only
    for record, value in zip(feed.records, as_json, strict=True):
        assert record_from_json(value) == record


def test_text_is_vietnamese_and_nfc(feed: GeneratedFeed) -> None:
    texts = [s for value in to_json_records(feed) for s in strings(value)]
    assert all(unicodedata.is_normalized("NFC", s) for s in texts)
    firsts = first_snapshots(feed)
    assert all(not d.summary.isascii() for d in firsts)
    surnames = Counter(d.owner_name.split()[0] for d in firsts)
    assert surnames.most_common(1)[0][0] == "Nguyễn"
    handlers = {r.handler for r in feed.records if isinstance(r, ProgressStep)}
    assert sum(not name.isascii() for name in handlers) > len(handlers) / 2
    titles = {r.title for r in feed.records if isinstance(r, ProgressStep)}
    assert {"Chuyên viên", "Công chức Tư pháp - Hộ tịch"} <= titles


# --- order and time ----------------------------------------------------------------------


def test_each_dossier_starts_with_a_snapshot_and_steps_move_forward(feed: GeneratedFeed) -> None:
    for records in by_dossier(feed).values():
        assert isinstance(records[0], Dossier)
        times = [step_time(r) for r in records if not isinstance(r, Dossier)]
        assert times == sorted(times)
        assert len(set(times)) == len(times), "handled_at strictly increasing"


def test_dossiers_are_interleaved_in_push_order(feed: GeneratedFeed) -> None:
    step_times = [step_time(r) for r in feed.records if not isinstance(r, Dossier)]
    assert step_times == sorted(step_times)  # the local system pushes as things happen
    switches = sum(a.dossier_code != b.dossier_code for a, b in pairwise(feed.records))
    assert switches > 0.6 * len(feed.records)  # a snapshot and its step go together
    in_flight, most = set(), 0
    for record in feed.records:
        in_flight.add(record.dossier_code)
        if isinstance(record, Result) and record.status is S.RETURNED:
            in_flight.discard(record.dossier_code)
        most = max(most, len(in_flight))
    assert most > 20


def test_times_are_realistic_and_never_after_the_last_record(feed: GeneratedFeed) -> None:
    earliest_later_step = datetime.max.replace(tzinfo=PORTAL_TZ)
    for record in reversed(feed.records):  # no record knows of a time after a later push
        for moment in past_moments(record):
            assert moment.tzinfo is not None
            assert START <= moment <= earliest_later_step
        for moment in office_moments(record):
            assert moment.weekday() < 5
            assert time(7, 30) <= moment.astimezone(PORTAL_TZ).time() <= time(17, 0)
        if not isinstance(record, Dossier):
            earliest_later_step = min(earliest_later_step, step_time(record))


# --- statuses ----------------------------------------------------------------------------


def test_status_histories_are_plausible(feed: GeneratedFeed) -> None:
    for records in by_dossier(feed).values():
        first = records[0]
        assert isinstance(first, Dossier)
        if first.channel is Channel.ONLINE:
            assert first.status is S.SUBMITTED
        else:
            assert first.status in {S.RECEIVED, S.REFUSED}
        statuses = [r.status for r in records]
        for before, after in pairwise(statuses):
            assert after in NEXT[before], f"{first.dossier_code}: {before} -> {after}"
        results = [r for r in records if isinstance(r, Result)]
        assert [r.status for r in results] in ([], [S.FINISHED], [S.FINISHED, S.RETURNED])


def test_a_feed_of_2000_has_the_usual_statuses(feed: GeneratedFeed) -> None:
    seen = {r.status for r in feed.records}
    assert {S.SUBMITTED, S.RECEIVED, S.REFUSED, S.PROCESSING} <= seen
    assert {S.SUPPLEMENT_REQUESTED, S.FINISHED, S.RETURNED} <= seen


def test_the_mix_is_realistic(big_feed: GeneratedFeed) -> None:
    histories = by_dossier(big_feed)
    firsts = first_snapshots(big_feed)
    finals = Counter(records[-1].status for records in histories.values())
    statuses = {code: {r.status for r in records} for code, records in histories.items()}
    share = len(histories)
    assert 0.35 < sum(d.channel is Channel.ONLINE for d in firsts) / share < 0.55
    assert 0.5 < finals[S.RETURNED] / share < 0.95  # most finish, some are still in progress
    assert finals[S.PROCESSING] + finals[S.RECEIVED] + finals[S.SUBMITTED] > 0
    assert 0.01 < sum(S.REFUSED in s for s in statuses.values()) / share < 0.1
    assert 0.02 < sum(S.SUPPLEMENT_REQUESTED in s for s in statuses.values()) / share < 0.15
    assert sum(S.FEES_REQUESTED in s for s in statuses.values()) / share < 0.08
    assert sum(S.WITHDRAWN in s for s in statuses.values()) / share < 0.04
    types = Counter(d.applicant_type for d in firsts)
    assert types[ApplicantType.CITIZEN] > 0.85 * share
    assert types[ApplicantType.BUSINESS] > 0


# --- dossier content ---------------------------------------------------------------------


def test_procedures_are_real_catalogue_rows(feed: GeneratedFeed) -> None:
    rows = {
        (r["ma_tthc"], r["ten_tthc"], r["ma_linh_vuc"], r["ten_linh_vuc"])
        for r in csv_rows("tthc-sample.csv")
    }
    for d in snapshots(feed):
        assert (d.procedure_code, d.procedure_name, d.field_code, d.field_name) in rows
    assert len({d.procedure_code for d in snapshots(feed)}) > 20


def test_snapshots_carry_what_the_portal_requires(feed: GeneratedFeed) -> None:
    for d in snapshots(feed):
        for text in (d.procedure_name, d.field_code, d.field_name, d.summary):
            assert text.strip()
        assert d.handling_agency_name.strip()
        assert len(d.summary) <= 1000
        if d.status is S.SUBMITTED:
            assert (d.received_at, d.due_at) == (None, None)
            assert d.submitted_at is not None
        elif d.status is S.REFUSED:
            assert d.received_at == d.refused_at
            assert d.refused_at is not None
            assert d.due_at is None
        else:
            assert d.received_at is not None
            assert d.due_at is not None
            assert d.due_at > d.received_at
            assert d.due_at.weekday() < 5
    for step in feed.records:
        if isinstance(step, ProgressStep):
            assert 0 < len(step.handler.strip()) <= 50
            assert step.action.strip()


def test_due_dates_follow_the_legal_processing_time(feed: GeneratedFeed) -> None:
    times = {p.code: p.times for p in catalogue()[0]}
    checked = 0
    for d in snapshots(feed):
        duration = times[d.procedure_code][d.channel or Channel.AT_DESK]
        if d.status is not S.RECEIVED or duration.unit != "WORKING_DAY":
            continue
        assert d.received_at is not None
        assert d.due_at is not None
        day, working_days = d.received_at.date(), 0
        while day < d.due_at.date():
            day += timedelta(days=1)
            working_days += day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS
        assert working_days == duration.amount
        checked += 1
    assert checked > 50


def test_agencies_and_their_names_come_from_the_catalogue(feed: GeneratedFeed) -> None:
    rows = csv_rows("agency-codes-sample.csv")
    provinces = {r["ma_dinh_danh"]: r["ten_co_quan"] for r in rows if r["cap"] == "tỉnh"}
    assert set(default_agencies()) == set(provinces)
    for d in snapshots(feed):
        assert provinces[d.agency_code] == d.handling_agency_name
    assert len({r.agency_code for r in feed.records}) > 5


def test_given_agencies_are_used() -> None:
    chosen = ["000.00.00.H56", "H99.01"]
    result = generate_feed(200, start=START, agencies=chosen)
    assert {r.agency_code for r in result.records} == set(chosen)
    names = {d.agency_code: d.handling_agency_name for d in snapshots(result)}
    assert names["000.00.00.H56"] == "UBND tỉnh Thanh Hóa"
    assert names["H99.01"].strip()


def test_dossier_codes_are_unique_and_shaped_like_td(feed: GeneratedFeed) -> None:
    assert feed.dossier_codes == list(by_dossier(feed))
    assert len(set(feed.dossier_codes)) == len(feed.dossier_codes)
    for d in first_snapshots(feed):
        assert d.submitted_at is not None
        stamp = d.submitted_at.strftime("%y%m%d")
        assert re.fullmatch(rf"{re.escape(d.agency_code)}-{stamp}-\d{{5}}", d.dossier_code)


def test_owners_have_ids_and_contacts(feed: GeneratedFeed) -> None:
    for d in first_snapshots(feed):
        (identifier,) = d.owner_identifiers
        assert identifier.kind is IdentifierKind.CCCD
        assert re.fullmatch(r"\d{12}", identifier.number)
        if d.applicant_type is ApplicantType.CITIZEN:
            assert d.owner_id_number == identifier.number
        assert re.fullmatch(r"0[35789]\d{8}", d.phone)
        assert d.email == "" or re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+", d.email)
        assert d.email or d.channel is not Channel.ONLINE


def test_files_and_results_have_absolute_https_links(feed: GeneratedFeed) -> None:
    urls = [doc.download_url for d in snapshots(feed) for doc in d.documents]
    finished = [r for r in feed.records if isinstance(r, Result)]
    assert finished
    for result in finished:
        assert result.result_documents
        assert all(doc.result_code for doc in result.result_documents)
        urls += [doc.download_url for doc in result.result_documents]
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "motcua.example.gov.vn")
        assert parts.path.endswith(".pdf")
    assert any(d.fees and d.fees[0].amount_vnd > 0 for d in snapshots(feed))
    assert any(d.vneid_verified for d in snapshots(feed))
    assert any(d.has_digitised_components for d in snapshots(feed))


def test_results_close_dossiers_in_order(feed: GeneratedFeed) -> None:
    for records in by_dossier(feed).values():
        results = {r.status: r for r in records if isinstance(r, Result)}
        if S.RETURNED in results:
            returned, finished = results[S.RETURNED], results[S.FINISHED]
            assert returned.returned_at is not None
            assert returned.returned_at > finished.finished_at
            assert returned.finished_at == finished.finished_at  # NgayKetThucXuLy is kept


def test_supplements_pause_and_move_the_due_date(feed: GeneratedFeed) -> None:
    requests = 0
    for records in by_dossier(feed).values():
        dossiers = [r for r in records if isinstance(r, Dossier)]
        for before, after in pairwise(dossiers):
            if before.status is not S.SUPPLEMENT_REQUESTED:
                continue
            requests += 1
            (asked,) = before.supplements
            assert not asked.completed
            assert asked.previous_due_at == before.due_at
            (done,) = after.supplements
            assert after.status is S.PROCESSING
            assert done.completed
            assert done.received_at is not None
            assert done.received_at > asked.requested_at
            assert before.due_at is not None
            assert done.new_due_at is not None
            assert after.due_at == done.new_due_at
            assert done.new_due_at > before.due_at
    assert requests > 0


@pytest.mark.parametrize(
    ("thoi_han", "expected"),
    [
        (
            "7 WORKING_DAY (mọi kênh) | trường hợp: 1.004222.01=7 WORKING_DAY",
            dict.fromkeys(Channel, Duration("WORKING_DAY", 7)),
        ),
        (
            "1 OTHER (mọi kênh) | trường hợp: 1.001193.02=1 WORKING_DAY, 1.001193.01=1 DAY",
            dict.fromkeys(Channel, Duration("WORKING_DAY", 1)),
        ),
        (
            "5 OTHER (mọi kênh) | trường hợp: 1.004772.01=25 DAY",
            dict.fromkeys(Channel, Duration("DAY", 25)),
        ),
        ("không ghi số, OTHER (mọi kênh)", dict.fromkeys(Channel, Duration("WORKING_DAY", 3))),
        (
            "1 HOUR (mọi kênh) | trường hợp: 2.001159.01=1 HOUR",
            dict.fromkeys(Channel, Duration("HOUR", 1)),
        ),
        (
            "trực tuyến 17 WORKING_DAY; bưu chính 20 WORKING_DAY; trực tiếp 27 WORKING_DAY",
            {
                Channel.ONLINE: Duration("WORKING_DAY", 17),
                Channel.POSTAL: Duration("WORKING_DAY", 20),
                Channel.AT_DESK: Duration("WORKING_DAY", 27),
            },
        ),
        (
            "bưu chính 30 ngày; trực tiếp 40 ngày",
            {Channel.POSTAL: Duration("DAY", 30), Channel.AT_DESK: Duration("DAY", 40)},
        ),
        (
            '15 DAY (chỉ trực tiếp) — "- Thời hạn thực hiện liên thông..." | trường hợp: x=1 OTHER',
            {Channel.AT_DESK: Duration("DAY", 15)},
        ),
    ],
)
def test_processing_times_are_read_from_thoi_han(
    thoi_han: str, expected: dict[Channel, Duration]
) -> None:
    assert parse_processing_time(thoi_han) == expected


def test_every_catalogue_time_is_understood() -> None:
    for row in csv_rows("tthc-sample.csv"):
        times = parse_processing_time(unicodedata.normalize("NFC", row["thoi_han"]))
        assert times, row["ma_tthc"]
        assert all(d.amount > 0 for d in times.values()), row["ma_tthc"]


def test_start_outside_office_hours_moves_to_the_next_opening() -> None:
    saturday_night = datetime(2026, 3, 7, 22, 0, tzinfo=PORTAL_TZ)
    result = generate_feed(50, start=saturday_night)
    first = result.records[0]
    assert isinstance(first, Dossier)
    assert first.submitted_at is not None
    assert first.submitted_at.date() == date(2026, 3, 9)
