"""What a status change of a portal-hosted dossier says, whichever source reported it.

A local system reports a status change as it reports any other: a dossier snapshot or a
progress step through a source. When its ``MaHoSo`` is a portal-hosted dossier (one the
portal pushed down, spec dvcqg §2.4), the store queues it as a ``report`` job carrying
:func:`report_payload` instead of sending ``DongBoHoSoMC``; the report worker sends it with
``DongBoTrangThaiHoSo`` (:mod:`gateway.encoders.status_report`).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from gateway.model import Dossier, ProgressStep


def report_payload(record: Dossier | ProgressStep) -> dict[str, Any] | None:
    """The canonical status report of a record, or None when it has no date to report: a
    snapshot reports the date of its status (``NgayTra`` for 10, ``NgayKetThucXuLy`` for 9,
    else ``NgayTiepNhan``), a step its ``ThoiDiemXuLy``."""
    if isinstance(record, ProgressStep):
        return {
            "dossier_code": record.dossier_code,
            "agency_code": record.agency_code,
            "status": int(record.status),
            "handled_at": record.handled_at.isoformat(),
            "content": record.action,
            "local_code": "",
            "owner_account_id": "",
            "documents": [],
        }
    # the date of the status the snapshot reports: returned (10), finished (9), else received
    by_status = {10: record.returned_at, 9: record.processing_finished_at}
    handled = by_status.get(int(record.status)) or record.received_at
    if handled is None:
        return None
    return {
        "dossier_code": record.dossier_code,
        "agency_code": record.agency_code,
        "status": int(record.status),
        "handled_at": handled.isoformat(),
        "content": record.return_info or record.note,
        "local_code": record.receipt_number,
        "owner_account_id": record.owner_account_id,
        "documents": [
            {
                "file_id": d.file_id,
                "file_name": d.file_name,
                "download_url": d.download_url,
                "component_code": d.component_code,
                "deleted": d.deleted,
            }
            for d in record.documents
        ],
    }
