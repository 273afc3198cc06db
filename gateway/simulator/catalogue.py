"""The simulator's view of the national catalogues: procedures (TTHC) and agency codes.

Both come from CSV samples shipped inside the package (``gateway/simulator/data/``; sources and
caveats in ``gateway/simulator/data/README.md``) and are read with :mod:`importlib.resources`, so
the simulator works from an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

PROCEDURES_FILE = "tthc-sample.csv"
AGENCIES_FILE = "agency-codes-sample.csv"


@dataclass(frozen=True, slots=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính) as ``LayThuTuc`` describes it."""

    ma_tthc: str
    ten_tthc: str
    ma_linh_vuc: str
    ten_linh_vuc: str
    cap_thuc_hien: str = ""
    thoi_han: str = ""
    """The raw duration text of the sample (``data/README.md``, "Reading the columns")."""
    co_phi: str = ""
    """The raw fee text: ``có …``, ``không …``, ``tùy trường hợp …`` or ``không ghi``."""


@dataclass(frozen=True, slots=True)
class Agency:
    """One electronic agency identifier (``madonvi``) and the agency's name."""

    code: str
    name: str
    level: str = ""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Procedures keyed by ``MATTHC`` and agencies keyed by code, both in file order."""

    procedures: Mapping[str, Procedure]
    agencies: Mapping[str, Agency]


def _rows(file_name: str) -> list[dict[str, str]]:
    text = (
        resources.files("gateway.simulator").joinpath("data", file_name).read_text(encoding="utf-8")
    )
    return list(csv.DictReader(io.StringIO(text)))


def parse_procedures(rows: list[dict[str, str]]) -> dict[str, Procedure]:
    """Turn rows of ``tthc-sample.csv`` into procedures keyed by code (values copied as seen)."""
    procedures: dict[str, Procedure] = {}
    for row in rows:
        procedure = Procedure(
            ma_tthc=row["ma_tthc"].strip(),
            ten_tthc=row["ten_tthc"].strip(),
            ma_linh_vuc=row["ma_linh_vuc"].strip(),
            ten_linh_vuc=row["ten_linh_vuc"].strip(),
            cap_thuc_hien=row.get("cap_thuc_hien", "").strip(),
            thoi_han=row.get("thoi_han", "").strip(),
            co_phi=row.get("co_phi", "").strip(),
        )
        procedures[procedure.ma_tthc] = procedure
    return procedures


def parse_agencies(rows: list[dict[str, str]]) -> dict[str, Agency]:
    """Turn rows of ``agency-codes-sample.csv`` into agencies keyed by code."""
    agencies: dict[str, Agency] = {}
    for row in rows:
        agency = Agency(
            code=row["ma_dinh_danh"].strip(),
            name=row["ten_co_quan"].strip(),
            level=row.get("cap", "").strip(),
        )
        agencies[agency.code] = agency
    return agencies


@cache
def load_catalogue() -> Catalogue:
    """Read both packaged CSV files once per process."""
    return Catalogue(
        procedures=parse_procedures(_rows(PROCEDURES_FILE)),
        agencies=parse_agencies(_rows(AGENCIES_FILE)),
    )
