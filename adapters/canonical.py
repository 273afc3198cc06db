"""Reference adapter: records that are already in the canonical JSON form.

A one-stop system that can produce our canonical JSON (see ``gateway/canonical.py`` and the
README) needs no translation beyond validation, which this adapter does field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.canonical import record_from_json
from gateway.errors import ConfigError, Problem
from gateway.model import Record


class CanonicalAdapter:
    """Accepts canonical JSON records; takes no options."""

    name = "canonical"

    def __init__(self, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError([Problem(key, "unknown option") for key in options])

    def translate(self, raw: object) -> Record:
        return record_from_json(raw)
