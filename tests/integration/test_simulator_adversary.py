"""The simulator as an honest adversary: faults on every road, partial batches, its ledger."""

from __future__ import annotations

import pytest

from gateway.simulator import SimulatorSettings
from gateway.simulator.faults import FAULTS_KEY, Faults
from gateway.simulator.strict import valid_indexes
from tests.integration.test_simulator import Portal, dossier, serving, step


def faults_of(portal: Portal) -> Faults:
    assert portal.server.app is not None
    return portal.server.app[FAULTS_KEY]


@pytest.mark.parametrize(
    "path",
    [
        "/mapi/g",
        "/XrdAdapter/RestService/forward/mapi/g",
        "/xroad",
        "/lgsp/dvcqg/mapi/g",
    ],
)
async def test_every_road_gets_the_fault(path: str) -> None:
    async with serving() as portal:
        faults_of(portal).update({"mode": "throttle", "retry_after": "7", "count": 1})
        url = portal.server.make_url(path)
        async with portal.http.post(url, data=b"{}") as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "7"
        assert faults_of(portal).injected == {"throttle": 1}
        assert faults_of(portal).mode == "none"


async def test_a_partial_portal_applies_the_valid_items_of_a_refused_batch() -> None:
    async with serving(SimulatorSettings(refused_text="SAI")) as portal:
        session = await portal.login()
        code = "000.00.00.H56-260105-00001"
        assert (await portal.sync(session, [dossier(code)]))["error_code"] == 0
        batch = [
            step(code, ThoiDiemXuLy="20260105090000"),
            step(code, ThoiDiemXuLy="20260105100000", NoiDungXuLy="SAI nội dung"),
            step(code, ThoiDiemXuLy="20260105110000"),
        ]
        answer = await portal.call("CapNhatTienDoHoSoMC", session, data=batch)
        assert answer["error_code"] == -1
        assert "data[1].NoiDungXuLy" in answer["message"]
        assert code not in portal.state.progress  # atomic by default

        faults_of(portal).update({"partial_apply": True})
        answer = await portal.call("CapNhatTienDoHoSoMC", session, data=batch)
        assert answer["error_code"] == -1
        assert portal.state.progress[code] == [batch[0], batch[2]]
        assert portal.state.partially_applied == 2


async def test_the_ledger_reports_duplicates_order_violations_and_regressions() -> None:
    async with serving() as portal:
        session = await portal.login()
        code = "000.00.00.H56-260105-00001"
        await portal.sync(session, [dossier(code, TrangThaiHoSo="4")])
        await portal.sync(session, [dossier(code, TrangThaiHoSo="9")], updating=True)
        await portal.sync(session, [dossier(code, TrangThaiHoSo="4")], updating=True)
        late = step(code, ThoiDiemXuLy="20260105100000")
        early = step(code, ThoiDiemXuLy="20260105090000")
        for item in (late, early, late):
            await portal.call("CapNhatTienDoHoSoMC", session, data=[item])
        report = (await portal.inspect())["strict"]
        assert (report["duplicates"], report["order_violations"]) == (1, 1)
        assert report["status_regressions"] == 1
        assert report["dossiers"]["status_regressions"] == {code: ["9->4"]}


async def test_a_portal_without_the_progress_look_up_refuses_it() -> None:
    async with serving(SimulatorSettings(progress_lookup=False)) as portal:
        session = await portal.login()
        answer = await portal.call("TraCuuTienDoHoSo", session, mahoso="X")
        assert answer == {"error_code": -1, "message": "Dịch vụ TraCuuTienDoHoSo không được hỗ trợ"}


async def test_strict_dates_require_both_dates_for_every_status() -> None:
    submitted = dossier(TrangThaiHoSo="1", NgayTiepNhan="", NgayHenTra="")
    async with serving() as portal:
        assert (await portal.sync(await portal.login(), [submitted]))["error_code"] == 0
    async with serving(SimulatorSettings(strict_dates=True)) as portal:
        answer = await portal.sync(await portal.login(), [submitted])
        assert answer["error_code"] == -1
        assert "NgayTiepNhan" in answer["message"]
        assert "NgayHenTra" in answer["message"]


def test_valid_indexes_give_up_on_a_problem_of_the_whole_call() -> None:
    assert valid_indexes(3, ["data[1].X"]) == [0, 2]
    assert valid_indexes(12, ["data[1].X", "data[10]"]) == [0, *range(2, 10), 11]
    assert valid_indexes(3, ["isUpdating"]) == []
