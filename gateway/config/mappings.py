"""Loads the mapping tables named in ``routes.mappings`` (CSV files in ``config/mappings/``).

Each file is UTF-8 CSV with the header ``local,dvcqg`` and one mapping per line; ``#`` starts
a comment line. Every problem (unreadable file, bad header, empty cell, a local code mapped
twice) is reported with its file and line, all at once, as a
:class:`~gateway.errors.ConfigError`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gateway.config.schema import MappingsConfig
from gateway.encoders.mapping import MappingTables, Table
from gateway.errors import ConfigError, Problem

MAX_TABLE_BYTES = 20 * 1024 * 1024


def load_tables(config: MappingsConfig) -> MappingTables:
    """The configured tables (procedure codes -> MaTTHC, agency codes -> MaDinhDanh, local
    statuses -> TrangThaiHoSo)."""
    problems: list[Problem] = []
    procedures = _load("procedure", config.procedures, "routes.mappings.procedures", problems)
    agencies = _load("agency", config.agencies, "routes.mappings.agencies", problems)
    statuses = _load("status", config.statuses, "routes.mappings.statuses", problems)
    if statuses is not None:
        for local, code in statuses.rows.items():
            if code not in {str(n) for n in range(1, 11)}:
                problems.append(
                    Problem("routes.mappings.statuses", f"{local!r} maps to {code!r}, not 1-10")
                )
    if problems:
        raise ConfigError(problems)
    return MappingTables(procedures=procedures, agencies=agencies, statuses=statuses)


def _load(name: str, path_text: str, key: str, problems: list[Problem]) -> Table | None:
    if not path_text:
        return None
    path = Path(path_text)
    try:
        raw = path.read_bytes()[: MAX_TABLE_BYTES + 1]
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(key, f"cannot read {path}: {exc}"))
        return None
    if len(raw) > MAX_TABLE_BYTES:
        problems.append(Problem(key, f"{path} is larger than {MAX_TABLE_BYTES} bytes"))
        return None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["local", "dvcqg"]:
        problems.append(Problem(key, f"{path}: the first line must be 'local,dvcqg'"))
        return None
    rows: dict[str, str] = {}
    for number, row in enumerate(reader, start=2):
        cells = [c.strip() for c in row]
        if len(cells) != 2 or not all(cells):
            problems.append(Problem(key, f"{path} row {number}: need two non-empty cells"))
        elif cells[0] in rows and rows[cells[0]] != cells[1]:
            problems.append(Problem(key, f"{path} row {number}: {cells[0]!r} is mapped twice"))
        else:
            rows[cells[0]] = cells[1]
    return Table.of(name, str(path), rows)
