"""Reference adapter: records that are already in the canonical JSON form.

A one-stop system that can produce our canonical JSON (see ``gateway/canonical.py`` and the
README) needs no translation beyond validation: each record is first checked against the
published schema (``contracts/canonical/v1/``, :mod:`gateway.encoders.input_contract`), so a
record the schema refuses is rejected with the schema's path and rule, then built field by
field, then checked for the one cross-field rule (agency code = ``MaHoSo`` prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.canonical import record_from_json
from gateway.encoders.input_contract import check_record, check_schema
from gateway.errors import ConfigError, Problem
from gateway.model import Record


class CanonicalAdapter:
    """Accepts canonical JSON records; takes no options."""

    name = "canonical"

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError([Problem(key, "unknown option") for key in options])

    def translate(self, raw: object) -> Record:
        check_schema(raw)
        return check_record(record_from_json(raw))
