"""``adapters new`` scaffolds a plugin that installs into a fresh virtual environment, passes
the conformance suite there, and shows up in ``adapters list``. Offline: the fresh
environment sees this project's installed packages through a ``.pth`` file, and the plugin
is installed without dependencies or build isolation."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.scaffold import scaffold
from gateway.simulator.catalogue import load_catalogue

PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
"""Plugins of this environment the plugin's own suite does not need (faster starts)."""


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture
def fresh_python(tmp_path: Path) -> Path:
    """A new virtual environment that can import what this project's environment holds."""
    env = tmp_path / "fresh"
    made = run(sys.executable, "-m", "venv", "--without-pip", env)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    site_dir = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    ours = sysconfig.get_paths()["purelib"]
    (Path(site_dir.stdout.strip()) / "_dvc_gateway_parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n", encoding="utf-8"
    )
    return python


@pytest.mark.timeout(240)  # four interpreter starts (pip, the plugin's pytest twice, list)
def test_a_scaffolded_plugin_installs_passes_the_suite_and_is_listed(
    tmp_path: Path, fresh_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adapters", "new", "acme-motcua", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "dvc-adapter-acme-motcua"
    assert main(["adapters", "new", "acme-motcua", "--dir", str(tmp_path)]) == 2
    assert main(["adapters", "new", "Acme Motcua", "--dir", str(tmp_path)]) == 2
    capsys.readouterr()

    installed = run(
        sys.executable, "-m", "pip", "--python", fresh_python, "install", "--no-deps",
        "--no-build-isolation", "--no-index", "--quiet", package,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    listed = run(
        fresh_python,
        "-c",
        "import dvc_adapter_acme_motcua as m, gateway.cli as c; print(m.__file__);"
        " raise SystemExit(c.main(['adapters', 'list']))",
    )  # one interpreter start for both: the plugin is imported from the fresh environment
    assert listed.returncode == 0, listed.stderr
    assert "/fresh/lib/" in listed.stdout.splitlines()[0], listed.stdout
    line = next(x for x in listed.stdout.splitlines()[1:] if "acme-motcua" in x)
    assert line.split()[:3] == ["acme-motcua", "0.1.0", "dvc-adapter-acme-motcua"]

    suite = run(fresh_python, *PYTEST, cwd=package)
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "14 passed" in suite.stdout

    # The suite is not a formality: a sample without its owner fails it.
    samples_path = package / "tests" / "samples.json"
    samples = json.loads(samples_path.read_text(encoding="utf-8"))
    samples[0]["chu_ho_so"] = ""
    samples_path.write_text(json.dumps(samples, ensure_ascii=False), encoding="utf-8")
    failing = run(fresh_python, *PYTEST, "-k", "valid_canonical", cwd=package)
    assert failing.returncode == 1
    assert "sample 0 does not translate: $.chu_ho_so" in failing.stdout


LATE_INSTALL = """
import subprocess, sys
from adapters import registry
from gateway.errors import ConfigError
from gateway.sources.installed import InstalledAdapters

installed = InstalledAdapters()  # what the daemon remembers at its start
parent, package = sys.argv[1], sys.argv[2]
try:
    registry.create("acme-late", {}, "x")
except ConfigError as exc:
    print("before:", exc)
subprocess.run(
    [parent, "-m", "pip", "--python", sys.executable, "install", "--no-deps",
     "--no-build-isolation", "--no-index", "--quiet", "-e", package],
    check=True,
)
print("found:", installed.refresh())
print("after:", registry.create("acme-late", {}, "x").name)
print("again:", installed.refresh())
"""


@pytest.mark.timeout(240)
def test_an_adapter_installed_editable_after_the_start_loads_after_a_refresh(
    tmp_path: Path, fresh_python: Path
) -> None:
    """What SIGHUP does (gateway.app.reload): without the refresh the entry point is listed
    but its module cannot be imported, because Python reads .pth files only at start."""
    assert main(["adapters", "new", "acme-late", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "dvc-adapter-acme-late"
    script = tmp_path / "late.py"
    script.write_text(LATE_INSTALL, encoding="utf-8")
    done = run(fresh_python, script, sys.executable, package)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("before: x.adapter: adapter 'acme-late' is not installed")
    assert lines[1].startswith("found: ['__editable__")
    assert lines[2] == "after: acme-late"
    assert lines[3] == "again: []"


def test_the_scaffold_samples_name_their_procedures_as_the_catalogue_does(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    root = scaffold("acme", tmp_path)
    samples = json.loads((root / "tests" / "samples.json").read_text(encoding="utf-8"))
    fixtures = Path(__file__).parents[1] / "fixtures" / "adapters"
    pairs = [(s["ma_thu_tuc"], s["ten_thu_tuc"]) for s in samples]
    for name, code_key, name_key in (
        ("opencps-samples.json", "serviceCode", "serviceName"),
        ("legacy-csv-samples.json", "Mã thủ tục", "Tên thủ tục"),
    ):
        rows = json.loads((fixtures / name).read_text(encoding="utf-8"))
        pairs += [
            (r[code_key], r[name_key]) for r in rows if r.get(code_key) in catalogue.procedures
        ]
    assert len(pairs) >= 4
    for code, title in pairs:
        assert catalogue.procedures[code].ten_tthc == title, code
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'asyncio_default_fixture_loop_scope = "function"' in pyproject
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "--find-links /opt/dvc-gateway/dist -e '.[test]'" in readme
    assert "/opt/dvc-gateway/.venv/bin/pip install -e '.[test]'" in readme
