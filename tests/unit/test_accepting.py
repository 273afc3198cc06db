"""The accept decision both store engines apply (gateway/store/accepting.py), on its own:
pure, so each rule is checked against look-ups given by hand."""

from __future__ import annotations

from gateway.errors import TranslationError
from gateway.model import DossierStatus, Record, Result
from gateway.sources.intake import validate_for_portal
from gateway.store.accepting import DossierFacts, NewRow, plan_accept, record_key
from gateway.store.contract import Incoming, State
from tests.factories import T0, dossier, step


def nothing_stored(_: str) -> int | None:
    return None


def no_facts(_: str) -> DossierFacts:
    return DossierFacts()


def test_a_newer_snapshot_in_the_same_batch_supersedes_the_older_one() -> None:
    first, newer = dossier(), dossier(status=DossierStatus.PROCESSING)
    plan = plan_accept(
        [Incoming("t", first, "a"), Incoming("t", newer, "b")],
        validate=validate_for_portal,
        key_id=nothing_stored,
        facts=no_facts,
    )
    assert [row.state for row in plan.rows] == [State.SUPERSEDED, State.QUEUED]
    assert plan.latest == {first.dossier_code: plan.rows[1]}
    events = [(event, ref) for event, ref, _, _ in plan.entries]
    assert ("superseded", plan.rows[0]) in events
    assert events.index(("superseded", plan.rows[0])) < events.index(("queued", plan.rows[1]))


def test_stored_queued_snapshots_are_superseded_and_backwards_ones_kept_aside() -> None:
    stored = DossierFacts(latest=7, latest_status=4, queued=[7])
    plan = plan_accept(
        [
            Incoming("t", dossier(status=DossierStatus.RECEIVED), "old"),  # 2 after 4: backwards
            Incoming("t", dossier(status=DossierStatus.FINISHED), "new"),
        ],
        validate=validate_for_portal,
        key_id=nothing_stored,
        facts=lambda _: stored,
    )
    assert [row.state for row in plan.rows] == [State.SUPERSEDED, State.QUEUED]
    assert "older than status 4" in plan.rows[0].error
    assert plan.superseded == [7]
    assert [r[0] for r in plan.receipts] == ["accepted", "accepted"]


def test_a_result_applies_to_the_snapshot_accepted_earlier_in_the_batch() -> None:
    snapshot = dossier()
    result = Result(snapshot.dossier_code, snapshot.agency_code, DossierStatus.FINISHED, T0, "Lê")
    plan = plan_accept(
        [Incoming("t", snapshot, "a"), Incoming("t", result, "b")],
        validate=validate_for_portal,
        key_id=nothing_stored,
        facts=no_facts,
    )
    kinds = [(str(row.record.kind), row.state) for row in plan.rows]
    assert kinds == [
        ("dossier", State.SUPERSEDED),  # the update carries the whole dossier
        ("dossier", State.QUEUED),
        ("progress", State.QUEUED),
    ]
    assert plan.receipts[1][0] == "accepted"
    assert plan.receipts[1][1] == (plan.rows[1], plan.rows[2])


def test_a_key_the_lookup_was_not_given_is_reported_for_another_pass() -> None:
    known = {record_key(dossier()): None}

    def prefetched(key: str) -> int | None:
        return known[key]  # KeyError for anything not fetched in advance

    result = Result(dossier().dossier_code, dossier().agency_code, DossierStatus.FINISHED, T0, "L")
    plan = plan_accept(
        [Incoming("t", dossier(), "a"), Incoming("t", result, "b")],
        validate=validate_for_portal,
        key_id=prefetched,
        facts=no_facts,
    )
    assert len(plan.missing_keys) == 2  # the result's own key and its closing step's


def test_duplicates_refer_to_what_is_stored_or_planned() -> None:
    stored = {record_key(step()): 41}
    plan = plan_accept(
        [Incoming("t", step(), "a"), Incoming("t", dossier(), "b"), Incoming("t", dossier(), "c")],
        validate=validate_for_portal,
        key_id=stored.get,
        facts=no_facts,
    )
    assert plan.receipts[0] == ("duplicate", (41,), "")
    assert plan.receipts[2][0] == "duplicate"
    assert isinstance(plan.receipts[2][1][0], NewRow)
    assert plan.receipts[2][1][0] is plan.receipts[1][1][0]
    assert len(plan.rows) == 1


def test_a_quarantined_record_keeps_its_reason_with_personal_data_masked() -> None:
    def quoting(record: Record) -> None:
        raise TranslationError.at("$.SoDienThoai", "0912345678 is not a number the portal takes")

    plan = plan_accept(
        [Incoming("t", dossier(), "a")], validate=quoting, key_id=nothing_stored, facts=no_facts
    )
    [row] = plan.rows
    assert row.state is State.QUARANTINED
    assert row.error.startswith("$.SoDienThoai: ")
    assert "0912345678" not in row.error  # stored and audited masked
    [(_, _, _, detail)] = plan.entries
    assert plan.receipts[0][0] == "quarantined"
    assert "0912345678" in plan.receipts[0][2]  # the sender's own answer names it
    assert detail["reason"] == plan.receipts[0][2]  # the audit writer masks details itself


def test_a_newer_snapshot_supersedes_the_dead_letters_of_its_dossier() -> None:
    stored = DossierFacts(latest=7, latest_status=2, dead=[5, 7])
    newer = dossier(status=DossierStatus.PROCESSING)
    plan = plan_accept(
        [Incoming("t", newer, "new")],
        validate=validate_for_portal,
        key_id=nothing_stored,
        facts=lambda _: stored,
    )
    [row] = plan.rows
    assert row.state is State.QUEUED
    assert plan.superseded == [5, 7]
    dead_entries = [(ref, d) for event, ref, _, d in plan.entries if event == "superseded"]
    assert dead_entries == [
        (5, {"by": row, "from_state": "dead"}),
        (7, {"by": row, "from_state": "dead"}),
    ]


def test_a_backwards_snapshot_leaves_the_dead_letters_alone() -> None:
    stored = DossierFacts(latest=7, latest_status=4, dead=[7])
    plan = plan_accept(
        [Incoming("t", dossier(status=DossierStatus.RECEIVED), "old")],
        validate=validate_for_portal,
        key_id=nothing_stored,
        facts=lambda _: stored,
    )
    assert [row.state for row in plan.rows] == [State.SUPERSEDED]
    assert plan.superseded == []
