"""The pulling-source loop: failures logged on transitions, a crashing adapter contained."""

from __future__ import annotations

import asyncio

import structlog

from gateway.canonical import record_to_json
from gateway.errors import SourceError
from gateway.model import Record
from gateway.sources.pulling import PullLoop, translate_batch
from gateway.store.contract import Incoming, Rejected
from tests.factories import dossier


class FlakySource:
    name = "flaky"

    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes = outcomes
        self.closed = False

    async def poll_once(self) -> bool:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return bool(outcome)

    async def close(self) -> None:
        self.closed = True


async def test_failures_are_logged_once_per_transition_and_the_loop_goes_on() -> None:
    source = FlakySource(
        [SourceError("down"), SourceError("down"), False, ValueError("bug"), ValueError("bug")]
    )
    commits = []
    loop = PullLoop(source, 0.01, on_commit=lambda: commits.append(1))
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            await loop.round()
    events = [e["event"] for e in logs]
    assert events == ["source_unavailable", "source_recovered", "source_crashed"]
    assert logs[2]["error"].startswith("ValueError at test_pull_loop.py:")
    assert commits == [1]
    assert loop.rounds == 5


async def test_run_stops_on_the_event_and_closes_the_source() -> None:
    source = FlakySource([True, False, False, False])
    loop = PullLoop(source, 60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    while loop.rounds < 2:  # a full batch is followed by another round at once
        await loop.next_round()
    stop.set()  # ends the 60 s wait after the short batch
    await asyncio.wait_for(task, 5)
    assert source.closed
    assert loop.rounds == 2


class CrashingAdapter:
    name = "crashy"

    def translate(self, raw: object) -> Record:
        assert isinstance(raw, dict)
        if raw.get("boom"):
            print(int(raw["boom"]) // 0)
        return dossier()


def test_a_crashing_adapter_rejects_the_record_without_quoting_it() -> None:
    good = record_to_json(dossier())
    items, rejected = translate_batch("s", CrashingAdapter(), [good, {"boom": "0912345678"}])
    assert isinstance(items[0], Incoming)
    assert isinstance(items[1], Rejected)
    reason = str(rejected[1])
    assert reason.startswith("$: the adapter crashed (ZeroDivisionError at test_pull_loop.py:")
    assert "0912345678" not in reason
