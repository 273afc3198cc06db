"""Mapping tables: loading (every problem at once) and applying (unknown code names the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.mappings import load_tables
from gateway.config.schema import MappingsConfig
from gateway.encoders.mapping import MappingTables, Table
from gateway.errors import ConfigError, TranslationError
from tests.factories import dossier, step

ROOT = Path(__file__).parents[2]


def test_the_shipped_tables_load() -> None:
    tables = load_tables(
        MappingsConfig(
            procedures=str(ROOT / "config/mappings/procedures.csv"),
            agencies=str(ROOT / "config/mappings/agencies.csv"),
        )
    )
    assert tables.procedures is not None
    assert tables.procedures.rows["2.000477.000.00.00.H56"] == "2.000477"
    assert tables.agencies is not None


def test_every_problem_in_a_table_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "p.csv"
    bad.write_text("local,dvcqg\na,1\na,2\nb\n,3\n", encoding="utf-8")
    header = tmp_path / "a.csv"
    header.write_text("code,target\nx,y\n", encoding="utf-8")
    config = MappingsConfig(procedures=str(bad), agencies=str(header))
    with pytest.raises(ConfigError) as caught:
        load_tables(config)
    text = str(caught.value)
    assert "row 3: 'a' is mapped twice" in text
    assert "row 4: need two non-empty cells" in text
    assert "row 5: need two non-empty cells" in text
    assert "the first line must be 'local,dvcqg'" in text


def test_a_missing_table_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes\.mappings\.procedures"):
        load_tables(MappingsConfig(procedures=str(tmp_path / "nope.csv")))


TABLES = MappingTables(
    procedures=Table.of("procedure", "config/mappings/procedures.csv", {"L-1": "1.001193"}),
    agencies=Table.of("agency", "config/mappings/agencies.csv", {"SOTP": "000.00.00.H56"}),
)


def test_local_codes_become_dvcqg_codes() -> None:
    mapped = TABLES.apply(dossier(procedure_code="L-1", agency_code="SOTP"))
    assert mapped.agency_code == "000.00.00.H56"
    assert getattr(mapped, "procedure_code") == "1.001193"  # noqa: B009 - a Record union
    assert TABLES.apply(step(agency_code="SOTP")).agency_code == "000.00.00.H56"


def test_dvcqg_codes_pass_through() -> None:
    assert TABLES.apply(dossier()) == dossier()


def test_an_unknown_code_names_the_table_to_extend() -> None:
    with pytest.raises(TranslationError) as caught:
        TABLES.apply(dossier(procedure_code="9.LOCAL"))
    assert caught.value.problems[0].path == "$.MaTTHC"
    assert "add a line '9.LOCAL,<DVCQG code>' to config/mappings/procedures.csv" in str(
        caught.value
    )
    with pytest.raises(TranslationError, match="agency table"):
        TABLES.apply(step(agency_code="UNKNOWN"))


STATUSES = MappingTables(
    statuses=Table.of("status", "config/mappings/statuses.csv", {"processing": "4", "done": "10"})
)


def test_local_statuses_become_dvcqg_codes_before_the_adapter() -> None:
    assert STATUSES.map_raw_status({"kind": "dossier", "status": "processing"}) == {
        "kind": "dossier",
        "status": 4,
    }
    assert STATUSES.map_raw_status({"status": 2}) == {"status": 2}
    assert STATUSES.map_raw_status({"status": "10"}) == {"status": "10"}
    with pytest.raises(TranslationError, match="status table"):
        STATUSES.map_raw_status({"status": "interoperating"})


def test_the_shipped_status_table_loads_and_a_bad_code_is_refused(tmp_path: Path) -> None:
    tables = load_tables(MappingsConfig(statuses=str(ROOT / "config/mappings/statuses.csv")))
    assert tables.statuses is not None
    assert tables.statuses.rows["releasing"] == "9"
    bad = tmp_path / "s.csv"
    bad.write_text("local,dvcqg\nposting,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not 1-10"):
        load_tables(MappingsConfig(statuses=str(bad)))
