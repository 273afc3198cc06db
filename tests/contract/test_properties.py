"""Properties: any valid canonical record encodes to a message its contract accepts, and
SOAP encoding then decoding returns the same values (checked by zeep and, independently, by
xmlschema against the XSD)."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contracts
from gateway.encoders import xroad_soap
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope
from gateway.encoders.wsdl import SOAP_ENV, codec, parse_xml
from gateway.model import (
    PORTAL_TZ,
    ApplicantType,
    Channel,
    DeliveryForm,
    Dossier,
    DossierStatus,
    Fee,
    IdentifierKind,
    OnlinePayment,
    OtherPaper,
    OwnerIdentifier,
    ProgressStep,
    ResultDocument,
    SubmittedDocument,
    Supplement,
)
from gateway.simulator.contracts import body_schema

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

_VOWELS = "aăâeêioôơuưy"
_MARKS = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
VIETNAMESE = "".join(
    unicodedata.normalize("NFC", v + m) for v in _VOWELS + _VOWELS.upper() for m in _MARKS
)
ALPHABET = VIETNAMESE + "bcdđghklmnpqrstvxBCDĐGHKLMNPQRSTVX0123456789 .,-()/"

words = st.text(alphabet=ALPHABET, min_size=1, max_size=30).filter(lambda s: s.strip() != "")
maybe_nfd = st.builds(
    lambda text, nfd: unicodedata.normalize("NFD", text) if nfd else text, words, st.booleans()
)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(PORTAL_TZ)
)
urls = st.builds(lambda p: f"https://motcua.example.gov.vn/files/{p}.pdf", st.uuids())
documents = st.builds(
    SubmittedDocument, file_id=words, file_name=words, download_url=urls, deleted=st.booleans(),
    digitised=st.booleans(), from_personal_store=st.booleans(),
)  # fmt: skip
fees = st.builds(Fee, name=words, amount_vnd=st.integers(0, 10_000_000))
papers = st.builds(OtherPaper, name=words, quantity=st.integers(1, 9), paper_type=st.integers(0, 3))
results = st.builds(ResultDocument, name=words, document_id=words, download_url=urls)
supplements = st.builds(
    Supplement, supplement_id=words, requested_by=words, content=words, requested_at=moments,
    received_at=st.none() | moments, completed=st.booleans(), documents=st.lists(documents,
    max_size=2).map(tuple), fees=st.lists(fees, max_size=1).map(tuple),
)  # fmt: skip
identifiers = st.one_of(
    st.builds(OwnerIdentifier, st.just(IdentifierKind.CCCD), st.from_regex(r"\A[0-9]{12}\Z")),
    st.builds(OwnerIdentifier, st.just(IdentifierKind.CMND), st.from_regex(r"\A[0-9]{9}\Z")),
)


@st.composite
def portal_dossiers(draw: st.DrawFn) -> Dossier:
    """Dossiers the portal accepts: dates present as the status requires."""
    status = draw(st.sampled_from(DossierStatus))
    received = None if status is DossierStatus.SUBMITTED else draw(moments)
    no_due = status in (DossierStatus.SUBMITTED, DossierStatus.REFUSED)
    due = None if no_due else draw(moments)
    return Dossier(
        dossier_code=draw(st.from_regex(r"\A000\.00\.00\.H56-26[01][0-9]{3}-[0-9]{5}\Z")),
        agency_code="000.00.00.H56",
        procedure_code=draw(st.sampled_from(["1.001193", "2.000477", "1.004227"])),
        status=status,
        received_at=received,
        due_at=due,
        owner_name=draw(maybe_nfd),
        applicant_type=draw(st.sampled_from(ApplicantType)),
        procedure_name=draw(words),
        field_code="G15-TP07",
        field_name=draw(words),
        channel=draw(st.none() | st.sampled_from(Channel)),
        summary=draw(maybe_nfd),
        handling_agency_name=draw(words),
        delivery_form=draw(st.sampled_from(DeliveryForm)),
        online_payment=draw(st.sampled_from(OnlinePayment)),
        refused_at=draw(moments) if status is DossierStatus.REFUSED else None,
        returned_at=draw(st.none() | moments),
        documents=tuple(draw(st.lists(documents, max_size=2))),
        fees=tuple(draw(st.lists(fees, max_size=2))),
        other_papers=tuple(draw(st.lists(papers, max_size=1))),
        supplements=tuple(draw(st.lists(supplements, max_size=1))),
        result_documents=tuple(draw(st.lists(results, max_size=1))),
        owner_identifiers=tuple(draw(st.lists(identifiers, max_size=2))),
        databases_consulted=tuple(draw(st.lists(st.sampled_from(["1", "7"]), max_size=1))),
    )


steps = st.builds(
    ProgressStep, dossier_code=words, agency_code=st.just("000.00.00.H56"),
    handler=words, handled_at=moments, action=maybe_nfd, status=st.sampled_from(DossierStatus),
    title=words, started_at=st.none() | moments,
    deadline_at=st.none() | moments.map(lambda m: m + timedelta(days=1)),
)  # fmt: skip


def dossier_body(d: Dossier, session: str = "s") -> dict[str, Any]:
    return envelope(session=session, agency_code=d.agency_code, service="DongBoHoSoMC",
                    data=[encode_dossier(d)], updating=False)  # fmt: skip


@FAST
@given(portal_dossiers())
def test_any_valid_dossier_encodes_to_a_message_its_contract_accepts(d: Dossier) -> None:
    check_message("DongBoHoSoMC.request", dossier_body(d))


@FAST
@given(steps)
def test_any_valid_step_encodes_to_a_message_its_contract_accepts(s: ProgressStep) -> None:
    body = envelope(session="s", agency_code=s.agency_code, service="CapNhatTienDoHoSoMC",
                    data=[encode_step(s)], updating=None)  # fmt: skip
    check_message("CapNhatTienDoHoSoMC.request", body)


MEMBER = xroad_soap.XRoadMember("VN", "GOV", "000.00.00.H56", "motcua")
PROVIDER = xroad_soap.XRoadMember("VN", "GOV", "000.00.00.G22", "vpcpdvcprovider")


def soap_round_trip(body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    headers = xroad_soap.headers(
        client=MEMBER, provider=PROVIDER, operation=str(body["service"]), message_id="m-1"
    )
    raw = codec().build(xroad_soap.message(body, header_values=headers))
    root = parse_xml(raw)
    wrapper = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
    return codec().parse_body(wrapper), wrapper


@FAST
@given(portal_dossiers())
def test_soap_encoding_then_decoding_returns_the_same_values(d: Dossier) -> None:
    body = dossier_body(d)
    decoded, wrapper = soap_round_trip(body)
    assert decoded["madonvi"] == body["madonvi"]
    assert decoded["isUpdating"] == body["isUpdating"]
    assert decoded["data"] == body["data"]
    body_schema().validate(wrapper)  # the independent validator agrees


@FAST
@given(steps)
def test_soap_round_trip_of_steps(s: ProgressStep) -> None:
    body = envelope(session="s", agency_code=s.agency_code, service="CapNhatTienDoHoSoMC",
                    data=[encode_step(s)], updating=None)  # fmt: skip
    decoded, wrapper = soap_round_trip(body)
    assert decoded["data"] == body["data"]
    body_schema().validate(wrapper)


def test_the_wsdl_is_the_one_in_contracts() -> None:
    assert contracts.wsdl_path().name == "dvcqg-v1.wsdl"
