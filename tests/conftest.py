"""Session-wide test plumbing: see ``tests/sinks.py``."""

pytest_plugins = ["tests.sinks"]
