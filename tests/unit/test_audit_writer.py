"""The chain writer's checkpoint policy and the periodic seal, with an in-memory sink."""

from __future__ import annotations

import asyncio

from gateway.audit.chain import (
    AuditEntry,
    AuditPolicy,
    ChainHead,
    ChainWriter,
    seal_periodically,
    verify_log,
)
from gateway.audit.keys import Checkpoint, Signer


class ListSink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.checkpoints: list[Checkpoint] = []

    def write_entry(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(checkpoint)


def test_checkpoints_every_n_entries_or_m_seconds_and_on_seal() -> None:
    signer, _ = Signer.generate()
    sink = ListSink()
    writer = ChainWriter(sink, AuditPolicy(5, 60.0, signer), ChainHead())
    times = [0, 1, 2, 3, 4, 5, 6, 100, 101]  # seq 8 comes 94 s after the checkpoint at 6
    for seq, at in enumerate(times, start=1):
        writer.append(float(at), "queued", seq, "H56-1", {"phone": "0912345678"})
    assert [c.seq for c in sink.checkpoints] == [1, 6, 8]
    assert writer.seal(102.0) is not None
    assert writer.seal(103.0) is None  # nothing new to sign
    assert [c.seq for c in sink.checkpoints] == [1, 6, 8, 9]
    assert sink.entries[0].detail == {"phone": "<personal>"}  # masked before hashing
    report = verify_log(sink.entries, sink.checkpoints, public_key=signer.public, max_gap=5)
    assert report.ok, report.finding
    assert report.unsigned_tail == 0


async def test_seal_periodically_seals_until_stopped() -> None:
    stop, sealed = asyncio.Event(), asyncio.Event()
    calls: list[float] = []

    async def seal(at: float) -> bool:
        calls.append(at)
        if len(calls) == 2:
            sealed.set()
        return True

    task = asyncio.create_task(seal_periodically(seal, 0.001, stop, lambda: 7.0))
    await sealed.wait()
    stop.set()
    await task
    assert calls[:2] == [7.0, 7.0]
