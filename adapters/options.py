"""How an adapter declares and checks its own configuration section.

An adapter describes its options as a frozen dataclass and calls :func:`parse_options` in its
factory. Unknown keys, missing required keys and wrong types are all reported together, each
with its path relative to the adapter's ``options`` (the registry prefixes the YAML path and
the adapter's name)::

    @dataclass(frozen=True, slots=True)
    class AcmeOptions:
        agency_code: str
        status_map: Mapping[str, int] = field(default_factory=dict)

    class AcmeAdapter:
        name = "acme"

        def __init__(self, options: Mapping[str, Any]) -> None:
            self.options = parse_options(AcmeOptions, options)

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``,
``tuple[X, ...]`` and ``Mapping[str, X]`` of those, ``Any``; strings from a ``${VAR}`` are read
as booleans and numbers where asked. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from gateway.config.typed_input import build
from gateway.errors import ConfigError, Problem

T = TypeVar("T")


def parse_options(cls: type[T], options: Mapping[str, Any] | None) -> T:
    """Build ``cls`` from the adapter's options; raise ``ConfigError`` listing every problem
    (the same reading as the gateway's own configuration, :mod:`gateway.config.typed_input`)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")  # pragma: no cover - a programming error
    problems: list[Problem] = []
    built = build(cls, dict(options or {}), "", problems, noun="option")
    if problems or built is None:
        raise ConfigError(problems)
    return built  # type: ignore[no-any-return]
