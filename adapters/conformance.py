"""The conformance suite every adapter passes, vendors' and ours: run it with pytest.

Subclass :class:`AdapterConformance` in a test module, say how to build the adapter and give
it sample records (parsed already: the suite itself reads no files)::

    import json
    from pathlib import Path

    from adapters.conformance import AdapterConformance
    from acme_dvc.adapter import AcmeAdapter

    SAMPLES = Path(__file__).parent / "samples.json"

    class TestAcme(AdapterConformance):
        factory = AcmeAdapter
        options = {"agency_code": "000.00.00.H56"}
        samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
        required_fields = ("so_ho_so", "ma_thu_tuc")
        entry_point = "acme"

pytest then runs, for this adapter: the factory accepts the options and rejects an unknown
one with ``ConfigError``; every sample translates to a valid canonical record (it survives
the canonical JSON round trip and, unless ``portal_valid = False``, the DVCQG encoder's
checks); translation is deterministic and leaves its input untouched; Vietnamese text
survives (a field's text is replaced by one with every tone mark and must come out intact);
removing any of ``required_fields`` gives a ``TranslationError`` with field paths; hostile
input (not an object, an empty object, each field removed in turn) gives a
``TranslationError`` or a record, never another exception; and, if ``entry_point`` is set,
the adapter is installed under that name.
"""

from __future__ import annotations

import contextlib
import copy
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from adapters.contract import Adapter, Sink
from gateway.canonical import record_from_json, record_to_json
from gateway.encoders.dvcqg_json import encode_dossier, encode_step
from gateway.errors import ConfigError, TranslationError
from gateway.inbound.model import (
    FILE_NAME,
    SQL_NAME,
    FileDelivery,
    HttpDelivery,
    InboundDossier,
    SinkDelivery,
    SqlDelivery,
    parse_portal_dossier,
)
from gateway.model import Dossier, ProgressStep, Record, Result

VIETNAMESE_TEXT = "Nguyễn Thị Ánh Tuyết, phường Điện Biên, quận Ba Đình: hồ sơ đã được ủy quyền"
"""Every tone mark and the letters ă â đ ê ô ơ ư, upper and lower case (NFC)."""

_MOJIBAKE = ("\ufffd", "Ã", "Æ°", "á»", "Ä‘")


class AdapterConformance:
    """Base class of an adapter's conformance tests (not collected on its own)."""

    factory: ClassVar[Callable[..., Any]]
    """The adapter's factory (usually its class), called with ``options``."""
    options: ClassVar[Mapping[str, Any]] = {}
    samples: ClassVar[Sequence[Any]] = ()
    required_fields: ClassVar[Sequence[str]] = ()
    """Top-level keys of the samples without which a record cannot be translated."""
    portal_valid: ClassVar[bool] = True
    """Whether every sample must also pass the DVCQG encoder's checks."""
    entry_point: ClassVar[str] = ""
    """If set, the adapter must be installed under this name (group dvc_gateway.adapters)."""

    def adapter(self) -> Adapter:
        built: Adapter = type(self).factory(dict(self.options))
        return built

    def translated(self) -> Iterator[tuple[int, Any, Record]]:
        adapter = self.adapter()
        for i, raw in enumerate(self.samples):
            try:
                yield i, raw, adapter.translate(copy.deepcopy(raw))
            except TranslationError as exc:
                pytest.fail(f"sample {i} does not translate: {exc}")

    # -- the adapter and its options ----------------------------------------------------------

    def test_factory_builds_an_adapter(self) -> None:
        adapter = self.adapter()
        assert isinstance(adapter, Adapter), "the factory must return an object with translate()"
        assert isinstance(adapter.name, str), "the adapter needs a name (str)"
        assert adapter.name, "the adapter needs a name (str)"

    def test_unknown_option_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError) as caught:
            type(self).factory({**self.options, "no_such_option_for_conformance": 1})
        assert caught.value.problems, "ConfigError must list its problems"

    def test_installed_under_its_entry_point(self) -> None:
        if not self.entry_point:
            pytest.skip("entry_point is not set on this conformance class")
        from adapters import registry  # noqa: PLC0415 - only this test reads package metadata

        names = {info.name for info in registry.installed()}
        assert self.entry_point in names, f"{self.entry_point!r} not installed (found {names})"
        created = registry.create(self.entry_point, dict(self.options), "conformance")
        assert created.name == self.entry_point

    # -- samples ------------------------------------------------------------------------------

    def test_there_are_samples(self) -> None:
        assert len(self.samples) >= 1, "give the suite at least one sample record"

    def test_samples_translate_to_valid_canonical_records(self) -> None:
        for i, _raw, record in self.translated():
            assert isinstance(record, Dossier | ProgressStep | Result), f"sample {i}: {record!r}"
            assert record_from_json(record_to_json(record)) == record, (
                f"sample {i} does not survive the canonical JSON round trip"
            )
            if self.portal_valid:
                try:
                    if isinstance(record, Dossier):
                        encode_dossier(record)
                    elif isinstance(record, ProgressStep):
                        encode_step(record)
                except TranslationError as exc:
                    pytest.fail(f"sample {i}: the portal would refuse it: {exc}")

    def test_translation_is_deterministic_and_pure(self) -> None:
        first, second = self.adapter(), self.adapter()
        for i, raw in enumerate(self.samples):
            before = copy.deepcopy(raw)
            a = first.translate(raw)
            b = first.translate(raw)
            c = second.translate(copy.deepcopy(raw))
            assert a == b == c, f"sample {i} translates differently on repeated calls"
            assert record_to_json(a) == record_to_json(c), f"sample {i}: canonical forms differ"
            assert raw == before, f"sample {i}: translate() changed its input"

    def test_vietnamese_text_survives(self) -> None:
        adapter = self.adapter()
        replaced = 0
        for i, raw, record in self.translated():
            out = list(_strings(record_to_json(record)))
            for text in out:
                assert not any(m in text for m in _MOJIBAKE), f"sample {i}: mojibake {text!r}"
            if not isinstance(raw, Mapping):
                continue
            for key, value in raw.items():
                if not isinstance(value, str) or len(value) < 3 or not value.isprintable():
                    continue
                if value.isdigit() or not any(value in text for text in out):
                    continue
                if unicodedata.normalize("NFC", value).isascii():
                    continue
                changed = {**copy.deepcopy(raw), key: VIETNAMESE_TEXT}
                result = adapter.translate(changed)
                assert any(VIETNAMESE_TEXT in s for s in _strings(record_to_json(result))), (
                    f"sample {i}: Vietnamese text in {key!r} did not come out intact"
                )
                replaced += 1
        assert replaced, "no sample has Vietnamese text that reaches the canonical record"

    # -- bad input ----------------------------------------------------------------------------

    def test_missing_required_field_is_a_translation_error(self) -> None:
        adapter = self.adapter()
        checked = 0
        for i, raw in enumerate(self.samples):
            for key in self.required_fields:
                if not isinstance(raw, Mapping) or key not in raw:
                    continue
                without = {k: v for k, v in copy.deepcopy(raw).items() if k != key}
                with pytest.raises(TranslationError) as caught:
                    adapter.translate(without)
                paths = [p.path for p in caught.value.problems]
                assert paths, f"sample {i} without {key!r}: the error names no field"
                assert all(p.startswith("$") for p in paths), f"paths must start with $: {paths}"
                checked += 1
        if self.required_fields:
            assert checked, "no sample contains any of required_fields"

    @pytest.mark.parametrize("raw", [None, [], "text", 42, {}], ids=repr)
    def test_hostile_input_is_a_translation_error(self, raw: object) -> None:
        with pytest.raises(TranslationError):
            self.adapter().translate(raw)

    def test_each_field_removed_never_crashes(self) -> None:
        adapter = self.adapter()
        for raw in self.samples:
            if not isinstance(raw, Mapping):
                continue
            for key in raw:
                for broken in (
                    {k: v for k, v in raw.items() if k != key},
                    {**raw, key: None},
                    {**raw, key: {"unexpected": ["shape"]}},
                ):
                    with contextlib.suppress(TranslationError):
                        adapter.translate(copy.deepcopy(broken))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


class SinkConformance:
    """Base class of a sink's conformance tests (not collected on its own)::

        class TestAcmeSink(SinkConformance):
            factory = AcmeSink
            options = {}
            samples = json.loads(SAMPLES.read_text(encoding="utf-8"))  # portal bodies
            entry_point = "acme"

    pytest then checks: the factory accepts the options and rejects an unknown one; every
    sample (a ``createdossierfromdvcqg`` body) renders to a delivery the gateway can carry out
    (plain table, column and file names; SQL rows keyed, with the key among the values);
    rendering is deterministic; the delivery names the dossier, so a repeat after a crash
    lands on the same key, file or ``Idempotency-Key``; Vietnamese text survives; and, if
    ``entry_point`` is set, the sink is installed under that name.
    """

    factory: ClassVar[Callable[..., Any]]
    options: ClassVar[Mapping[str, Any]] = {}
    samples: ClassVar[Sequence[Any]] = ()
    entry_point: ClassVar[str] = ""

    def sink(self) -> Sink:
        built: Sink = type(self).factory(dict(self.options))
        return built

    def rendered(self) -> Iterator[tuple[int, InboundDossier, SinkDelivery]]:
        sink = self.sink()
        for i, raw in enumerate(self.samples):
            try:
                dossier = parse_portal_dossier(copy.deepcopy(raw))
            except TranslationError as exc:
                pytest.fail(f"sample {i} is not a valid portal body: {exc}")
            yield i, dossier, sink.render(dossier)

    def test_factory_builds_a_sink(self) -> None:
        sink = self.sink()
        assert isinstance(sink, Sink), "the factory must return an object with render()"
        assert isinstance(sink.name, str), "the sink needs a name (str)"
        assert sink.name, "the sink needs a name (str)"

    def test_unknown_option_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError):
            type(self).factory({**self.options, "no_such_option_for_conformance": 1})

    def test_installed_under_its_entry_point(self) -> None:
        if not self.entry_point:
            pytest.skip("entry_point is not set on this conformance class")
        from adapters import registry  # noqa: PLC0415 - only this test reads package metadata

        created = registry.create_sink(self.entry_point, dict(self.options), "conformance")
        assert created.name == self.entry_point

    def test_there_are_samples(self) -> None:
        assert len(self.samples) >= 1, "give the suite at least one portal body"

    def test_deliveries_can_be_carried_out_and_name_the_dossier(self) -> None:
        for i, dossier, delivery in self.rendered():
            assert isinstance(delivery, HttpDelivery | SqlDelivery | FileDelivery), f"sample {i}"
            if isinstance(delivery, HttpDelivery):
                assert isinstance(delivery.body, bytes), f"sample {i}: the body must be bytes"
            elif isinstance(delivery, FileDelivery):
                assert FILE_NAME.fullmatch(delivery.name), f"sample {i}: {delivery.name!r}"
                safe = "".join(
                    c if c.isalnum() or c in "._-" else "_" for c in dossier.dossier_code
                )
                assert safe in delivery.name, f"sample {i}: name the file by MaHoSo"
            else:
                assert delivery.rows, f"sample {i}: no rows"
                for row in delivery.rows:
                    names = (row.table, *row.values, *row.key)
                    assert all(SQL_NAME.fullmatch(n) for n in names), f"sample {i}: {names}"
                    assert row.key, f"sample {i}: {row.table} needs a key (idempotency)"
                    assert set(row.key) <= set(row.values), f"sample {i}: key not in values"
                keys = [row.values[k] for row in delivery.rows for k in row.key]
                assert dossier.dossier_code in keys, f"sample {i}: key the rows by MaHoSo"

    def test_rendering_is_deterministic(self) -> None:
        sink = self.sink()
        for i, dossier, delivery in self.rendered():
            assert sink.render(dossier) == delivery, f"sample {i} renders differently twice"

    def test_vietnamese_text_survives(self) -> None:
        sink = self.sink()
        for i, raw in enumerate(self.samples):
            body = {**copy.deepcopy(raw), "TenThuongNhan": VIETNAMESE_TEXT}
            delivery = sink.render(parse_portal_dossier(body))
            if isinstance(delivery, SqlDelivery):
                texts = [v for row in delivery.rows for v in row.values.values()]
                assert VIETNAMESE_TEXT in texts, f"sample {i}: the applicant's name was changed"
            else:
                content = delivery.body if isinstance(delivery, HttpDelivery) else delivery.content
                assert VIETNAMESE_TEXT.encode() in content, f"sample {i}: UTF-8 text changed"
