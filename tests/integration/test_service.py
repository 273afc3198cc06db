"""The daemon as a systemd service: sd_notify under a fake NOTIFY_SOCKET, and the shipped unit
file checked by ``systemd-analyze verify``."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemons import free_port, recording_portal, start_daemon, wait_for_intake, write_config

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "deploy" / "dvc-gateway.service"


async def test_the_daemon_says_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    messages: list[str] = []

    async def until(line: str) -> None:
        async with asyncio.timeout(60):
            while not any(line in m.split("\n") for m in messages):
                messages.append((await loop.sock_recv(sock, 4096)).decode())

    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    try:
        async with recording_portal() as portal:
            config = write_config(
                tmp_path, "gw", portal.url, port, {"path": str(tmp_path / "gw.db")}
            )
            proc = await start_daemon(config, tmp_path / "daemon.log", env)
            try:
                await until("READY=1")
                await wait_for_intake(port, proc)  # READY came once intake listened
                await until("WATCHDOG=1")
                messages.clear()
                await until("WATCHDOG=1")  # it keeps coming while the loop turns
                proc.send_signal(signal.SIGTERM)
                await until("STOPPING=1")
                assert await proc.wait() == 0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    finally:
        sock.close()


def test_the_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing: make deps-ci installs systemd")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # The unit names the install path of the README; point it at this checkout's executable
    # (verify checks that the command exists), everything else as shipped.
    executable = Path(sys.executable).parent / "dvc-gateway"
    text = UNIT.read_text(encoding="utf-8")
    assert "/opt/dvc-gateway/.venv/bin/dvc-gateway" in text
    unit = tmp_path / "dvc-gateway.service"
    unit.write_text(text.replace("/opt/dvc-gateway/.venv/bin/dvc-gateway", str(executable)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "StateDirectory=dvc-gateway",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "EnvironmentFile=/etc/dvc-gateway/secrets.env",
    ):
        assert line in text
    # An inline comment after a value would be read as part of it (EnvironmentFile= path).
    for number, raw in enumerate(text.splitlines(), 1):
        if "=" in raw and not raw.lstrip().startswith("#"):
            assert " #" not in raw, f"line {number}: systemd does not strip inline comments"
