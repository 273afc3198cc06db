"""The vendor quick start (docs/vendor-guide.en.md, section 0), run as written.

Every ``File `NAME`:`` block is written to a fresh folder and every ``console`` block's
``$`` commands run there, in order, in one bash process (so ``&`` and ``kill %1`` work as
in a terminal), against the local MariaDB and the real portal simulator and daemon. Each
output line the guide shows must be printed (spacing aside; a line with ``…`` stands for
what changes from run to run). The install block (``git clone``, ``make venv``) is the one
thing not run: this test runs inside that environment, whose ``bin`` it puts on ``PATH``.
The Vietnamese guide must hold the same files and commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"
FILE_BLOCK = re.compile(r"^(?:File|Tệp) `([^`]+)`:\n\n```\w*\n(.*?)\n```", re.S | re.M)
CONSOLE_BLOCK = re.compile(r"```console\n(.*?)\n```", re.S)
MARK = "@@quickstart-command@@"


def section(name: str) -> str:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def files(text: str) -> dict[str, str]:
    return {name: body + "\n" for name, body in FILE_BLOCK.findall(text)}


def commands(text: str) -> list[tuple[str, list[str]]]:
    """``(command, the output lines shown under it)`` in order."""
    steps: list[tuple[str, list[str]]] = []
    for block in CONSOLE_BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def normal(line: str) -> str:
    return " ".join(line.split())


def test_the_vietnamese_guide_has_the_same_files_and_commands() -> None:
    en, vi = section("vendor-guide.en.md"), section("vendor-guide.vi.md")
    assert files(en) == files(vi)
    assert commands(en) == commands(vi)
    assert len(commands(en)) >= 10


@pytest.mark.timeout(300)
def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    text = section("vendor-guide.en.md")
    for name, body in files(text).items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    steps = commands(text)
    script = ["set -e", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for index, (command, _shown) in enumerate(steps):
        script += [f"echo '{MARK} {index}'", command]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("DVC_GATEWAY_AUDIT_KEY", None)
    try:
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream, in the order the commands print
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        subprocess.run(
            [
                "mysql",
                "-h",
                "127.0.0.1",
                "-u",
                "root",
                "-e",
                "DROP DATABASE IF EXISTS dvc_quickstart",
            ],
            check=False,
            capture_output=True,
        )
    assert done.returncode == 0, done.stdout[-3000:]
    chunks = re.split(rf"^{MARK} (\d+)$", done.stdout, flags=re.M)
    printed = {int(chunks[i]): chunks[i + 1] for i in range(1, len(chunks) - 1, 2)}
    assert sorted(printed) == list(range(len(steps)))
    for index, (command, shown) in enumerate(steps):
        lines = {normal(line) for line in printed[index].splitlines()}
        for line in shown:
            if "…" not in line:
                assert normal(line) in lines, f"{command!r} did not print {line!r}"
    assert (tmp_path / "quickstart.db").is_file()
