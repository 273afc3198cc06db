"""A pytest plugin that makes sure no process a test started outlives it.

Every test kills the daemons it starts in a ``finally`` or a fixture's teardown. This is the
net under that rule: :func:`track` notes each process started through
:func:`tests.daemons.start_daemon`; after each test, one of them still running is killed and
the test errors at teardown (a test cut by its timeout never reaches its ``finally``); at the
end of the session, any still running is killed and the run fails, naming it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Started:
    pid: int
    cmdline: bytes
    """As ``/proc`` showed it at start: a PID the system reused for another process is not ours."""
    test: str


_started: dict[int, Started] = {}
_left_behind: list[Started] = []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _running(p: Started) -> bool:
    """Whether the process is still there and still the one the test started (not a zombie,
    not a reused PID)."""
    try:
        stat = Path(f"/proc/{p.pid}/stat").read_text()
    except OSError:
        return False
    # the state follows the parenthesised command name, which may itself hold ") "
    return stat.rsplit(") ", 1)[-1][:1] != "Z" and _cmdline(p.pid) == p.cmdline


def track(pid: int) -> None:
    """Note a process a test started (called by the starters in :mod:`tests.daemons`)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    _started[pid] = Started(pid, _cmdline(pid), test)


def _kill_left_behind() -> list[Started]:
    left = [p for p in _started.values() if _running(p)]
    for p in left:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(p.pid, signal.SIGKILL)
    _started.clear()
    return left


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    yield
    left = _kill_left_behind()
    if left:
        _left_behind.extend(left)
        pids = ", ".join(str(p.pid) for p in left)
        pytest.fail(f"the test left process(es) {pids} running (killed now)", pytrace=False)


@pytest.hookimpl(trylast=True)  # after the session fixtures are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    _left_behind.extend(_kill_left_behind())
    if _left_behind:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _left_behind:
        return
    terminalreporter.section("processes left running by tests", sep="=", red=True, bold=True)
    for p in _left_behind:
        command = p.cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        terminalreporter.write_line(f"pid {p.pid} started by {p.test}: {command} (killed)")
