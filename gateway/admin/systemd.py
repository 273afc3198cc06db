"""The service manager's notification protocol (``sd_notify``), in its few lines.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a Unix datagram socket; a leading
``@`` names an abstract one) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. The daemon sends
``READY=1`` once intake and delivery run, ``WATCHDOG=1`` at half the watchdog interval while
its event loop turns, and ``STOPPING=1`` when it starts to drain. Without ``NOTIFY_SOCKET``
every call does nothing, so the same daemon runs under any supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("gateway.systemd")


class Notifier:
    """Sends state lines to the service manager, if there is one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wanted = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and wanted else None

    @property
    def active(self) -> bool:
        return bool(self._address)

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``READY=1``, ``STATUS=...``) as one datagram; False if not sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            log.warning("systemd_notify_failed", error=str(exc))
            return False
        return True

    async def watchdog(self, stop: asyncio.Event) -> None:
        """``WATCHDOG=1`` at half the interval until ``stop``: a stuck loop stops sending it,
        and systemd restarts the service."""
        if self.watchdog_s is None or not self._address:
            return
        interval = self.watchdog_s / 2
        while not stop.is_set():
            self.notify("WATCHDOG=1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
