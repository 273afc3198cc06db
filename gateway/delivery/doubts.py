"""Records that may already be on the portal: ask before sending them again.

A record is *doubtful* when an earlier attempt may have reached the portal: the answer was
lost (a timeout, a reset after the portal applied the call, a lost lease), or the portal
refused a multi-record call it may have applied in part (the spec does not say a call is
atomic). Sending a dossier again is harmless (an update replaces it; a create the portal
already holds goes as an update), sending a progress step again may add it twice. So:

- a doubtful step is looked up (``portal.progress_lookup_service``): one the portal holds is
  delivered without being sent, one it lacks is sent;
- when the portal cannot be asked (no look-up service: :class:`LookupUnavailableError`), the
  step waits and is asked about again later, unless ``delivery.unverifiable_resend`` is
  ``resend`` (sent again: at least once, no longer at most once);
- when the look-up fails (HTTP 500, timeout), the step waits and the look-up is retried;
  never dead-lettered for it (the record is not at fault);
- a doubtful create is looked up (``TraCuuHoSo``) and goes as an update if the portal holds
  it (if that look-up fails the create goes anyway: "đã tồn tại" turns it into an update).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import structlog

from gateway.config.schema import DeliveryConfig
from gateway.delivery.outcomes import Outcomes
from gateway.errors import DeliveryError, LookupUnavailableError
from gateway.model import Dossier, ProgressStep
from gateway.routes.contract import PortalLookup, Route
from gateway.store.contract import Claimed, Outcome, OutcomeKind

log = structlog.get_logger("gateway.delivery")

HELD = "already on the portal"


class Doubts:
    """Looks doubtful records up through the worker's route."""

    def __init__(
        self,
        outcomes: Outcomes,
        config: DeliveryConfig,
        route_name: Callable[[str], str],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._outcomes = outcomes
        self._config = config
        self._route_name = route_name
        self._clock = clock
        self._rng = rng
        self._resent_blind: set[str] = set()

    def reconfigure(self, config: DeliveryConfig) -> None:
        self._config = config

    async def resolve(
        self, route: Route, claimed: list[Claimed], doubtful: list[Claimed]
    ) -> tuple[list[Claimed], list[Outcome]]:
        """``claimed`` less the doubtful records settled without a call (held, waiting), and
        the outcomes of those; a doubtful create the portal holds goes as an update."""
        steps = [c for c in doubtful if isinstance(c.record, ProgressStep)]
        creates = [c for c in doubtful if isinstance(c.record, Dossier) and not c.on_portal]
        settled: list[Outcome] = []
        if steps:
            settled = await self.settle_steps(route, steps)
        updates: set[int] = set()
        if creates and isinstance(route, PortalLookup):
            try:
                held = await route.dossiers_on_portal(
                    [c.record for c in creates if isinstance(c.record, Dossier)]
                )
            except DeliveryError as exc:  # the create goes; "đã tồn tại" makes it an update
                log.info("dossier_lookup_failed", error=str(exc))
                held = set()
            updates = {creates[i].record_id for i in held}
        done = {o.record_id for o in settled}
        rest = [
            replace(c, on_portal=True) if c.record_id in updates else c
            for c in claimed
            if c.record_id not in done
        ]
        return rest, settled

    async def settle_steps(
        self, route: Route, steps: list[Claimed], *, newly_doubtful: bool = False
    ) -> list[Outcome]:
        """Outcomes for the steps that are not to be sent now (held, or waiting); the steps
        without an outcome are to be sent. Asked per route (a router serves several).
        ``newly_doubtful``: the steps were not doubtful before (a refused batch): a waiting
        one is stored as a retry, so it stays doubtful and is looked up next time."""
        groups: dict[str, list[Claimed]] = {}
        for c in steps:
            groups.setdefault(self._route_name(c.record.agency_code), []).append(c)
        outcomes: list[Outcome] = []
        for name, group in groups.items():
            outcomes += await self._settle_group(route, name, group, newly_doubtful)
        return outcomes

    async def _settle_group(
        self, route: Route, name: str, steps: list[Claimed], newly_doubtful: bool
    ) -> list[Outcome]:
        """One look-up per step (a round claims one record per dossier, and a look-up is per
        dossier), so one failed look-up holds back its own step only."""
        started = self._clock()
        if not isinstance(route, PortalLookup):
            missing = LookupUnavailableError(f"route {name} cannot look progress steps up")
            return self._unverifiable(name, steps, missing, newly_doubtful)
        answers = await asyncio.gather(
            *(
                route.steps_on_portal([c.record])
                for c in steps
                if isinstance(c.record, ProgressStep)
            ),
            return_exceptions=True,
        )
        unavailable = [a for a in answers if isinstance(a, LookupUnavailableError)]
        outcomes: list[Outcome] = []
        unverified: list[Claimed] = []
        for c, answer in zip(steps, answers, strict=True):
            if isinstance(answer, LookupUnavailableError):
                unverified.append(c)
            elif isinstance(answer, DeliveryError):
                # The look-up failed (the portal is struggling): the step waits and is asked
                # about again; nothing is dead-lettered for it.
                why = "the progress look-up failed"
                outcomes.append(self._wait(c, answer, why, newly_doubtful))
            elif isinstance(answer, BaseException):  # a bug in the look-up: wait, do not crash
                log.error("progress_lookup_crashed", error=repr(answer), record_id=c.record_id)
                crashed = DeliveryError(f"the look-up crashed: {answer!r}")
                outcomes.append(self._wait(c, crashed, "the progress look-up failed", True))
            elif answer:
                outcomes.append(
                    self._outcomes.outcome(c, OutcomeKind.DELIVERED, started, message=HELD)
                )
        if unverified:
            outcomes += self._unverifiable(name, unverified, unavailable[0], newly_doubtful)
        return outcomes

    def _unverifiable(
        self, name: str, steps: list[Claimed], exc: LookupUnavailableError, newly_doubtful: bool
    ) -> list[Outcome]:
        if self._config.unverifiable_resend == "resend":
            if name not in self._resent_blind:
                self._resent_blind.add(name)
                log.warning("doubtful_steps_resent_unverified", route=name, error=str(exc))
            return []
        why = "the portal cannot say whether it holds it"
        return [self._wait(c, exc, why, newly_doubtful) for c in steps]

    def _wait(self, claimed: Claimed, exc: DeliveryError, why: str, mark: bool) -> Outcome:
        """Back in the queue after a jittered delay: without using an attempt, or (``mark``)
        as a retry, which makes the record doubtful in the store."""
        retry = self._config.retry
        ceiling = min(retry.max_delay_s, retry.base_delay_s * 2 ** min(claimed.attempts, 16))
        delay = max(retry.base_delay_s, self._rng.uniform(0, ceiling))
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, retry.max_delay_s))
        at = self._clock() + delay
        message = f"doubtful step waits: {why} ({exc})"
        if mark:
            return self._outcomes.outcome(
                claimed, OutcomeKind.RETRY, self._clock(), next_attempt_at=at, message=message
            )
        return self._outcomes.deferred(claimed, at, message)


def steps_of(call: Sequence[Claimed]) -> list[Claimed]:
    return [c for c in call if isinstance(c.record, ProgressStep)]
