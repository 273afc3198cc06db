"""The demo, smaller: the whole system in one process, with its portal check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.demo import run_demo


def test_demo_passes_its_portal_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(records=400, seed=11, keep=tmp_path) == 0
    out = capsys.readouterr().out
    assert "OK: the portal holds exactly what the gateway accepted" in out
    assert "rejected at intake" in out
    assert re.search(r"audit log: chain and signatures +│ +OK, \d+ entries", out)
    assert (tmp_path / "gateway.db").exists()
    assert (tmp_path / "gateway.log").stat().st_size > 0
