"""A pytest plugin that makes every log and audit sink of the test run scannable.

- Before each test, logging (structlog and every standard library logger: aiohttp, zeep, the
  simulator) is configured to append JSON at DEBUG level to one session file under pytest's
  base temporary folder, so whatever the code under test logs in-process lands on disk.
  Tests that configure logging themselves (the demo, log tests) write their own files or
  streams; files they keep are under their ``tmp_path``, which is under the same base folder.
- Subprocess daemons write their logs under their test's ``tmp_path`` too, and every test
  store, archive and export lives there.
- The test marked ``sink_scan`` is moved to the very end of the run; it scans all of it
  (``tests/integration/test_personal_data_sinks.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from gateway import logs

SESSION_LOG = "session-logs/in-process.log"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sink_scan: runs after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker("sink_scan")]
    items[:] = [item for item in items if not item.get_closest_marker("sink_scan")] + last


@pytest.fixture(scope="session")
def session_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextIO]:
    path = tmp_path_factory.getbasetemp() / SESSION_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as sink:
        yield sink
    logs.reset()


@pytest.fixture(autouse=True)
def _logs_to_session_sink(session_log: TextIO) -> Iterator[None]:
    logs.configure("json", "DEBUG", stream=session_log)
    yield
    session_log.flush()


def sinks_under(base: Path) -> Iterator[Path]:
    """Every file a test run may have written logs or audit data to."""
    for pattern in ("*.log", "*.jsonl", "*.csv", "*.db"):
        for path in sorted(base.rglob(pattern)):
            # A file-drop source moves the vendor's own export files (the input, full of
            # personal data by nature) to done/ or error/: those are not our sinks.
            if path.parent.name not in FILE_DROP_OUTPUT_FOLDERS:
                yield path


FILE_DROP_OUTPUT_FOLDERS = {"done", "error"}
