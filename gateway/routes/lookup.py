"""Whether a route can ask the portal which progress steps it holds, learnt from its answers.

The progress look-up (``portal.progress_lookup_service``, ``TraCuuTienDoHoSo`` by default)
is not a documented DVCQG service [?]: a portal may not offer it. The first refusal marks
the look-up missing for ``RECHECK_S`` (logged once, ``progress_lookup_unavailable``, not
once per record); after that one call asks again, and a working answer is logged once as
``progress_lookup_restored``. While it is missing the route says so at once, without a call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from gateway.errors import LookupUnavailableError, PermanentDeliveryError

log = structlog.get_logger("gateway.routes.lookup")

RECHECK_S = 600.0
"""How long a look-up the portal refused is taken as missing before it is asked again."""


class StepLookupHealth:
    """The state of one route's progress look-up."""

    def __init__(
        self, route: str, service: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._route = route
        self._service = service
        self._clock = clock
        self._missing_until: float | None = None
        self._reason = ""

    @property
    def available(self) -> bool:
        """Configured, and not refused by the portal within the last ``RECHECK_S``."""
        if not self._service:
            return False
        return self._missing_until is None or self._clock() >= self._missing_until

    def check(self) -> None:
        """Raise :class:`LookupUnavailableError` when the look-up cannot be used now."""
        if not self._service:
            raise LookupUnavailableError("no progress look-up service is configured")
        if not self.available:
            raise LookupUnavailableError(
                f"the portal does not offer {self._service}: {self._reason}"
            )

    def refused(self, exc: PermanentDeliveryError) -> LookupUnavailableError:
        """The portal refused the look-up call: missing for a while; log the first time."""
        first = self._missing_until is None
        self._missing_until = self._clock() + RECHECK_S
        self._reason = exc.message
        if first:
            log.warning(
                "progress_lookup_unavailable",
                route=self._route,
                service=self._service,
                error=exc.message,
                recheck_s=RECHECK_S,
            )
        return LookupUnavailableError(
            f"the portal does not offer {self._service}: {exc.message}", code=exc.code
        )

    def answered(self) -> None:
        """A look-up call worked."""
        if self._missing_until is not None:
            self._missing_until = None
            log.info("progress_lookup_restored", route=self._route, service=self._service)
