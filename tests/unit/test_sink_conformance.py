"""The reference sinks pass the conformance suite a vendor's sink runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.conformance import SinkConformance
from adapters.sinks import JsonHttpSink, OutboxFileSink, SqlRowsSink
from gateway.inbound.model import FileDelivery, InboundDossier, SqlDelivery
from tests.inbound_factories import portal_body

SAMPLES = [portal_body("G22.38-261127-00001"), portal_body("G22.38/261127 00002", TaiLieuNop=[])]


class TestHttpSink(SinkConformance):
    factory = JsonHttpSink
    samples = SAMPLES
    entry_point = "http"


class TestSqlSink(SinkConformance):
    factory = SqlRowsSink
    samples = SAMPLES
    entry_point = "sql"


class TestOutboxSink(SinkConformance):
    factory = OutboxFileSink
    samples = SAMPLES
    entry_point = "outbox"


class _Unkeyed(SqlRowsSink):
    """Rows without a key: a repeat after a crash would insert the dossier twice."""

    def render(self, dossier: InboundDossier) -> SqlDelivery:
        rows = super().render(dossier).rows
        return SqlDelivery(tuple(replace(row, key=()) for row in rows))


class _Shouting(OutboxFileSink):
    """Upper-cases the applicant's name: Vietnamese text does not survive."""

    def render(self, dossier: InboundDossier) -> FileDelivery:
        return super().render(replace(dossier, applicant_name=dossier.applicant_name.upper()))


def test_the_suite_catches_an_unkeyed_row_and_mangled_text() -> None:
    class Unkeyed(SinkConformance):
        factory = _Unkeyed
        samples = SAMPLES

    class Shouting(SinkConformance):
        factory = _Shouting
        samples = SAMPLES

    with pytest.raises(AssertionError, match="needs a key"):
        Unkeyed().test_deliveries_can_be_carried_out_and_name_the_dossier()
    with pytest.raises(AssertionError, match="UTF-8 text changed"):
        Shouting().test_vietnamese_text_survives()
