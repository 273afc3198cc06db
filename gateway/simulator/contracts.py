"""The simulator's own reading of ``contracts/dvcqg/v1``: JSON Schema and XSD validators.

The simulator checks what it receives against the same contract files as the gateway, with
its own code: ``jsonschema`` for JSON bodies (in addition to :mod:`.rules`), and
``xmlschema``, an XSD validator independent of zeep (which builds the gateway's envelopes),
for SOAP bodies and X-Road headers. A bug in the gateway's SOAP encoding therefore cannot
hide behind the same bug in the check.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import xmlschema
from jsonschema import Draft7Validator

import contracts

JSON_CHECKED = ("DongBoHoSoMC", "CapNhatTienDoHoSoMC", "TraCuuHoSo", "LayThuTuc")


@cache
def _json_validator(service: str) -> Draft7Validator:
    return Draft7Validator(contracts.json_schema(f"{service}.request"))


def json_problems(body: dict[str, Any]) -> list[str]:
    """Contract violations of a request body, as ``path: rule`` (values never echoed)."""
    service = body.get("service")
    if service not in JSON_CHECKED:
        return []
    problems = []
    for error in _json_validator(str(service)).iter_errors(body):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        problems.append(
            f"{path.lstrip('.') or '$'}: vi phạm quy tắc {error.validator} của hợp đồng"
        )
    return sorted(problems)[:20]


@cache
def body_schema() -> xmlschema.XMLSchema:
    """The XSD of SOAP bodies (``dvcqg-v1.xsd``)."""
    return xmlschema.XMLSchema(str(contracts.xsd_path()))


@cache
def header_schema() -> xmlschema.XMLSchema:
    """The XSD of the X-Road header elements (``xroad.xsd``)."""
    return xmlschema.XMLSchema(str(contracts.directory() / "xroad.xsd"))
