"""Session-wide test plumbing: see ``tests/sinks.py`` and ``tests/processes.py``."""

pytest_plugins = ["tests.sinks", "tests.processes"]
