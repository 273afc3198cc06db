"""A token bucket per route: at most ``rate`` portal calls per second on average.

The clock and the sleep are injected, so tests run it on a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class RateLimit:
    """``acquire()`` returns when a call may go; ``rate`` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        burst: float = 1.0,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._burst = burst
        self._tokens = burst
        self._at = clock()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    async def acquire(self) -> None:
        if self._rate <= 0:
            return
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self._rate
                self.waited_s += wait
                await self._sleep(wait)
