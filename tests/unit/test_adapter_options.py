"""``parse_options``: an adapter's section checked field by field, every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pytest

from adapters.options import parse_options
from gateway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Options:
    agency_code: str
    kind: Literal["dossier", "progress"] = "dossier"
    batch: int = 10
    ratio: float = 1.0
    strict: bool = False
    formats: tuple[str, ...] = ("%d/%m/%Y",)
    status_map: Mapping[str, int] = field(default_factory=dict)


def test_good_options_are_converted() -> None:
    options = parse_options(
        Options,
        {
            "agency_code": "000.00.00.H56",
            "batch": "20",
            "ratio": 2,
            "formats": ["%Y"],
            "status_map": {"Đang xử lý": 4},
        },
    )
    assert options == Options("000.00.00.H56", batch=20, ratio=2.0, formats=("%Y",),
                              status_map={"Đang xử lý": 4})  # fmt: skip


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_options(
            Options,
            {
                "kind": "result",
                "batch": "many",
                "ratio": "x",
                "strict": "yes",
                "formats": "%Y",
                "status_map": {"done": "ten"},
                "colour": 1,
            },
        )
    assert {str(p) for p in caught.value.problems} == {
        "colour: unknown option (known: agency_code, kind, batch, ratio, strict, formats, "
        "status_map)",
        "agency_code: required option is missing",
        "kind: must be one of dossier, progress",
        "batch: expected an integer",
        "ratio: expected a number",
        "strict: expected true or false",
        "formats: expected a list",
        "status_map.done: expected an integer",
    }
