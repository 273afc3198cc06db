"""Reference adapter for OpenCPS v2 (the open-source one-stop system, VietOpenCPS/opencps-v2).

It reads the two records OpenCPS keeps (``docs/spec/opencps.md``):

- a **dossier** (``opencps_dossier`` row, or ``GET /o/rest/v2/dossiers/{id}`` JSON) becomes a
  :class:`~gateway.model.Dossier` snapshot, with its ``files`` (DossierFile items) as submitted
  and result documents;
- an **action** (``opencps_dossieraction`` row joined with its dossier's ``dossierNo`` and
  ``govAgencyCode``, and with the ``dossierStatus`` of the step it reached) becomes a
  :class:`~gateway.model.ProgressStep`. A record is an action when it has ``actionCode`` or
  ``dossierActionId``.

Status keys (``dossierSubStatus`` first, then ``dossierStatus``) map to DVCQG codes through
``status_map``, data the gateway passes in (opencps §3.2: OpenCPS keeps the same table,
``DossierStatusMapping``, per site). The default is the published table for OpenCPS-style keys
(spec §6.1, opencps §3.1); a key mapped to 0, or not mapped, is not sent to the portal
and the record is rejected with that reason. Dates are read as OpenCPS writes them:
``dd/MM/yyyy HH:mm:ss``, epoch milliseconds (0 = none), ``...'Z'`` strings that are really
local time, or database ``datetime`` values (``naive_timezone``, since Liferay usually runs
its JVM in GMT [I]). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from adapters.fields import FieldReader
from adapters.options import parse_options
from gateway.errors import ConfigError, Problem, TranslationError, code_shown
from gateway.model import (
    PORTAL_TZ,
    ApplicantType,
    Channel,
    DeliveryForm,
    Dossier,
    DossierStatus,
    IdentifierKind,
    OwnerIdentifier,
    ProgressStep,
    Record,
    ResultDocument,
    SubmittedDocument,
)

DEFAULT_STATUS_MAP: Mapping[str, int] = {
    "receiving": 1,
    "new": 2,
    "denied": 3,
    "processing": 4,
    "waiting": 5,
    "paying": 6,
    "cancelled": 7,
    "unresolved": 8,
    "releasing": 9,
    "done": 10,
    "interoperating": 0,
    "posting": 0,
}
"""``dossierStatus`` key -> ``TrangThaiHoSo``; 0 = not sent (spec §6.1, [C1])."""

RESULT_PART_TYPE = 2
"""``dossierPartType`` of an output (result) document (opencps §2.6)."""

_APPLICANT_TYPES = {
    "citizen": ApplicantType.CITIZEN,
    "business": ApplicantType.BUSINESS,
    "organization": ApplicantType.ORGANISATION,
}


@dataclass(frozen=True, slots=True)
class OpenCpsOptions:
    """The ``options`` of an ``opencps`` source."""

    status_map: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    """Status or sub-status key -> DVCQG code 1-10 (0 = do not send). Replaces the default."""
    agency_codes: Mapping[str, str] = field(default_factory=dict)
    """Local ``govAgencyCode`` -> DVCQG ``MaDinhDanh``; an unmapped code is sent as it is."""
    procedure_codes: Mapping[str, str] = field(default_factory=dict)
    """Local ``serviceCode`` -> DVCQG ``MaTTHC`` (OpenCPS's ServiceInfoMapping)."""
    file_url_base: str = ""
    """e.g. ``https://motcua.example.gov.vn``: files are ``{base}/o/rest/v2/dossiers/{id}/files/
    {referenceUid}``. Without it, files are not sent."""
    owner_field: Literal["contactName", "applicantName"] = "contactName"
    """Which field is ChuHoSo: OpenCPS itself sends ``contactName``."""
    naive_timezone: Literal["Asia/Ho_Chi_Minh", "UTC"] = "Asia/Ho_Chi_Minh"
    """Zone of dates without one: REST strings are local time; raw DB values may be UTC [I]."""
    skip_derived: bool = True
    """Reject derived inter-agency copies (``originDossierNo`` set): OpenCPS never sends them."""


class OpenCpsAdapter:
    """OpenCPS dossiers and actions -> canonical dossiers and progress steps."""

    name = "opencps"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = parse_options(OpenCpsOptions, options)
        bad = [
            Problem(f"status_map.{key}", "must be 0 (not sent) or a DVCQG status 1-10")
            for key, code in self.options.status_map.items()
            if not 0 <= code <= 10
        ]
        if self.options.file_url_base and not self.options.file_url_base.startswith(
            ("http://", "https://")
        ):
            bad.append(Problem("file_url_base", "must start with http:// or https://"))
        if bad:
            raise ConfigError(bad)
        self._tz = UTC if self.options.naive_timezone == "UTC" else PORTAL_TZ

    def translate(self, raw: object) -> Record:
        if isinstance(raw, Mapping) and ("actionCode" in raw or "dossierActionId" in raw):
            return self._action(raw)
        return self._dossier(raw)

    # -- dossiers ---------------------------------------------------------------------------

    def _reader(self, raw: object) -> FieldReader:
        if isinstance(raw, Mapping):
            raw = {k: _local_z(v) for k, v in raw.items()}
        return FieldReader(raw, naive_tz=self._tz)

    def _dossier(self, raw: object) -> Dossier:
        r = self._reader(raw)
        if self.options.skip_derived and r.present("originDossierNo"):
            raise TranslationError.at(
                r.at("originDossierNo"), "a derived inter-agency copy: only the origin is sent"
            )
        status = self._status(r)
        received = r.date("receiveDate")
        finished = r.date("finishDate")
        owner = r.text(self.options.owner_field) or r.text("applicantName")
        if not owner:
            r.fail(self.options.owner_field, "required field is missing or empty")
        documents, results = self._files(r)
        dossier = Dossier(
            dossier_code=r.text("dossierNo", required=True),
            agency_code=self._agency(r),
            procedure_code=self._procedure(r),
            status=status,
            received_at=received,
            due_at=r.date("dueDate"),
            owner_name=owner,
            applicant_type=_APPLICANT_TYPES.get(
                r.text("applicantIdType").lower(), ApplicantType.CITIZEN
            ),
            procedure_name=r.text("serviceName"),
            field_code=r.text("domainCode"),
            field_name=r.text("domainName"),
            channel=_channel(r),
            receipt_number=r.text("dossierCounter"),
            email=r.text("contactEmail"),
            phone=r.text("contactTelNo"),
            summary=r.text("dossierName") or r.text("briefNote"),
            returned_at=finished,
            delivery_form=_delivery_form(r),
            processing_finished_at=r.date("releaseDate"),
            handling_agency_name=r.text("govAgencyName"),
            documents=documents,
            result_documents=results,
            owner_id_number=r.text("applicantIdNo"),
            owner_identifiers=_identifiers(r),
            refused_at=finished if status is DossierStatus.REFUSED else None,
            submitted_at=r.date("submitDate"),
        )
        r.finish()
        return dossier

    def _files(
        self, r: FieldReader
    ) -> tuple[tuple[SubmittedDocument, ...], tuple[ResultDocument, ...]]:
        files = r.raw.get("files") or []
        if not isinstance(files, list):
            r.fail("files", "expected an array of DossierFile objects")
            return (), ()
        if not self.options.file_url_base:
            return (), ()
        dossier_id = r.text("dossierId", required=True)
        documents: list[SubmittedDocument] = []
        results: list[ResultDocument] = []
        for i, item in enumerate(files):
            f = FieldReader(item, path=f"{r.path}.files[{i}]", naive_tz=self._tz)
            if f.flag("removed") or (f.present("fileEntryId") and f.integer("fileEntryId") == 0):
                continue
            ref = f.text("referenceUid", required=True)
            base = self.options.file_url_base.rstrip("/")
            url = f"{base}/o/rest/v2/dossiers/{dossier_id}/files/{ref}"
            file_id = f.text("dossierFileId", required=True)
            name = f.text("displayName", required=True)
            part_no = f.text("dossierPartNo")
            if f.integer("dossierPartType") == RESULT_PART_TYPE:
                results.append(ResultDocument(name, file_id, url, component_code=part_no))
            else:
                documents.append(SubmittedDocument(file_id, name, url, component_code=part_no))
            r.problems.extend(f.problems)
        return tuple(documents), tuple(results)

    # -- actions ----------------------------------------------------------------------------

    def _action(self, raw: Mapping[str, Any]) -> ProgressStep:
        r = self._reader(raw)
        if r.integer("state") == 2:
            raise TranslationError.at(
                r.at("state"), "a rolled-back action is not a processing step"
            )
        name, note = r.text("actionName"), r.text("actionNote")
        action = " - ".join(part for part in (name, note) if part)
        if not action:
            r.fail("actionName", "an action needs actionName or actionNote")
        step = ProgressStep(
            dossier_code=r.text("dossierNo", required=True),
            agency_code=self._agency(r),
            handler=r.text("actionUser", required=True),
            handled_at=r.date("createDate", required=True) or _EPOCH,
            action=action,
            status=self._status(r),
            title=r.text("jobPosName"),
            department=r.text("sequenceRole"),
            deadline_at=r.date("dueDate"),
        )
        r.finish()
        return step

    # -- shared -----------------------------------------------------------------------------

    def _status(self, r: FieldReader) -> DossierStatus:
        sub, key = r.text("dossierSubStatus"), r.text("dossierStatus", required=True)
        mapping = self.options.status_map
        chosen = sub if sub in mapping else key
        code = mapping.get(chosen)
        if code is None:
            if key:
                reason = f"{code_shown(key)} is not in status_map: add it to the options"
                r.fail("dossierStatus", reason)
            return DossierStatus.SUBMITTED
        if code == 0:
            r.finish()
            reason = f"{code_shown(chosen)} is not sent to DVCQG (status_map says 0)"
            raise TranslationError.at(r.at("dossierStatus"), reason)
        return DossierStatus(code)

    def _agency(self, r: FieldReader) -> str:
        local = r.text("govAgencyCode", required=True)
        return self.options.agency_codes.get(local, local)

    def _procedure(self, r: FieldReader) -> str:
        local = r.text("serviceCode", required=True)
        return self.options.procedure_codes.get(local, local)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Placeholder while a required date is missing; the reader raises before it is used."""


def _local_z(value: Any) -> Any:
    """OpenCPS writes ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` in local time: the Z is a literal."""
    if isinstance(value, str) and len(value) == 24 and value.endswith("Z") and value[10] == "T":
        return value[:-1]
    return value


def _delivery_form(r: FieldReader) -> DeliveryForm:
    """``viaPostal`` 2 = the result goes by post; 0 and 1 = collected at the desk."""
    return DeliveryForm.BY_POST if r.text("viaPostal") == "2" else DeliveryForm.AT_DESK


def _channel(r: FieldReader) -> Channel:
    if r.flag("online") or r.integer("originality") == 1:
        return Channel.ONLINE
    if r.integer("fromViaPostal"):
        return Channel.POSTAL
    return Channel.AT_DESK


def _identifiers(r: FieldReader) -> tuple[OwnerIdentifier, ...]:
    number = r.text("applicantIdNo")
    if r.text("applicantIdType", default="citizen") != "citizen" or not number.isdigit():
        return ()
    kinds = {12: IdentifierKind.CCCD, 9: IdentifierKind.CMND}
    kind = kinds.get(len(number))
    return (OwnerIdentifier(kind, number),) if kind else ()
