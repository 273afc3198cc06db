"""The Decision 766 rules (spec §8.2) on small hand-built dossier histories.

Each expected value is worked out in the test from the rule's words, not from the code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gateway.indicators.f766 import (
    DossierHistory,
    Indicator,
    ProcedureFacts,
    compute,
    elapsed_days,
    end_of_processing,
    handling,
    parse_period,
    points_for,
)
from gateway.model import (
    PORTAL_TZ,
    Channel,
    DossierStatus,
    Fee,
    OnlinePayment,
    SubmittedDocument,
    Supplement,
)
from tests.factories import T0, dossier, result_document, step

S = DossierStatus
NOV = parse_period("2026-11")
AS_OF = datetime(2026, 12, 5, 9, 0, tzinfo=PORTAL_TZ)


def code(n: int) -> str:
    return f"000.00.00.H56-261102-{n:05d}"


def history(
    n: int, *steps_: tuple[S, int], synced: bool = True, **changes: object
) -> DossierHistory:
    """Dossier ``n`` with steps (status, minutes after T0); both sides hold the same snapshot."""
    snapshot = dossier(code(n), **changes)
    steps = tuple(step(code(n), minutes=m, status=s) for s, m in steps_)
    return DossierHistory(
        local=snapshot,
        synced=snapshot if synced else None,
        steps=steps if synced else (),
        accepted_at=T0,
    )


def by_code(table: list[Indicator]) -> dict[str, Indicator]:
    return {i.code: i for i in table}


# -- periods ------------------------------------------------------------------------------------


def test_periods_are_months_quarters_and_years_in_the_portal_zone() -> None:
    assert (NOV.start, NOV.end) == (
        datetime(2026, 11, 1, tzinfo=PORTAL_TZ),
        datetime(2026, 12, 1, tzinfo=PORTAL_TZ),
    )
    q4 = parse_period("2026-Q4")
    assert (q4.start.month, q4.end.year, q4.end.month) == (10, 2027, 1)
    year = parse_period("2026")
    assert (year.start.month, year.end.year) == (1, 2027)
    dec = parse_period("2026-12")
    assert dec.end == datetime(2027, 1, 1, tzinfo=PORTAL_TZ)
    for bad in ("2026-13", "26-11", "2026-Q5", "november"):
        with pytest.raises(ValueError, match="period"):
            parse_period(bad)


def test_a_dossier_belongs_to_the_period_of_its_received_date_at_the_boundary() -> None:
    last_moment = datetime(2026, 11, 30, 23, 59, 59, tzinfo=PORTAL_TZ)
    first_of_december = datetime(2026, 12, 1, 0, 0, tzinfo=PORTAL_TZ)
    inside = history(1, received_at=last_moment, due_at=last_moment + timedelta(days=3))
    outside = history(2, received_at=first_of_december, due_at=first_of_december)
    table = by_code(compute([inside, outside], NOV, as_of=AS_OF))
    assert table["1.4"].denominator == 1
    assert table["2.1"].denominator == 1


# -- 2.1 on time --------------------------------------------------------------------------------


def test_end_of_processing_takes_9_before_10_before_8_before_7() -> None:
    snapshot = dossier(code(1), status=S.RETURNED)
    steps = [
        step(code(1), minutes=50, status=S.WITHDRAWN),
        step(code(1), minutes=40, status=S.STOPPED),
        step(code(1), minutes=30, status=S.RETURNED),
        step(code(1), minutes=20, status=S.FINISHED),
    ]
    assert end_of_processing(snapshot, steps) == T0 + timedelta(minutes=20)
    assert end_of_processing(snapshot, steps[:3]) == T0 + timedelta(minutes=30)
    assert end_of_processing(snapshot, steps[:2]) == T0 + timedelta(minutes=40)
    assert end_of_processing(snapshot, steps[:1]) == T0 + timedelta(minutes=50)


def test_one_supplement_request_is_the_end_and_two_are_late() -> None:
    one = history(1, (S.PROCESSING, 10), (S.SUPPLEMENT_REQUESTED, 60))
    verdict = handling(one, NOV, AS_OF, {})
    assert verdict.end == T0 + timedelta(minutes=60)
    assert verdict.on_time is True  # 60 minutes after reception, due a day later
    two = history(2, (S.SUPPLEMENT_REQUESTED, 30), (S.PROCESSING, 40), (S.SUPPLEMENT_REQUESTED, 50))
    two = replace(two, steps=(*two.steps, step(code(2), minutes=70, status=S.FINISHED)))
    verdict = handling(two, NOV, AS_OF, {})
    assert verdict.on_time is False  # finished long before the due date, but asked twice
    assert "2 supplement requests" in verdict.why
    table = by_code(compute([one, two], NOV, as_of=AS_OF))
    assert (table["2.1"].numerator, table["2.1"].denominator) == (1, 2)
    assert [c.dossier_code for c in table["2.1"].costs] == [code(2)]


def test_supplement_time_is_subtracted() -> None:
    # Due one day after reception; finished 30 hours after it, of which 10 hours waited on the
    # applicant: 20 hours of handling, on time. Without the subtraction it would be late.
    supplement = Supplement(
        supplement_id="bs1",
        requested_by="Trần Văn Bình",
        content="Bổ sung bản sao giấy chứng sinh",
        requested_at=T0 + timedelta(hours=2),
        received_at=T0 + timedelta(hours=12),
        completed=True,
    )
    finished = history(1, (S.SUPPLEMENT_REQUESTED, 120), (S.FINISHED, 30 * 60))
    finished = replace(
        finished,
        synced=replace(finished.local, supplements=(supplement,), status=S.FINISHED),
    )
    verdict = handling(finished, NOV, AS_OF, {})
    assert verdict.supplement_time == timedelta(hours=10)
    assert verdict.on_time is True
    no_subtraction = replace(finished, synced=replace(finished.local, status=S.FINISHED))
    assert handling(no_subtraction, NOV, AS_OF, {}).on_time is False


def test_no_end_yet_is_judged_at_the_end_of_the_period() -> None:
    due_after = datetime(2026, 12, 3, 17, 0, tzinfo=PORTAL_TZ)
    due_before = datetime(2026, 11, 29, 17, 0, tzinfo=PORTAL_TZ)
    open_late = history(1, (S.PROCESSING, 10), due_at=due_before)
    open_fine = history(2, (S.PROCESSING, 10), due_at=due_after)
    assert handling(open_late, NOV, AS_OF, {}).on_time is False
    assert handling(open_fine, NOV, AS_OF, {}).on_time is True
    # Computed in the middle of the period, "now" stands in for its end.
    mid = datetime(2026, 11, 10, tzinfo=PORTAL_TZ)
    assert handling(open_late, NOV, mid, {}).on_time is True


def test_a_withdrawn_dossier_ends_when_withdrawn() -> None:
    withdrawn = history(1, (S.PROCESSING, 10), (S.WITHDRAWN, 3 * 24 * 60), status=S.WITHDRAWN)
    verdict = handling(withdrawn, NOV, AS_OF, {})
    assert verdict.end == T0 + timedelta(days=3)
    assert verdict.on_time is False  # due one day after reception


def test_no_due_date_uses_the_legal_duration_or_says_it_cannot() -> None:
    # Received Monday 2 November 08:00; finished Thursday 5 November 08:00: 3 working days.
    finished = history(1, (S.FINISHED, 3 * 24 * 60), due_at=None, status=S.FINISHED)
    four_days = {"1.001193": ProcedureFacts(legal_days=4)}
    two_days = {"1.001193": ProcedureFacts(legal_days=2)}
    assert handling(finished, NOV, AS_OF, four_days).on_time is True
    assert handling(finished, NOV, AS_OF, two_days).on_time is False
    unknown = by_code(compute([finished], NOV, as_of=AS_OF))["2.1"]
    assert unknown.denominator == 0
    assert any("legal duration" in note for note in unknown.incomplete)


def test_working_days_skip_the_weekend() -> None:
    friday = datetime(2026, 11, 6, 12, 0, tzinfo=PORTAL_TZ)
    monday = datetime(2026, 11, 9, 12, 0, tzinfo=PORTAL_TZ)
    assert elapsed_days(friday, monday, working=True) == pytest.approx(1.0)
    assert elapsed_days(friday, monday, working=False) == pytest.approx(3.0)


def test_dossiers_never_received_are_not_judged_on_time() -> None:
    refused = history(1, status=S.REFUSED, due_at=None)
    submitted = history(2, status=S.SUBMITTED)
    table = by_code(compute([refused, submitted], NOV, as_of=AS_OF))
    assert table["2.1"].denominator == 0
    assert table["1.4"].denominator == 2


# -- 1.4 sync, 3.3 online x sync, 2.2 average ---------------------------------------------------


def test_sync_ratio_and_online_share_times_sync_ratio() -> None:
    online = [history(n, channel=Channel.ONLINE) for n in range(1, 4)]
    desk = [history(n, channel=Channel.AT_DESK) for n in range(4, 7)]
    unsynced = [history(n, synced=False) for n in range(7, 9)]
    table = by_code(compute([*online, *desk, *unsynced], NOV, as_of=AS_OF))
    sync = table["1.4"]
    assert (sync.numerator, sync.denominator) == (6, 8)
    assert {c.dossier_code for c in sync.costs} == {code(7), code(8)}
    assert sync.points == pytest.approx(6 * 6 / 8)
    share = table["3.3"]
    # 3 online of 6 synced = 50 %, times the sync ratio 0.75 = 37.5 %; full points at 50 %.
    assert share.ratio == pytest.approx(0.375)
    assert share.points == pytest.approx(6 * 0.375 / 0.5)


def test_average_handling_time_counts_completed_dossiers_only() -> None:
    two_days = history(1, (S.FINISHED, 2 * 24 * 60), status=S.FINISHED)
    four_days = history(2, (S.RETURNED, 4 * 24 * 60), status=S.RETURNED)
    still_open = history(3, (S.PROCESSING, 60))
    table = by_code(compute([two_days, four_days, still_open], NOV, as_of=AS_OF))
    assert table["2.2"].value == pytest.approx(3.0)
    assert table["2.2"].denominator == 2
    assert table["2.2"].points is None


# -- payment, results, digitisation, satisfaction ----------------------------------------------


def test_online_payment_counts_fee_bearing_dossiers_only() -> None:
    fee = (Fee(name="Lệ phí cấp bản sao", amount_vnd=8000),)
    free = (Fee(name="Lệ phí đăng ký", amount_vnd=0),)
    paid = history(1, fees=fee, online_payment=OnlinePayment.ON_PORTAL)
    unpaid = history(2, fees=fee)
    zero = history(3, fees=free)
    table = by_code(compute([paid, unpaid, zero], NOV, as_of=AS_OF))
    assert (table["3.6"].numerator, table["3.6"].denominator) == (1, 2)
    assert [c.dossier_code for c in table["3.6"].costs] == [code(2)]


def test_electronic_results_need_a_link_for_procedures_that_issue_one() -> None:
    linked = history(1, status=S.RETURNED, result_documents=(result_document(),))
    missing = history(2, status=S.RETURNED)
    open_ = history(3, status=S.PROCESSING)
    issuing = {"1.001193": ProcedureFacts(issues_document=True)}
    table = by_code(compute([linked, missing, open_], NOV, as_of=AS_OF, procedures=issuing))
    assert (table["4.1"].numerator, table["4.1"].denominator) == (1, 2)
    assert table["4.1"].incomplete == ()
    not_issuing = {"1.001193": ProcedureFacts(issues_document=False)}
    table = by_code(compute([linked, missing], NOV, as_of=AS_OF, procedures=not_issuing))
    assert table["4.1"].denominator == 0
    unknown = by_code(compute([linked, missing], NOV, as_of=AS_OF))["4.1"]
    assert unknown.denominator == 2
    assert unknown.incomplete


def test_digitisation_reuse_and_population_data() -> None:
    scanned = history(1, has_digitised_components=True, vneid_verified=True)
    store_doc = SubmittedDocument(
        file_id="f2",
        file_name="CCCD.pdf",
        download_url="https://x.example/f2",
        from_personal_store=True,
    )
    from_store = history(2, documents=(store_doc,))
    paper = history(3, documents=())
    table = by_code(compute([scanned, from_store, paper], NOV, as_of=AS_OF))
    assert (table["4.2"].numerator, table["4.2"].denominator) == (2, 3)
    assert (table["4.3"].numerator, table["4.4"].numerator, table["4.5"].numerator) == (1, 1, 2)
    # 4.2: 2/3 = 66.7 % of the 80 % threshold.
    assert table["4.2"].points == pytest.approx(round(6 * (2 / 3) / 0.8, 2))


def test_satisfaction_is_one_minus_the_late_rate_with_a_90_percent_threshold() -> None:
    due_before = datetime(2026, 11, 3, 8, 0, tzinfo=PORTAL_TZ)
    late = history(1, (S.FINISHED, 3 * 24 * 60), status=S.FINISHED, due_at=due_before)
    on_time = [history(n, (S.FINISHED, 60), status=S.FINISHED) for n in range(2, 11)]
    table = by_code(compute([late, *on_time], NOV, as_of=AS_OF))
    assert table["5.4"].ratio == pytest.approx(0.9)
    assert table["5.4"].points == 6
    assert points_for("5.4", 0.45, 6) == 3


def test_configured_points_override_the_defaults() -> None:
    table = by_code(compute([history(1)], NOV, as_of=AS_OF, points={"1.4": 10}))
    assert (table["1.4"].max_points, table["1.4"].points) == (10, 10)
