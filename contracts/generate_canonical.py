"""Writes ``canonical/v1/*.schema.json`` and ``docs/canonical-input.md`` from the model.

The canonical input is what a vendor sends to the ``canonical`` adapter (and what every
adapter produces). Its field names, types and required fields are the dataclasses of
``gateway/model.py``; :mod:`contracts.canonical_fields` adds the DVCQG field each becomes and
a Vietnamese and English description, and :mod:`contracts.fields` the spec section. Run
``python -m contracts.generate`` after changing any of them; ``tests/contract`` fails when a
committed file differs from what this module produces.

The schemas accept what the canonical reader accepts and no more (numbers as JSON numbers
or digit strings, ``true``/``false`` also as ``0``/``1``, ``null`` or ``""`` for an absent
optional date), so a record valid here is one the reader can build.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts.canonical_fields import KIND_DOCS, MEANINGS, OBJECTS, Meaning
from contracts.fields import OBJECTS as DVCQG_OBJECTS
from gateway import model

HERE = Path(__file__).parent / "canonical" / "v1"
DOCS = Path(__file__).parents[1] / "docs" / "canonical-input.md"
BASE_ID = "https://dvc-gateway.invalid/contracts/canonical/v1/"
DRAFT = "http://json-schema.org/draft-07/schema#"
MAX_TEXT_CHARS = 10_000
"""Mirrors ``gateway.canonical.MAX_TEXT_CHARS`` (a test keeps them equal)."""
TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,6})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)
"""ISO-8601 as ``datetime.fromisoformat`` reads it; without an offset: Vietnam local time."""
INTEGER_TEXT = r"^-?[0-9]+$"
KINDS: dict[str, type] = {
    "dossier": model.Dossier,
    "progress": model.ProgressStep,
    "result": model.Result,
}
NESTED: tuple[type, ...] = (
    model.SubmittedDocument,
    model.Fee,
    model.OtherPaper,
    model.Supplement,
    model.ResultDocument,
    model.OwnerIdentifier,
)
Json = dict[str, Any]


def spec_section(dvcqg: str) -> str:
    """The spec section and confidence label of a DVCQG field (``HoSo.MaHoSo``)."""
    if not dvcqg:
        return "not sent"
    if dvcqg == "envelope.madonvi":
        return "§3.1, §3.3 [C]"
    if "." not in dvcqg:
        return "§2.3 [C]"
    obj, name = dvcqg.split(".", 1)
    for f in DVCQG_OBJECTS[obj]:
        if f.name == name:
            return f.source
    raise KeyError(f"{dvcqg}: no such DVCQG field in contracts/fields.py")


def _type(tp: Any) -> tuple[Json, str]:
    """The JSON Schema of a model type, and its short name for the reference page."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        schema, name = _type(inner)
        if "enum" in schema:
            schema = {**schema, "type": [*schema["type"], "null"]}
            schema["enum"] = [*schema["enum"], "", None]
        else:
            schema = {**schema, "type": ["string", "null"], "pattern": f"^$|{schema['pattern']}"}
        return schema, f"{name} or null"
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            ref = {"$ref": f"#/definitions/{item.__name__}"}
            return {"type": "array", "items": ref}, f"array of {item.__name__}"
        inner_schema, inner_name = _type(item)
        return {"type": "array", "items": inner_schema}, f"array of {inner_name}"
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        values = [m.value for m in tp]
        listed = ", ".join(str(v) for v in values)
        return {
            "type": ["integer", "string"],
            "enum": [*values, *(str(v) for v in values)],
        }, f"integer {listed}"
    if tp is datetime:
        return {"type": "string", "pattern": TIMESTAMP, "x-format": "timestamp"}, "timestamp"
    if tp is bool:
        flags = [True, False, 0, 1, "0", "1", "true", "false", "True", "False"]
        return {"type": ["boolean", "integer", "string"], "enum": flags}, "boolean"
    if tp is int:
        return {
            "type": ["integer", "string"],
            "pattern": INTEGER_TEXT,
            "x-format": "integer",
        }, "integer"
    if tp is str:
        return {"type": "string", "maxLength": MAX_TEXT_CHARS}, "text"
    raise TypeError(f"no JSON Schema for {tp!r}")  # pragma: no cover - a new model type


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _meaning(cls: type, name: str) -> Meaning:
    return MEANINGS[cls.__name__][name]


def _object(cls: type, kind: str | None) -> Json:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    props: Json = {}
    if kind is not None:
        props["kind"] = {"const": kind, "description": "the record kind"}
    for f in fields:
        schema, _name = _type(hints[f.name])
        meaning = _meaning(cls, f.name)
        props[f.name] = {
            "description": meaning.en,
            "x-description-vi": meaning.vi,
            "x-dvcqg": meaning.dvcqg or "(not sent)",
            "x-spec": spec_section(meaning.dvcqg),
            **schema,
        }
    required = (["kind"] if kind is not None else []) + [f.name for f in fields if _required(f)]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": props,
    }


def _definitions() -> Json:
    return {cls.__name__: _object(cls, None) for cls in NESTED}


def _kind_schema(kind: str, cls: type) -> Json:
    doc = KIND_DOCS[kind]
    body = _object(cls, kind)
    if kind == "result":
        body["properties"]["status"] = {**body["properties"]["status"], "enum": [9, 10, "9", "10"]}
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{kind}.schema.json",
        "title": f"canonical {kind} record",
        "description": doc.en,
        "x-description-vi": doc.vi,
        "x-dvcqg": doc.dvcqg,
        **body,
        "definitions": _definitions(),
    }


def _record_schema() -> Json:
    """Any record: ``kind`` picks the shape; every error keeps the record's own paths."""
    defs = _definitions()
    branches = []
    for kind in KINDS:
        shape = {k: v for k, v in json_schemas()[f"{kind}.schema.json"].items() if k in _SHAPE}
        defs[kind] = shape
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/definitions/{kind}"},
            }
        )
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}record.schema.json",
        "title": "canonical record (any kind)",
        "description": "One input record; its kind (dossier, progress, result) picks the shape",
        "x-description-vi": "Một bản ghi đầu vào; kind (dossier, progress, result) chọn cấu trúc",
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS), "description": "the record kind"}},
        "allOf": branches,
        "definitions": defs,
    }


_SHAPE = ("type", "additionalProperties", "required", "properties")


def json_schemas() -> dict[str, Json]:
    """The schema of each kind by file name (``record.schema.json`` is made from them)."""
    return {f"{kind}.schema.json": _kind_schema(kind, cls) for kind, cls in KINDS.items()}


def outputs() -> dict[str, str]:
    """Every generated schema's text by file name (in ``canonical/v1/``)."""
    schemas = {**json_schemas(), "record.schema.json": _record_schema()}
    return {
        name: json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        for name, schema in schemas.items()
    }


# -- the reference page ---------------------------------------------------------------------


def _rows(cls: type) -> list[str]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        meaning = _meaning(cls, f.name)
        _schema, type_name = _type(hints[f.name])
        dvcqg = f"`{meaning.dvcqg}`" if meaning.dvcqg else "(not sent)"
        required = "yes" if _required(f) else ""
        rows.append(
            f"| `{f.name}` | {type_name} | {required} | {dvcqg} | "
            f"{spec_section(meaning.dvcqg)} | {meaning.en} | {meaning.vi} |"
        )
    return rows


_HEAD = [
    "| field | type | required | DVCQG | spec | English | Tiếng Việt |",
    "|---|---|---|---|---|---|---|",
]


def reference_page() -> str:
    """``docs/canonical-input.md``: every field of every record kind and nested object."""
    out = [PAGE_INTRO]
    for kind, cls in KINDS.items():
        doc = KIND_DOCS[kind]
        out += [
            f"## `{kind}` → {doc.dvcqg}",
            "",
            f"{doc.en}.  ",
            f"*{doc.vi}.*",
            "",
            f"Schema: `contracts/canonical/v1/{kind}.schema.json`. "
            + ("`status` must be 9 or 10. " if kind == "result" else "")
            + f'Plus `"kind": "{kind}"`.',
            "",
            *_HEAD,
            *_rows(cls),
            "",
        ]
    out += ["## Nested objects", ""]
    for cls in NESTED:
        out += [
            f"### `{cls.__name__}` → {OBJECTS[cls.__name__]}",
            "",
            *_HEAD,
            *_rows(cls),
            "",
        ]
    out.append(PAGE_RULES)
    return "\n".join(out)


PAGE_INTRO = """\
<!-- Generated by contracts/generate_canonical.py from gateway/model.py and
     contracts/canonical_fields.py: do not edit by hand (python -m contracts.generate). -->
# The canonical input: reference

*Đầu vào chuẩn (canonical) của dvc-gateway: mô tả từng trường.*

A one-stop system that sends records to the `canonical` adapter (HTTP intake, file drop or
SQL polling) sends JSON objects of the three kinds below. The JSON Schemas
(`contracts/canonical/v1/`: `dossier`, `progress`, `result` and `record`, which picks the
shape by `kind`) ship as package data of the `contracts` package and are what intake checks
every canonical record against: a record they refuse is rejected with the field path and the
schema rule (`$.status` `enum`), in Vietnamese or English (`intake.language`).

Conventions (both schemas and the reader):

- Field names are the model's English names; unknown keys are refused.
- Timestamps are ISO-8601 (`2026-11-27T08:15:00+07:00`); without an offset they are Vietnam
  local time (Asia/Ho_Chi_Minh). An optional timestamp may be `null` or `""`.
- Code lists (status, channel, ...) are their DVCQG numbers, as JSON integers (digit strings
  such as `"4"` are also accepted). Booleans are `true`/`false` (`0`/`1` accepted).
- Text is at most 10,000 characters here; the portal's own limits (`TrichYeuHoSo` 1000,
  `NguoiXuLy` 50) are checked when the record is encoded, and a record over them is
  quarantined with the DVCQG field named.
- Columns: *DVCQG* is the wire field the input field becomes (`translate --explain` shows it
  for your own records); *spec* is the section of the integration spec and its confidence
  label ([C] confirmed, [C1] one implementation, [I] inferred, [?] unknown).
"""

PAGE_RULES = """\
## Examples

A dossier, one of its steps and its result, as one intake request:

```json
[
  {"kind": "dossier", "dossier_code": "000.00.00.H56-261127-00001",
   "agency_code": "000.00.00.H56", "procedure_code": "1.001193",
   "procedure_name": "Thủ tục đăng ký khai sinh", "field_code": "G15-TP07",
   "field_name": "Hộ tịch", "status": 4, "channel": 2,
   "received_at": "2026-11-27T08:15:00+07:00", "due_at": "2026-11-28T08:15:00+07:00",
   "owner_name": "Nguyễn Thị Ánh Tuyết",
   "summary": "Đăng ký khai sinh cho cháu Nguyễn Minh Khôi",
   "handling_agency_name": "UBND xã Quảng Phú",
   "fees": [{"name": "Lệ phí đăng ký khai sinh", "amount_vnd": 8000}],
   "documents": [{"file_id": "f1", "file_name": "To khai.pdf",
                  "download_url": "https://motcua.example.gov.vn/files/f1.pdf"}]},
  {"kind": "progress", "dossier_code": "000.00.00.H56-261127-00001",
   "agency_code": "000.00.00.H56", "handler": "Lê Văn Cường",
   "handled_at": "2026-11-27T09:00:00+07:00", "action": "Thẩm định hồ sơ", "status": 4},
  {"kind": "result", "dossier_code": "000.00.00.H56-261127-00001",
   "agency_code": "000.00.00.H56", "status": 10,
   "finished_at": "2026-11-28T07:30:00+07:00", "returned_at": "2026-11-28T08:00:00+07:00",
   "handler": "Lê Văn Cường",
   "result_documents": [{"name": "Giấy khai sinh.pdf", "document_id": "kq1",
                         "download_url": "https://motcua.example.gov.vn/files/kq1.pdf"}]}
]
```

## Rules that tie records together

### How a step is tied to its dossier / Bước xử lý gắn với hồ sơ thế nào

A `progress` record belongs to the dossier whose `dossier_code` (MaHoSo) it carries, with the
same `agency_code`; nothing else links them. The gateway delivers a dossier's records in
order: its snapshot first, then its steps in `handled_at` order. A step may arrive before
its dossier (another source, another batch): it waits, queued, until a snapshot with that
code has been delivered. Steps are events: each distinct step is sent once; the same step
sent twice is a `duplicate`.

*Bản ghi `progress` thuộc về hồ sơ có cùng `dossier_code` (MaHoSo) và `agency_code`. Cổng
gửi hồ sơ trước, sau đó các bước theo thứ tự `handled_at`; bước đến trước hồ sơ sẽ chờ.*

### `result` or a status-9/10 snapshot? / Bản ghi `result` hay bản hồ sơ trạng thái 9/10?

Both end a dossier; send whichever your system has:

- A **`dossier` snapshot with status 9 or 10** is the whole dossier again. Send it when your
  system exports whole dossiers (a database row per dossier, a full export file): it
  replaces the last snapshot, and no closing step is made for it (send the step as a
  `progress` record if you have one).
- A **`result`** carries only the outcome (status 9 or 10, `finished_at`, `returned_at`,
  result documents, who closed it). Send it when your system emits events: the gateway takes
  the last accepted snapshot of the dossier, applies the outcome to it (the portal replaces
  whole snapshots) and adds the closing step (`handler`, `action`, at `returned_at` or
  `finished_at`). A `result` for a dossier the gateway has never accepted is quarantined
  (`$.dossier_code: no dossier snapshot with this code was accepted before`); its status
  must be 9 or 10 (schema rule `enum`). A returned dossier (status 10) is therefore either
  a snapshot with status 10 or a `result` with status 10, never both for the same event.

*Bản hồ sơ trạng thái 9/10 là toàn bộ hồ sơ (dùng khi hệ thống xuất cả hồ sơ); bản ghi
`result` chỉ mang kết quả và được áp lên bản hồ sơ mới nhất đã tiếp nhận, kèm bước kết thúc.*

### Agency code and MaHoSo / Mã đơn vị và MaHoSo

`agency_code` is required on every record: it is the envelope's `madonvi` and chooses the
route. When `dossier_code` has the shape DVCQG generates, `<agency code>-<yyMMdd>-<digits>`
(`000.00.00.H56-261127-00001`), its prefix must be the record's `agency_code`: a record whose
prefix names another agency is **rejected** at intake
(`$.agency_code: does not match the dossier_code prefix '000.00.00.H56'`, rule
`agency-prefix`), because the portal would file the dossier under the wrong agency. The
prefix is never used to fill an absent `agency_code` (an absent field is rejected as
missing). Codes of any other shape (a ministry's `G09.20-20260609-0092637`) are not
compared.

*`agency_code` là bắt buộc. Khi `dossier_code` có dạng `<mã đơn vị>-<yyMMdd>-<số>`, tiền tố
phải trùng `agency_code`; nếu khác, bản ghi bị từ chối ngay khi tiếp nhận.*
"""


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, content in outputs().items():
        (HERE / name).write_text(content, encoding="utf-8")
        print(f"wrote {HERE / name}")
    DOCS.write_text(reference_page(), encoding="utf-8")
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
