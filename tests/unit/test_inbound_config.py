"""The inbound section: the push must be authenticated and the sink must have a target."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.loading import parse_config
from gateway.errors import ConfigError

PORTAL = {"base_url": "http://127.0.0.1:8765", "username": "u", "password": "p"}


def problems(inbound: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    try:
        parse_config({"portal": PORTAL, "inbound": inbound}, environ or {})
    except ConfigError as exc:
        return {p.path: p.reason for p in exc.problems}
    return {}


def test_enabled_without_token_or_target_names_both() -> None:
    found = problems({"enabled": True})
    assert set(found) == {"inbound.token", "inbound.sink"}


def test_a_token_from_the_environment_and_an_outbox_are_enough() -> None:
    inbound = {"enabled": True, "token": "${T}", "sink": {"outbox": {"path": "var/out"}}}
    assert problems(inbound, {"T": "secret"}) == {}
    assert problems(inbound) == {"inbound.token": "environment variable T is not set"}


def test_mutual_tls_needs_the_listener_certificate() -> None:
    inbound = {"enabled": True, "tls_client_ca": "ca.pem", "sink": {"http": {"url": "ftp://x"}}}
    assert set(problems(inbound)) == {"inbound.tls_cert", "inbound.sink.http.url"}


@pytest.mark.parametrize("key", ["sink", "pull", "retry"])
def test_unknown_keys_are_named(key: str) -> None:
    found = problems({key: {"no_such_key": 1}})
    assert any(path.startswith(f"inbound.{key}.no_such_key") for path in found), found


def test_a_lease_shorter_than_the_sink_timeout_is_refused() -> None:
    sink = {"http": {"url": "https://vendor.example/hoso", "timeout_s": 30}}
    inbound = {"enabled": True, "token": "t", "lease_s": 10, "sink": sink}
    assert problems(inbound) == {"inbound.lease_s": "must exceed the sink's timeout_s"}
