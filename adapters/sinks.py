"""The reference sinks: a dossier filed on the national portal, as JSON over HTTP, as rows in
the vendor's database, or as a file in an outbox folder.

Each is a few lines, as a vendor's own sink would be; the gateway does the I/O
(:mod:`gateway.inbound.transports`). A vendor copies the one closest to their system and
renames the fields (``dvc-gateway adapters new`` starts one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.options import parse_options
from gateway.inbound.model import (
    FileDelivery,
    HttpDelivery,
    InboundDossier,
    SqlDelivery,
    SqlRow,
    dossier_to_json,
)


def _json(dossier: InboundDossier) -> bytes:
    return json.dumps(dossier_to_json(dossier), ensure_ascii=False, sort_keys=True).encode()


class JsonHttpSink:
    """POSTs the canonical JSON of the dossier (attachments in Base64) to the vendor's URL."""

    name = "http"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        parse_options(_NoOptions, options)

    def render(self, dossier: InboundDossier) -> HttpDelivery:
        return HttpDelivery(_json(dossier))


@dataclass(frozen=True, slots=True)
class SqlOptions:
    dossier_table: str = "dvc_inbound_dossier"
    attachment_table: str = "dvc_inbound_attachment"


class SqlRowsSink:
    """One row per dossier and one per attachment, keyed by ``MaHoSo`` (and the file's
    position), in the vendor's database. The tables are the vendor's; see the vendor guide for
    their definition."""

    name = "sql"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(SqlOptions, options)

    def render(self, dossier: InboundDossier) -> SqlDelivery:
        code = dossier.dossier_code
        head = SqlRow(
            self.options.dossier_table,
            {
                "ma_ho_so": code,
                "ma_tthc": dossier.procedure_code,
                "ngay_nop": dossier.submitted_at,
                "nguoi_nop": dossier.applicant_name,
                "ma_so_thue": dossier.tax_code,
                "dien_thoai": dossier.phone,
                "email": dossier.email,
                "noi_dung": json.dumps(dict(dossier.fields), ensure_ascii=False, sort_keys=True),
            },
            key=("ma_ho_so",),
        )
        files = tuple(
            SqlRow(
                self.options.attachment_table,
                {
                    "ma_ho_so": code,
                    "thu_tu": index,
                    "vai_tro": a.role,
                    "ten_tep": a.name,
                    "loai_tep": a.content_type,
                    "sha256": a.sha256,
                    "noi_dung": a.content,
                },
                key=("ma_ho_so", "thu_tu"),
            )
            for index, a in enumerate(dossier.attachments)
        )
        return SqlDelivery((head, *files))


class OutboxFileSink:
    """``<MaHoSo>.json`` in the outbox folder: the canonical JSON, attachments in Base64."""

    name = "outbox"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        parse_options(_NoOptions, options)

    def render(self, dossier: InboundDossier) -> FileDelivery:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in dossier.dossier_code)
        return FileDelivery(f"{safe}.json", _json(dossier))


@dataclass(frozen=True, slots=True)
class _NoOptions:
    pass


SQL_TABLES = {
    "postgresql": """
CREATE TABLE dvc_inbound_dossier (
    ma_ho_so   TEXT PRIMARY KEY,
    ma_tthc    TEXT NOT NULL,
    ngay_nop   TIMESTAMPTZ,
    nguoi_nop  TEXT NOT NULL,
    ma_so_thue TEXT,
    dien_thoai TEXT,
    email      TEXT,
    noi_dung   TEXT
);
CREATE TABLE dvc_inbound_attachment (
    ma_ho_so TEXT NOT NULL REFERENCES dvc_inbound_dossier (ma_ho_so),
    thu_tu   INTEGER NOT NULL,
    vai_tro  TEXT NOT NULL,
    ten_tep  TEXT NOT NULL,
    loai_tep TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    noi_dung BYTEA NOT NULL,
    PRIMARY KEY (ma_ho_so, thu_tu)
);
""",
    "mysql": """
CREATE TABLE dvc_inbound_dossier (
    ma_ho_so   VARCHAR(100) PRIMARY KEY,
    ma_tthc    VARCHAR(100) NOT NULL,
    ngay_nop   DATETIME NULL,
    nguoi_nop  VARCHAR(2000) NOT NULL,
    ma_so_thue VARCHAR(100),
    dien_thoai VARCHAR(100),
    email      VARCHAR(500),
    noi_dung   LONGTEXT
) CHARACTER SET utf8mb4;
CREATE TABLE dvc_inbound_attachment (
    ma_ho_so VARCHAR(100) NOT NULL,
    thu_tu   INT NOT NULL,
    vai_tro  VARCHAR(20) NOT NULL,
    ten_tep  VARCHAR(255) NOT NULL,
    loai_tep VARCHAR(200) NOT NULL,
    sha256   CHAR(64) NOT NULL,
    noi_dung LONGBLOB NOT NULL,
    PRIMARY KEY (ma_ho_so, thu_tu)
) CHARACTER SET utf8mb4;
""",
}
"""The tables :class:`SqlRowsSink` writes into, as a vendor creates them (the vendor guide)."""
