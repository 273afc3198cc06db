"""What the portal accepts, versioned: ``contracts/dvcqg/v1/``; what the gateway accepts
from vendors: ``contracts/canonical/v1/``.

JSON Schemas (one per DVCQG message), the WSDL and XSD of the SOAP path (X-Road message
protocol 4.0), and sample messages. They ship as package data of this package, so the
gateway, the simulator and the tests load the same files from a source checkout or an
installed wheel; this module only says where they are. ``contracts/fields.py`` holds the
field tables every file is generated from (``python -m contracts.generate``); the canonical
input schemas are generated from the model (:mod:`contracts.generate_canonical`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

VERSION = "v1"


def directory() -> Path:
    """The folder holding this version's contract files."""
    resource = files(__name__).joinpath("dvcqg", VERSION)
    with as_file(resource) as path:  # a real folder for both checkouts and installed wheels
        return Path(path)


@cache
def json_schema(name: str) -> dict[str, Any]:
    """A JSON Schema by message name, e.g. ``DongBoHoSoMC.request``."""
    text = (directory() / f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def wsdl_path() -> Path:
    """The WSDL of the SOAP path; the XSDs it imports are beside it."""
    return directory() / "dvcqg-v1.wsdl"


def xsd_path() -> Path:
    """The XSD of the SOAP bodies (the DVCQG objects)."""
    return directory() / "dvcqg-v1.xsd"


def samples() -> list[Path]:
    """Every sample message, sorted by name."""
    return sorted((directory() / "samples").iterdir())


def canonical_directory() -> Path:
    """The folder holding this version's canonical input schemas."""
    resource = files(__name__).joinpath("canonical", VERSION)
    with as_file(resource) as path:
        return Path(path)


@cache
def canonical_schema(name: str = "record") -> dict[str, Any]:
    """A canonical input schema: ``record`` (any kind), ``dossier``, ``progress``, ``result``."""
    text = (canonical_directory() / f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
