"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

An operator signs in, finds a dossier by ``MaHoSo`` and reads its timeline, then replays two
dead letters after the console showed how many and asked for the count. Screenshots go under
the test's folder; with ``DVCGW_SCREENSHOTS=DIR`` they are also copied there (``make
screenshots`` refreshes the ones in ``docs/`` that the README shows).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import aiohttp
import pytest

from gateway.canonical import record_to_json
from gateway.model import DossierStatus
from tests.admin_rig import TOKENS, admin_gateway
from tests.factories import dossier, step

playwright_api = pytest.importorskip("playwright.async_api")

GOOD = "000.00.00.H56-261102-00010"
BAD = ["000.00.00.H56-261102-00021", "000.00.00.H56-261102-00022"]
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: make test installs it (make browser)")
        pytest.skip("chromium is not installed (make browser, or apt-get install chromium)")
    return path


async def test_an_operator_finds_a_dossier_and_replays_dead_letters(tmp_path: Path) -> None:
    executable = chromium()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    records = [
        record_to_json(dossier(GOOD)),
        record_to_json(step(GOOD, minutes=10)),
        record_to_json(step(GOOD, minutes=30, status=DossierStatus.FINISHED)),
        *(record_to_json(dossier(code, procedure_code="9.999999")) for code in BAD),
    ]
    async with (
        admin_gateway(tmp_path, replay_confirm_above=1) as rig,
        aiohttp.ClientSession() as http,
    ):
        await rig.push(http, records)
        async with asyncio.timeout(60):
            while True:
                counts = await rig.gateway.store.counts()
                if counts["delivered"] == 3 and counts["dead"] == 2:
                    break
                await rig.gateway.worker.next_round()
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(rig.admin_url + "/console")
                assert page.url.endswith("/console/login")  # not signed in: sent to sign in
                await page.fill("input[name=token]", "wrong-token-0123456789")
                await page.click("button")
                assert "Mã truy cập không đúng" in await page.content()
                await page.fill("input[name=token]", TOKENS["operator"])
                await page.click("button")
                await page.wait_for_selector("#rate-chart")
                assert "Tổng quan" in await page.title()
                await page.screenshot(path=shots / "console-overview.png", full_page=True)

                await page.click("text=Tra cứu hồ sơ")
                await page.fill("input[name=q]", GOOD)
                await page.click("form[action='/console/dossier'] button")
                timeline = page.locator("#timeline")
                await timeline.wait_for()
                text = await timeline.inner_text()
                assert "delivered" in text
                assert (await timeline.locator("tr").count()) > 3
                await page.screenshot(path=shots / "console-dossier.png", full_page=True)

                await page.click("text=Chỉ số 766")
                await page.fill("input[name=period]", "2026-11")
                await page.click("form[action='/console/indicators'] button")
                table = page.locator("#indicators")
                await table.wait_for()
                assert "Tỷ lệ hồ sơ đồng bộ lên Cổng DVCQG" in await table.inner_text()
                # 1.4: the two dead dossiers were received and are not on the portal.
                await table.locator("tr", has_text="1.4").locator("a").click()
                costs = await page.inner_text("#costs")
                assert all(code in costs for code in BAD)
                assert GOOD not in costs
                await page.screenshot(path=shots / "console-indicators.png", full_page=True)

                await page.click("text=Hồ sơ lỗi")
                for code in BAD:
                    assert code in await page.content()
                await page.click("form[action='/console/dead-letters/replay'] button")
                assert (await page.inner_text("#will-replay")).startswith("2 ")
                await page.screenshot(path=shots / "console-replay.png", full_page=True)
                await page.fill("#typed", "3")  # the wrong count does not replay
                await page.click("form[action='/console/dead-letters/replay'] button")
                assert (await rig.gateway.store.counts())["dead"] == 2
                await page.fill("#typed", "2")
                await page.click("form[action='/console/dead-letters/replay'] button")
                assert "2" in await page.inner_text("#replayed")
            finally:
                await browser.close()
        entries = await rig.gateway.store.audit_entries()
    replays = [e for e in entries if e.event == "replayed"]
    assert len(replays) == 2
    assert all(dict(e.detail).get("by") == "operator-1 (console)" for e in replays)
    assert any(e.event == "console_signed_in" for e in entries)
    wanted = os.environ.get("DVCGW_SCREENSHOTS")
    if wanted:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(wanted) / shot.name)


async def test_a_viewer_sees_no_replay_and_a_forged_form_is_refused(tmp_path: Path) -> None:
    executable = chromium()
    async with admin_gateway(tmp_path) as rig, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(rig.admin_url + "/console/login?lang=en")
            await page.fill("input[name=token]", TOKENS["viewer"])
            await page.click("button")
            await page.goto(rig.admin_url + "/console/dead-letters")
            assert "Needs the operator role" in await page.content()
            assert await page.locator("form[action='/console/dead-letters/replay']").count() == 0
            # A cross-site form without the session's CSRF token is refused.
            response = await page.request.post(
                rig.admin_url + "/console/dead-letters/replay", form={"all": "1"}
            )
            assert response.status == 403
        finally:
            await browser.close()
