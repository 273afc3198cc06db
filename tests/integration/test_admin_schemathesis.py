"""Schemathesis calls every operation of the admin API's OpenAPI document with generated
parameters and bodies, as an admin (every handler runs): no answer is a server error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.admin_rig import TOKENS, admin_gateway

EXAMPLES = 30


def fuzz(document: dict[str, Any], base_url: str) -> dict[str, int]:
    """Run the generated calls (in a thread: the server runs in the test's loop)."""
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result}"
        operation = result.ok()
        calls[operation.label] = 0

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            calls[case.operation.label] += 1
            case.validate_response(response, checks=[not_a_server_error])

        check()
    return calls


async def test_no_generated_call_is_a_server_error(tmp_path: Path) -> None:
    async with admin_gateway(tmp_path) as rig, aiohttp.ClientSession() as http:
        async with http.get(rig.admin_url + "/api/v1/openapi.json") as response:
            document = await response.json()
        calls = await asyncio.to_thread(fuzz, document, rig.admin_url)
    operations = sum(len(methods) for methods in document["paths"].values())
    assert len(calls) == operations
    assert all(n >= 1 for n in calls.values())
