"""The worker over a real SQLite store, with a route that misbehaves in chosen ways."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gateway.config.schema import DeliveryConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import PermanentDeliveryError, RetryableDeliveryError
from gateway.model import Dossier, ProgressStep
from gateway.routes.contract import Sent
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier


class ChoosyRoute:
    """Accepts everything except dossiers whose code says otherwise."""

    name = "choosy"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_dossiers(self, records: Sequence[Dossier], *, on_portal: bool) -> Sent:
        [record] = records
        if record.dossier_code == "BUG":
            raise RuntimeError("encoder bug")
        if record.dossier_code == "REFUSED":
            raise PermanentDeliveryError("Mã TTHC không tồn tại", code="-1")
        if record.dossier_code == "DOWN":
            raise RetryableDeliveryError("HTTP 503", http_status=503)
        self.sent.append(record.dossier_code)
        return Sent(200, "0", "Thành công")

    async def send_steps(self, steps: Sequence[ProgressStep]) -> Sent:
        return Sent(200, "0", "Thành công")

    async def close(self) -> None:
        return None


async def test_one_bad_record_does_not_stop_the_others(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    route = ChoosyRoute()
    clock = [100.0]
    worker = DeliveryWorker(store, route, DeliveryConfig(), clock=lambda: clock[0])
    try:
        codes = ["OK1", "BUG", "REFUSED", "DOWN", "OK2"]
        items = [Incoming("t", dossier(code), code) for code in codes]
        await store.accept(items, now=1.0, validate=validate_for_portal)
        assert await worker.run_once() == 5
        counts = await store.counts()
        rows = await store.query("SELECT dossier_code, state, last_error FROM records ORDER BY id")
    finally:
        await store.close()
    assert sorted(route.sent) == ["OK1", "OK2"]
    assert (counts["delivered"], counts["quarantined"], counts["dead"], counts["queued"]) == (
        2,
        1,
        1,
        1,
    )
    by_code = {code: (state, error) for code, state, error in rows}
    assert by_code["BUG"][0] == "quarantined"
    assert "encoder bug" in by_code["BUG"][1]
    assert by_code["REFUSED"] == ("dead", "Mã TTHC không tồn tại")
    assert by_code["DOWN"][0] == "queued"
