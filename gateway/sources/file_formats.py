"""Export files into raw records: JSON, NDJSON, CSV and XML, each problem with its place.

- JSON: an array of objects (or one object).
- NDJSON: one object per line; blank lines are skipped.
- CSV: a header row, then one record per row (a mapping header -> text); the delimiter and
  encoding are settings (``utf-8-sig`` also reads files Excel saved with a BOM).
- XML: the records are the root's children, or every element named ``record_tag``; an
  element with children becomes an object, a repeated child a list, a leaf its text
  (attributes are ignored: put values in elements).
  Parsed with expat, and a document with a DTD (``<!DOCTYPE``), and so any entity
  declaration, is refused: no entity expansion, no external entities.

JSON and NDJSON are read by the strict reader (:mod:`~gateway.sources.strict_json`): nesting
deeper than ``max_depth``, repeated keys and NaN/Infinity are refused with the rule's name;
XML elements nested deeper than ``max_depth`` are refused too.

Every parser stops at ``max_records``. Pure: bytes in, records out.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from xml.parsers import expat

from gateway.sources import strict_json
from gateway.sources.strict_json import DEFAULT_MAX_DEPTH, StrictJsonError


class FileFormatError(ValueError):
    """The file cannot be read as its format says; the message says where."""


def parse_records(
    data: bytes,
    fmt: str,
    *,
    max_records: int,
    csv_delimiter: str = ",",
    csv_encoding: str = "utf-8-sig",
    xml_record_tag: str = "",
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Any]:
    """The raw records in ``data``, a file of format ``fmt``."""
    if fmt == "csv":
        records = _csv(data, csv_delimiter, csv_encoding, max_records)
    elif fmt == "xml":
        records = _xml(data, xml_record_tag, max_records, max_depth)
    else:
        text = _utf8(data)
        if fmt == "ndjson":
            records = _ndjson(text, max_records, max_depth)
        else:
            records = _json(text, max_depth)
    if len(records) > max_records:
        raise FileFormatError(f"more than {max_records} records in one file")
    return records


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"not UTF-8 (rule encoding) at byte {exc.start}") from exc


def _json(text: str, max_depth: int) -> list[Any]:
    try:
        value = strict_json.loads(text, max_depth=max_depth)
    except StrictJsonError as exc:
        raise FileFormatError(str(exc)) from None
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise FileFormatError("a JSON file must hold an array of records or one record")
    return value


def _ndjson(text: str, max_records: int, max_depth: int) -> list[Any]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(strict_json.loads(line, max_depth=max_depth))
        except StrictJsonError as exc:
            raise FileFormatError(f"line {number}: {exc}") from None
        if len(records) > max_records:
            break
    return records


def _csv(data: bytes, delimiter: str, encoding: str, max_records: int) -> list[Any]:
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise FileFormatError(f"cannot decode the file as {encoding}: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        if not header or not any(header):
            raise FileFormatError("the CSV file has no header row")
        if len(set(header)) != len(header):
            raise FileFormatError(f"the CSV header repeats a column: {header}")
        records = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise FileFormatError(
                    f"line {reader.line_num}: {len(row)} cells, the header has {len(header)}"
                )
            records.append(dict(zip(header, row, strict=True)))
            if len(records) > max_records:
                break
    except csv.Error as exc:
        raise FileFormatError(f"line {reader.line_num}: {exc}") from exc
    return records


class _TreeBuilder:
    """Builds nested dicts from expat events; refuses DTDs and entity declarations."""

    def __init__(self, record_tag: str, max_records: int, max_depth: int) -> None:
        self.record_tag = record_tag
        self.max_records = max_records
        self.max_depth = max_depth
        self.stack: list[tuple[str, dict[str, Any], list[str]]] = []
        self.records: list[Any] = []

    def start(self, tag: str, _attrs: dict[str, str]) -> None:
        if len(self.stack) >= self.max_depth:
            raise FileFormatError(
                f"elements nested deeper than {self.max_depth} levels (rule depth)"
            )
        self.stack.append((tag, {}, []))

    def end(self, tag: str) -> None:
        _, children, texts = self.stack.pop()
        value: Any = children if children else "".join(texts).strip()
        depth = len(self.stack)
        is_record = tag == self.record_tag if self.record_tag else depth == 1
        if is_record:
            self.records.append(value if isinstance(value, dict) else {tag: value})
            if len(self.records) > self.max_records:
                raise FileFormatError(f"more than {self.max_records} records in one file")
        elif depth:
            parent = self.stack[-1][1]
            if tag in parent:
                existing = parent[tag]
                parent[tag] = (
                    [*existing, value] if isinstance(existing, list) else [existing, value]
                )
            else:
                parent[tag] = value

    def text(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)


def _refuse_dtd(*_args: object) -> None:
    raise FileFormatError("XML with a DTD or entity declarations is refused")


def _refuse_external(*_args: object) -> int:
    raise FileFormatError("XML with external entities is refused")


def _xml(data: bytes, record_tag: str, max_records: int, max_depth: int) -> list[Any]:
    builder = _TreeBuilder(record_tag, max_records, max_depth)
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FileFormatError(
            f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}"
        ) from exc
    return builder.records
