"""The circuit breaker per route and agency (Fowler, "CircuitBreaker").

``closed``: calls go through; ``failure_threshold`` consecutive failed calls open it.
``open``: calls are not made (the worker defers the records without using an attempt) until
``probe_interval_s`` has passed, then one call goes through as a probe (``half_open``).
A probe that succeeds closes it; one that fails opens it for another interval. Pure: the
caller passes the time, and reads each transition once from :meth:`take_transitions`
(the worker logs and audits them).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.schema import BreakerConfig


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    before: str
    after: str
    at: float
    failures: int


class Breaker:
    """One breaker; ``key`` names it (``route/agency``)."""

    def __init__(self, key: str, config: BreakerConfig) -> None:
        self.key = key
        self._config = config
        self.state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._transitions: list[Transition] = []

    def allow(self, now: float) -> bool:
        """Whether a call may go now (in ``half_open``, only the one probe)."""
        if self.state == "closed":
            return True
        if self.state == "open" and now >= self._opened_at + self._config.probe_interval_s:
            self._move("half_open", now)
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def retry_at(self) -> float:
        """When the next probe may go (for deferring records while open)."""
        return self._opened_at + self._config.probe_interval_s

    def succeeded(self, now: float) -> None:
        self._failures = 0
        self._probing = False
        if self.state != "closed":
            self._move("closed", now)

    def failed(self, now: float) -> None:
        self._failures += 1
        self._probing = False
        if self.state == "half_open" or (
            self.state == "closed" and self._failures >= self._config.failure_threshold
        ):
            self._opened_at = now
            self._move("open", now)

    def take_transitions(self) -> list[Transition]:
        taken, self._transitions = self._transitions, []
        return taken

    def _move(self, after: str, now: float) -> None:
        self._transitions.append(Transition(self.key, self.state, after, now, self._failures))
        self.state = after
