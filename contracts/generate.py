"""Writes ``dvcqg/v1/*.schema.json``, ``dvcqg-v1.xsd`` and ``dvcqg-v1.wsdl`` from :mod:`.fields`.

Run ``python -m contracts.generate`` after editing the tables; ``tests/contract`` fails when
a committed file differs from what this module produces. ``xroad.xsd`` and the samples are
written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from contracts import generate_canonical
from contracts.fields import DATE_PATTERN, OBJECTS, STATUS_DATES, Field

HERE = Path(__file__).parent / "dvcqg" / "v1"
BASE_ID = "https://dvc-gateway.invalid/contracts/dvcqg/v1/"
DRAFT = "http://json-schema.org/draft-07/schema#"
"""Draft 7: what both jsonschema (errors with paths) and fastjsonschema (the fast check)
read."""
TNS = "http://dichvucong.gov.vn/dvcqg/v1"
XROAD = "http://x-road.eu/xsd/xroad.xsd"
Json = dict[str, Any]

# -- JSON Schema ----------------------------------------------------------------------------


def _json_field(f: Field) -> Json:
    out: Json
    if f.kind == "text":
        out = {"type": "string"}
        if f.required:
            out["minLength"] = 1
            out["pattern"] = r"\S"
        if f.max_chars is not None:
            out["maxLength"] = f.max_chars
    elif f.kind == "date":
        out = {"type": "string", "pattern": f"^({DATE_PATTERN})?$"}
        if f.required:
            out["pattern"] = f"^{DATE_PATTERN}$"
    elif f.kind == "enum":
        out = {"type": "string", "enum": list(f.values)}
    elif f.kind == "url":
        out = {"type": "string", "pattern": r"^https?://[^\s/?#]+[^\s]*$"}
    elif f.kind == "int":
        out = {"type": "integer"}
    else:
        out = {"type": "array", "items": {"$ref": f"#/definitions/{f.item}"}}
    return {"description": f.source, **out}


def _json_object(fields: tuple[Field, ...]) -> Json:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in fields if f.required],
        "properties": {f.name: _json_field(f) for f in fields},
    }


def _defs() -> Json:
    defs = {name: _json_object(fields) for name, fields in OBJECTS.items()}
    defs["HoSo"]["allOf"] = [
        {
            "$comment": why,
            "if": {
                "properties": {"TrangThaiHoSo": {"not": {"enum": list(skip)}}},
                "required": ["TrangThaiHoSo"],
            },
            "then": {"properties": {name: {"minLength": 14}}, "required": [name]},
        }
        for name, skip, why in STATUS_DATES
    ] + [
        {
            "$comment": "NgayTuChoi is required for status 3 (§4.2 [C1], §6.1) [I]",
            "if": {"properties": {"TrangThaiHoSo": {"const": "3"}}, "required": ["TrangThaiHoSo"]},
            "then": {"properties": {"NgayTuChoi": {"minLength": 14}}, "required": ["NgayTuChoi"]},
        },
        {
            "$comment": "SoDinhDanh: 12 digits for LoaiDinhDanh 1, 9 for 2 (§6.8 [C1])",
            "properties": {"DinhDanhCHS": {"items": {"$ref": "#/definitions/DinhDanhDigits"}}},
        },
    ]
    defs["DinhDanhDigits"] = {
        "oneOf": [
            {
                "properties": {
                    "LoaiDinhDanh": {"const": "1"},
                    "SoDinhDanh": {"pattern": "^[0-9]{12}$"},
                }
            },
            {
                "properties": {
                    "LoaiDinhDanh": {"const": "2"},
                    "SoDinhDanh": {"pattern": "^[0-9]{9}$"},
                }
            },
        ]
    }
    return defs


_SESSION = {"type": "string", "minLength": 1, "description": "§3.1 [C]: from login"}
_MADONVI = {
    "type": "string",
    "pattern": r"^\S+$",
    "description": "§3.1, §3.3 [C]: the agency's MaDinhDanh (QCVN 102:2016 shape [C1])",
}


def _request(service: str, extra: Json, required: list[str], doc: str) -> Json:
    props: Json = {"session": _SESSION, "madonvi": _MADONVI, "service": {"const": service}}
    props.update(extra)
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{service}.request.schema.json",
        "title": f"{service} request",
        "description": doc,
        "type": "object",
        "additionalProperties": False,
        "required": ["session", "madonvi", "service", *required],
        "properties": props,
        "definitions": _defs(),
    }


def _response(name: str, result: Json | None, doc: str) -> Json:
    props: Json = {
        "error_code": {
            "description": "§3.1 [C]: 0 (number or string, also '00') is success",
            "type": ["integer", "string"],
            "pattern": r"^\s*-?[0-9]+\s*$",
        },
        "message": {"type": "string", "description": "§3.1 [C]: Vietnamese text"},
    }
    if result is not None:
        props["result"] = result
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{name}.response.schema.json",
        "title": f"{name} response",
        "description": doc,
        "type": "object",
        "required": ["error_code"],
        "properties": props,
        "definitions": _defs() if name == "TraCuuHoSo" else {},
    }


def json_schemas() -> dict[str, Json]:
    """Every JSON Schema document by file name."""
    items = {"type": "array", "minItems": 1}
    schemas = {
        "login.request": {
            "$schema": DRAFT,
            "$id": f"{BASE_ID}login.request.schema.json",
            "title": "login request",
            "description": "§2.1, §3.1 [C]: POST {adapter}/mapi/login",
            "type": "object",
            "additionalProperties": False,
            "required": ["username", "password"],
            "properties": {
                "username": {"type": "string", "minLength": 1},
                "password": {"type": "string"},
            },
        },
        "login.response": _response("login", None, "§2.1 [C]: {error_code, message, session}"),
        "DongBoHoSoMC.request": _request(
            "DongBoHoSoMC",
            {
                "isUpdating": {"enum": ["True", "False"], "description": "§4, §7 [C]: a string"},
                "data": {**items, "items": {"$ref": "#/definitions/HoSo"}},
            },
            ["isUpdating", "data"],
            "§2.3, §4 [C]: create or update dossiers; batch limit unknown [?]",
        ),
        "CapNhatTienDoHoSoMC.request": _request(
            "CapNhatTienDoHoSoMC",
            {"data": {**items, "items": {"$ref": "#/definitions/TienDo"}}},
            ["data"],
            "§2.3, §5 [C]: append progress steps",
        ),
        "TraCuuHoSo.request": _request(
            "TraCuuHoSo",
            {"mahoso": {"type": "string", "minLength": 1}},
            ["mahoso"],
            "§2.2 [C]: non-empty result means the portal holds the dossier (§7 strategy a)",
        ),
        "TraCuuHoSo.response": _response(
            "TraCuuHoSo", {"type": "array"}, "§2.2 [C]: result[] of dossier objects"
        ),
        "TraCuuTienDoHoSo.request": _request(
            "TraCuuTienDoHoSo",
            {"mahoso": {"type": "string", "minLength": 1}},
            ["mahoso"],
            "[?] not a documented DVCQG service: the progress steps a portal holds for a "
            "dossier, asked before a step is sent again (portal.progress_lookup_service)",
        ),
        "LayDanhSachTTHC.request": _request(
            "LayDanhSachTTHC", {}, [], "§2.2 [C]: the procedure catalogue"
        ),
        "LayDanhSachTTHC.response": _response(
            "LayDanhSachTTHC",
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["MATTHC", "TENTTHC"],
                    "properties": {"MATTHC": {"type": "string"}, "TENTTHC": {"type": "string"}},
                },
            },
            "§2.2 [C]",
        ),
        "LayThuTuc.request": _request(
            "LayThuTuc", {"maTTHC": {"type": "string", "minLength": 1}}, ["maTTHC"], "§2.2 [C]"
        ),
        "LayThuTuc.response": _response(
            "LayThuTuc",
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["TENTTHC"],
                    "properties": {
                        "MATTHC": {"type": "string"},
                        "TENTTHC": {"type": "string"},
                        "LINHVUCTHUCHIEN": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["MALINHVUC", "TENLINHVUC"],
                            },
                        },
                    },
                },
            },
            "§2.2 [C]: result[0] describes the procedure",
        ),
        "error.response": _response(
            "error", None, "§3.1, §6.10 [C for 0, C1 for the rest]: {error_code, message}"
        ),
    }
    return {f"{name}.schema.json": schema for name, schema in schemas.items()}


# -- XSD and WSDL -------------------------------------------------------------------------


def _xsd_field(f: Field) -> str:
    doc = f"<xs:annotation><xs:documentation>{escape(f.source)}</xs:documentation></xs:annotation>"
    if f.kind == "array":
        return (
            f'<xs:element name="{f.name}" type="tns:{f.item}" minOccurs="0" '
            f'maxOccurs="unbounded">{doc}</xs:element>'
        )
    simple = {
        "text": "tns:NonEmptyText" if f.required else "xs:string",
        "date": "tns:Date",
        "url": "tns:Url",
        "int": "xs:int",
    }.get(f.kind)
    if f.kind == "date" and f.required:
        simple = "tns:RequiredDate"
    if f.kind == "enum":
        enums = "".join(f'<xs:enumeration value="{v}"/>' for v in f.values)
        body = f'<xs:simpleType><xs:restriction base="xs:string">{enums}</xs:restriction>'
        return f'<xs:element name="{f.name}">{doc}{body}</xs:simpleType></xs:element>'
    if f.max_chars is not None:
        base = simple
        body = (
            f'<xs:simpleType><xs:restriction base="{base}">'
            f'<xs:maxLength value="{f.max_chars}"/></xs:restriction></xs:simpleType>'
        )
        return f'<xs:element name="{f.name}">{doc}{body}</xs:element>'
    return f'<xs:element name="{f.name}" type="{simple}">{doc}</xs:element>'


OPERATIONS: dict[str, tuple[str, str]] = {
    # operation: (request children, response result element or "")
    "DongBoHoSoMC": (
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>'
        '<xs:element name="isUpdating"><xs:simpleType><xs:restriction base="xs:string">'
        '<xs:enumeration value="True"/><xs:enumeration value="False"/>'
        "</xs:restriction></xs:simpleType></xs:element>"
        '<xs:element name="data" type="tns:HoSo" maxOccurs="unbounded"/>',
        "",
    ),
    "CapNhatTienDoHoSoMC": (
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>'
        '<xs:element name="data" type="tns:TienDo" maxOccurs="unbounded"/>',
        "",
    ),
    "TraCuuHoSo": (
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>'
        '<xs:element name="mahoso" type="tns:NonEmptyText"/>',
        '<xs:element name="result" type="tns:HoSo" minOccurs="0" maxOccurs="unbounded"/>',
    ),
    "TraCuuTienDoHoSo": (  # [?] not documented: portal.progress_lookup_service
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>'
        '<xs:element name="mahoso" type="tns:NonEmptyText"/>',
        '<xs:element name="result" type="tns:TienDo" minOccurs="0" maxOccurs="unbounded"/>',
    ),
    "LayDanhSachTTHC": (
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>',
        '<xs:element name="result" type="tns:TTHC" minOccurs="0" maxOccurs="unbounded"/>',
    ),
    "LayThuTuc": (
        '<xs:element name="madonvi" type="tns:NonEmptyText"/>'
        '<xs:element name="maTTHC" type="tns:NonEmptyText"/>',
        '<xs:element name="result" type="tns:TTHC" minOccurs="0" maxOccurs="unbounded"/>',
    ),
}


def xsd() -> str:
    """The SOAP body schema: the same objects as the JSON Schemas, document/literal."""
    types = "".join(
        f'<xs:complexType name="{name}"><xs:sequence>'
        + "".join(_xsd_field(f) for f in fields)
        + "</xs:sequence></xs:complexType>\n"
        for name, fields in OBJECTS.items()
    )
    ops = ""
    for op, (request, result) in OPERATIONS.items():
        ops += f'<xs:element name="{op}"><xs:complexType><xs:sequence>{request}'
        ops += "</xs:sequence></xs:complexType></xs:element>\n"
        ops += f'<xs:element name="{op}Response"><xs:complexType><xs:sequence>'
        ops += '<xs:element name="error_code" type="xs:int"/>'
        ops += f'<xs:element name="message" type="xs:string"/>{result}'
        ops += "</xs:sequence></xs:complexType></xs:element>\n"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by contracts/generate.py from contracts/fields.py: do not edit by hand.
     The DVCQG objects of spec §4 and §5 as XML (document/literal wrapped, X-Road PR-MESS §3).
     The portal publishes no SOAP schema [?]: the namespace and element shapes are ours [I];
     field names, code lists and the date pattern follow the spec sections cited per field.
     Rules XSD 1.0 cannot say (dates required by status) live in the JSON Schemas, which the
     gateway applies to every message whatever the route. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="{TNS}"
  targetNamespace="{TNS}" elementFormDefault="qualified">
<xs:simpleType name="NonEmptyText"><xs:restriction base="xs:string">
<xs:pattern value="[\\s\\S]*\\S[\\s\\S]*"/></xs:restriction></xs:simpleType>
<xs:simpleType name="Date"><xs:annotation><xs:documentation>§4 [C]: yyyyMMddHHmmss, Vietnam \
local time, or empty when unknown</xs:documentation></xs:annotation>
<xs:restriction base="xs:string"><xs:pattern value="({DATE_PATTERN})?"/></xs:restriction>
</xs:simpleType>
<xs:simpleType name="RequiredDate"><xs:restriction base="xs:string">
<xs:pattern value="{DATE_PATTERN}"/></xs:restriction></xs:simpleType>
<xs:simpleType name="Url"><xs:restriction base="xs:string">
<xs:pattern value="https?://[^\\s/?#]+\\S*"/></xs:restriction></xs:simpleType>
<xs:complexType name="TTHC"><xs:sequence>
<xs:element name="MATTHC" type="xs:string"/><xs:element name="TENTTHC" type="xs:string"/>
<xs:element name="MALINHVUC" type="xs:string" minOccurs="0"/>
<xs:element name="TENLINHVUC" type="xs:string" minOccurs="0"/>
</xs:sequence></xs:complexType>
{types}{ops}</xs:schema>
"""


def wsdl() -> str:
    """WSDL 1.1, document/literal wrapped, X-Road headers in input and output (PR-MESS §3)."""
    parts = ("client", "service", "id", "userId", "issue", "protocolVersion")
    header_parts = "".join(f'<wsdl:part name="{p}" element="xrd:{p}"/>' for p in parts)
    headers = "".join(
        f'<soap:header message="tns:requestHeader" part="{p}" use="literal"/>' for p in parts
    )
    messages = port_ops = bind_ops = ""
    for op in OPERATIONS:
        messages += (
            f'<wsdl:message name="{op}"><wsdl:part name="body" element="tns:{op}"/></wsdl:message>'
            f'<wsdl:message name="{op}Response"><wsdl:part name="body" '
            f'element="tns:{op}Response"/></wsdl:message>\n'
        )
        port_ops += (
            f'<wsdl:operation name="{op}"><wsdl:documentation><xrd:title>{op}</xrd:title>'
            f'</wsdl:documentation><wsdl:input message="tns:{op}"/>'
            f'<wsdl:output message="tns:{op}Response"/></wsdl:operation>\n'
        )
        bind_ops += (
            f'<wsdl:operation name="{op}"><soap:operation soapAction="" style="document"/>'
            f'<xrd:version>v1</xrd:version><wsdl:input><soap:body use="literal"/>{headers}'
            f'</wsdl:input><wsdl:output><soap:body use="literal"/>{headers}</wsdl:output>'
            "</wsdl:operation>\n"
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by contracts/generate.py: do not edit by hand.
     DVCQG services over X-Road message protocol 4.0 (x-road §1, §3.2 [S]).
     Service codes = operation names; version v1 [I]: the provider's real WSDL must come from
     getWsdl on NDXP (x-road §3.1) and is not public [?]. -->
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:xrd="{XROAD}" xmlns:tns="{TNS}" name="dvcqg" targetNamespace="{TNS}">
<wsdl:types><xs:schema targetNamespace="{TNS}-types">
<xs:import namespace="{TNS}" schemaLocation="dvcqg-v1.xsd"/>
<xs:import namespace="{XROAD}" schemaLocation="xroad.xsd"/>
</xs:schema></wsdl:types>
<wsdl:message name="requestHeader">{header_parts}</wsdl:message>
{messages}<wsdl:portType name="dvcqgPortType">
{port_ops}</wsdl:portType>
<wsdl:binding name="dvcqgBinding" type="tns:dvcqgPortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{bind_ops}</wsdl:binding>
<wsdl:service name="dvcqgService"><wsdl:port name="dvcqgPort" binding="tns:dvcqgBinding">
<soap:address location="http://example.org/xroad-endpoint"/></wsdl:port></wsdl:service>
</wsdl:definitions>
"""


def outputs() -> dict[str, str]:
    """Every generated file's text by file name."""
    files = {
        name: json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        for name, schema in json_schemas().items()
    }
    files["dvcqg-v1.xsd"] = xsd()
    files["dvcqg-v1.wsdl"] = wsdl()
    return files


def main() -> None:
    for name, content in outputs().items():
        (HERE / name).write_text(content, encoding="utf-8")
        print(f"wrote {HERE / name}")
    generate_canonical.main()  # the canonical input contract, from the model


if __name__ == "__main__":
    main()
