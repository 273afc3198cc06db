"""``adapters new NAME --sink`` scaffolds a sink package that installs into a fresh virtual
environment, passes the sink conformance suite there, and fails it when its rows lose their
key (offline, as the adapter scaffold's test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.integration.test_adapter_scaffold import PYTEST, fresh_python, run

__all__ = ["fresh_python"]  # the fixture, used by name below


@pytest.mark.timeout(240)
def test_a_scaffolded_sink_installs_and_passes_its_suite(
    tmp_path: Path, fresh_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adapters", "new", "acme-motcua", "--sink", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "dvc-sink-acme-motcua"
    capsys.readouterr()
    installed = run(
        sys.executable, "-m", "pip", "--python", fresh_python, "install", "--no-deps",
        "--no-build-isolation", "--no-index", "--quiet", package,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    suite = run(fresh_python, *PYTEST, cwd=package)
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "7 passed" in suite.stdout

    sink = package / "src" / "dvc_sink_acme_motcua" / "sink.py"
    sink.write_text(sink.read_text(encoding="utf-8").replace('key=("so_ho_so",)', "key=()"),
                    encoding="utf-8")  # fmt: skip
    reinstalled = run(
        sys.executable, "-m", "pip", "--python", fresh_python, "install", "--no-deps",
        "--no-build-isolation", "--no-index", "--quiet", "--force-reinstall", package,
    )  # fmt: skip
    assert reinstalled.returncode == 0, reinstalled.stderr
    failing = run(fresh_python, *PYTEST, "-k", "carried_out", cwd=package)
    assert failing.returncode == 1
    assert "needs a key (idempotency)" in failing.stdout
