"""The canonical inbound dossier: a dossier filed on the national portal and pushed down.

The portal (or an OpenCPS-compatible caller) posts the body of ``createdossierfromdvcqg``
(spec dvcqg §2.4): ``MaHoSo``, ``MaTTHC``, ``SoVanBan``, ``NgayNopHoSo``, the applicant
(``TenThuongNhan``, ``DiaChiDoanhNghiep{MaTinh,MaHuyen,MaXa,DiaChiChiTiet}``, ``DienThoai``,
``Fax``, ``Email``, ``MaSoThue``, ``NguoiLienHe``, ``SoDienThoaiNguoiLienHe``), the
application form (``TenTepDonDangKy`` + ``TepDonDangKy`` in Base64), the submitted papers
(``TaiLieuNop[{TenTepDinhKem, Base64}]``) and procedure-specific fields, which are kept as
they came in :attr:`InboundDossier.fields`. :func:`parse_portal_dossier` checks it and names
every problem with its field path; a sink plugin reads the result.

Attachments are checked here, before anything is stored: valid Base64, at most
``Limits.max_attachment_bytes`` each and ``Limits.max_total_bytes`` together, and a content
type that the file's first bytes prove (a ``.pdf`` that is not a PDF is refused: a portal
never sends one, an attacker might).

Pure: no I/O, no clock. Sinks (``adapters/``) may import this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.errors import Problem, TranslationError, code_shown, value_shape
from gateway.model import PORTAL_TZ

PORTAL_DATE = "%Y%m%d%H%M%S"

CONTENT_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             (b"PK\x03\x04",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             (b"PK\x03\x04",)),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "zip": ("application/zip", (b"PK\x03\x04",)),
}  # fmt: skip
"""File extensions the portal's e-services attach, with the content type and the first
bytes that prove it (their magic numbers)."""

_KNOWN = {
    "MaHoSo", "MaTTHC", "SoVanBan", "NgayNopHoSo", "TenThuongNhan", "DiaChiDoanhNghiep",
    "DienThoai", "Fax", "Email", "MaSoThue", "NguoiLienHe", "SoDienThoaiNguoiLienHe",
    "TenTepDonDangKy", "TepDonDangKy", "TaiLieuNop", "MaDonVi", "MaDoiTuong",
}  # fmt: skip
_ADDRESS = ("MaTinh", "MaHuyen", "MaXa", "DiaChiChiTiet")
MAX_CODE_CHARS = 100
MAX_TEXT_CHARS = 2_000
MAX_FIELDS = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """What one inbound dossier may carry (``inbound.max_*`` in the configuration)."""

    max_attachment_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 40 * 1024 * 1024
    max_attachments: int = 50
    allowed_extensions: tuple[str, ...] = tuple(CONTENT_TYPES)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file: the application form (``role`` = ``form``) or a submitted paper (``paper``)."""

    role: str
    name: str
    content_type: str
    content: bytes
    sha256: str


@dataclass(frozen=True, slots=True)
class Address:
    province_code: str = ""  # MaTinh
    district_code: str = ""  # MaHuyen
    ward_code: str = ""  # MaXa
    detail: str = ""  # DiaChiChiTiet


@dataclass(frozen=True, slots=True)
class InboundDossier:
    """A portal-hosted dossier, as every sink receives it."""

    dossier_code: str  # MaHoSo: the idempotency key
    procedure_code: str  # MaTTHC
    submitted_at: datetime | None  # NgayNopHoSo
    applicant_name: str  # TenThuongNhan
    agency_code: str = ""  # MaDonVi, when the caller names the receiving agency
    document_number: str = ""  # SoVanBan
    owner_account_id: str = ""  # MaDoiTuong (the portal's TechID), when sent
    address: Address = Address()
    phone: str = ""  # DienThoai
    fax: str = ""  # Fax
    email: str = ""  # Email
    tax_code: str = ""  # MaSoThue
    contact_name: str = ""  # NguoiLienHe
    contact_phone: str = ""  # SoDienThoaiNguoiLienHe
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Procedure-specific fields, as the portal sent them."""
    attachments: tuple[Attachment, ...] = ()


PERSONAL_KEYS = (
    "applicant_name", "phone", "fax", "email", "tax_code", "contact_name", "contact_phone",
    "owner_account_id", "detail",
)  # fmt: skip
"""Keys of :func:`dossier_to_json` that carry personal data (masked in logs and audit)."""


def parse_portal_dossier(raw: object, limits: Limits = Limits()) -> InboundDossier:
    """Check the ``createdossierfromdvcqg`` body; raise :class:`TranslationError` listing
    every problem at its path (values are never quoted: they may be personal data)."""
    if not isinstance(raw, Mapping):
        raise TranslationError.at("$", f"expected a JSON object, got {value_shape(raw)}")
    problems: list[Problem] = []
    code = _text(raw, "MaHoSo", problems, required=True, limit=MAX_CODE_CHARS)
    procedure = _text(raw, "MaTTHC", problems, required=True, limit=MAX_CODE_CHARS)
    applicant = _text(raw, "TenThuongNhan", problems, required=True)
    submitted = _date(raw.get("NgayNopHoSo"), "$.NgayNopHoSo", problems)
    address = _address(raw.get("DiaChiDoanhNghiep"), problems)
    files = _attachments(raw, limits, problems)
    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    if len(extra) > MAX_FIELDS:
        problems.append(Problem("$", f"more than {MAX_FIELDS} procedure-specific fields"))
    if problems:
        raise TranslationError(problems)
    return InboundDossier(
        dossier_code=code,
        procedure_code=procedure,
        submitted_at=submitted,
        applicant_name=applicant,
        agency_code=_text(raw, "MaDonVi", problems, limit=MAX_CODE_CHARS),
        document_number=_text(raw, "SoVanBan", problems),
        owner_account_id=_text(raw, "MaDoiTuong", problems, limit=MAX_CODE_CHARS),
        address=address,
        phone=_text(raw, "DienThoai", problems),
        fax=_text(raw, "Fax", problems),
        email=_text(raw, "Email", problems),
        tax_code=_text(raw, "MaSoThue", problems),
        contact_name=_text(raw, "NguoiLienHe", problems),
        contact_phone=_text(raw, "SoDienThoaiNguoiLienHe", problems),
        fields=extra,
        attachments=files,
    )


def _text(
    raw: Mapping[str, Any],
    key: str,
    problems: list[Problem],
    *,
    required: bool = False,
    limit: int = MAX_TEXT_CHARS,
    path: str = "$",
) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            problems.append(Problem(f"{path}.{key}", "is required", "required"))
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.append(Problem(f"{path}.{key}", f"expected text, got {value_shape(value)}"))
        return ""
    if len(value) > limit:
        problems.append(Problem(f"{path}.{key}", f"longer than {limit} characters", "maxLength"))
        return ""
    return value.strip()


def _date(value: object, path: str, problems: list[Problem]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return datetime.strptime(value, PORTAL_DATE).replace(tzinfo=PORTAL_TZ)
        except ValueError:
            pass
    problems.append(Problem(path, f"expected yyyyMMddHHmmss, got {value_shape(value)}"))
    return None


def _address(value: object, problems: list[Problem]) -> Address:
    if value is None or value == "":
        return Address()
    if not isinstance(value, Mapping):
        reason = f"expected an object, got {value_shape(value)}"
        problems.append(Problem("$.DiaChiDoanhNghiep", reason))
        return Address()
    parts = [_text(value, k, problems, path="$.DiaChiDoanhNghiep") for k in _ADDRESS]
    return Address(*parts)


def _attachments(
    raw: Mapping[str, Any], limits: Limits, problems: list[Problem]
) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if raw.get("TepDonDangKy") not in (None, ""):
        form = _file("form", raw, "TenTepDonDangKy", "TepDonDangKy", "$", limits, problems)
        found.extend(form)
    papers = raw.get("TaiLieuNop")
    if papers is not None and not isinstance(papers, list):
        problems.append(Problem("$.TaiLieuNop", f"expected an array, got {value_shape(papers)}"))
    for index, item in enumerate(papers if isinstance(papers, list) else []):
        path = f"$.TaiLieuNop[{index}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(path, f"expected an object, got {value_shape(item)}"))
            continue
        found.extend(_file("paper", item, "TenTepDinhKem", "Base64", path, limits, problems))
    if len(found) > limits.max_attachments:
        problems.append(Problem("$.TaiLieuNop", f"more than {limits.max_attachments} files"))
    total = sum(len(a.content) for a in found)
    if total > limits.max_total_bytes:
        reason = f"attachments larger than {limits.max_total_bytes} bytes together"
        problems.append(Problem("$", reason, "maxSize"))
    return tuple(found)


def _file(
    role: str,
    raw: Mapping[str, Any],
    name_key: str,
    data_key: str,
    path: str,
    limits: Limits,
    problems: list[Problem],
) -> list[Attachment]:
    before = len(problems)
    name = _text(raw, name_key, problems, required=True, limit=255, path=path)
    data = raw.get(data_key)
    if not isinstance(data, str) or not data:
        problems.append(Problem(f"{path}.{data_key}", "is required (Base64)", "required"))
        return []
    # 4 Base64 characters carry 3 bytes: refuse an oversized file before decoding it
    if len(data) * 3 // 4 > limits.max_attachment_bytes + 3:
        reason = f"larger than {limits.max_attachment_bytes} bytes"
        problems.append(Problem(f"{path}.{data_key}", reason, "maxSize"))
        return []
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        problems.append(Problem(f"{path}.{data_key}", "is not valid Base64", "base64"))
        return []
    if len(content) > limits.max_attachment_bytes:
        reason = f"larger than {limits.max_attachment_bytes} bytes"
        problems.append(Problem(f"{path}.{data_key}", reason, "maxSize"))
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in limits.allowed_extensions or extension not in CONTENT_TYPES:
        reason = f"file type {code_shown(extension)} is not accepted"
        problems.append(Problem(f"{path}.{name_key}", reason, "contentType"))
        return []
    content_type, magics = CONTENT_TYPES[extension]
    if not content.startswith(magics):
        reason = f"the content is not a {extension} file"
        problems.append(Problem(f"{path}.{data_key}", reason, "contentType"))
    if len(problems) > before:
        return []
    digest = hashlib.sha256(content).hexdigest()
    return [Attachment(role, name, content_type, content, digest)]


def dossier_to_json(dossier: InboundDossier) -> dict[str, Any]:
    """The stored (and handed-over) JSON form; attachments in Base64 with their digest."""
    return {
        "dossier_code": dossier.dossier_code,
        "procedure_code": dossier.procedure_code,
        "submitted_at": None if dossier.submitted_at is None else dossier.submitted_at.isoformat(),
        "applicant_name": dossier.applicant_name,
        "agency_code": dossier.agency_code,
        "document_number": dossier.document_number,
        "owner_account_id": dossier.owner_account_id,
        "address": {
            "province_code": dossier.address.province_code,
            "district_code": dossier.address.district_code,
            "ward_code": dossier.address.ward_code,
            "detail": dossier.address.detail,
        },
        "phone": dossier.phone,
        "fax": dossier.fax,
        "email": dossier.email,
        "tax_code": dossier.tax_code,
        "contact_name": dossier.contact_name,
        "contact_phone": dossier.contact_phone,
        "fields": dict(dossier.fields),
        "attachments": [
            {
                "role": a.role,
                "name": a.name,
                "content_type": a.content_type,
                "sha256": a.sha256,
                "size": len(a.content),
                "base64": base64.b64encode(a.content).decode("ascii"),
            }
            for a in dossier.attachments
        ],
    }


def dossier_from_json(value: Mapping[str, Any]) -> InboundDossier:
    """Inverse of :func:`dossier_to_json` (the store holds only what it wrote)."""
    address = value.get("address") or {}
    submitted = value.get("submitted_at")
    return InboundDossier(
        dossier_code=value["dossier_code"],
        procedure_code=value["procedure_code"],
        submitted_at=None if submitted is None else datetime.fromisoformat(submitted),
        applicant_name=value["applicant_name"],
        agency_code=value.get("agency_code", ""),
        document_number=value.get("document_number", ""),
        owner_account_id=value.get("owner_account_id", ""),
        address=Address(**address),
        phone=value.get("phone", ""),
        fax=value.get("fax", ""),
        email=value.get("email", ""),
        tax_code=value.get("tax_code", ""),
        contact_name=value.get("contact_name", ""),
        contact_phone=value.get("contact_phone", ""),
        fields=dict(value.get("fields") or {}),
        attachments=tuple(
            Attachment(
                a["role"], a["name"], a["content_type"], base64.b64decode(a["base64"]), a["sha256"]
            )
            for a in value.get("attachments") or ()
        ),
    )


def audit_detail(dossier: InboundDossier, digest: str) -> dict[str, Any]:
    """What the audit log keeps of an inbound dossier: codes, digests and sizes, no person."""
    return {
        "procedure_code": dossier.procedure_code,
        "digest": digest,
        "attachments": [
            {"role": a.role, "content_type": a.content_type, "size": len(a.content),
             "sha256": a.sha256}
            for a in dossier.attachments
        ],
    }  # fmt: skip


# -- what a sink asks the gateway to do -------------------------------------------------------

SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""A table or column name a SQL delivery may use (never quoted from input)."""
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
"""A file name an outbox delivery may use: no folder, no leading dot."""


@dataclass(frozen=True, slots=True)
class HttpDelivery:
    """POST ``body`` to the sink's configured URL (``inbound.sink.http.url``). The gateway adds
    ``Idempotency-Key: <MaHoSo>``: a repeat after a crash must change nothing at the vendor."""

    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SqlRow:
    """One row to insert; ``key`` names the columns that identify it, so a repeat is skipped
    (``ON CONFLICT DO NOTHING`` / ``INSERT IGNORE``: the table needs a unique key on them)."""

    table: str
    values: Mapping[str, object]
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SqlDelivery:
    """Rows inserted in one transaction into the vendor's database (``inbound.sink.sql``)."""

    rows: tuple[SqlRow, ...]


@dataclass(frozen=True, slots=True)
class FileDelivery:
    """A file the vendor's system picks up from the outbox folder (``inbound.sink.outbox``);
    written beside it and renamed into place, so the vendor never sees half a file."""

    name: str
    content: bytes


SinkDelivery = HttpDelivery | SqlDelivery | FileDelivery
