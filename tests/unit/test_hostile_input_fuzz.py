"""Fuzzing the readers every source uses (issue 12): whatever bytes arrive, the strict JSON
reader and the drop-file parsers raise only their own error; whatever values a record holds,
translation ends in a record or a rejection with field paths; a record that passes the input
rules never breaks the encoder (the year-1 date used to raise OverflowError inside the store
transaction). Bounded examples, so the whole file runs in seconds (``DVCGW_FUZZ_EXAMPLES``
raises the budget)."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.canonical import CanonicalAdapter
from gateway.canonical import DEFAULT_RULES, record_from_json, record_to_json
from gateway.encoders.dvcqg_json import encode_dossier, encode_step
from gateway.errors import TranslationError
from gateway.model import Dossier, ProgressStep
from gateway.sources import strict_json
from gateway.sources.file_formats import FileFormatError, parse_records
from gateway.sources.pulling import translate_batch
from gateway.sources.strict_json import StrictJsonError
from gateway.store.contract import Incoming, Rejected
from tests.factories import dossier, step

EXAMPLES = int(os.environ.get("DVCGW_FUZZ_EXAMPLES", "150"))
"""Examples per property; ``DVCGW_FUZZ_EXAMPLES=5000`` for a long run."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = '[]{}":,\\0123456789.eE+-tfn \x00\r\n\u202e\u2066\ud800²٣\ufeff'
"""Characters that break JSON readers and record checks, beside ordinary ones."""

hostile_text = st.text(alphabet=st.sampled_from(HOSTILE) | st.characters(), max_size=60)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

field_values = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+07:00",
            "9999-12-31T23:59:59-07:00",
            "1989-12-31T23:59:59",
            "2101-01-01T00:00:00",
            "²",
            "../../etc/passwd",
            "000.00.00.H56-261127-00001\r\n",
        ]
    ),
)


@FUZZ
@given(st.binary(max_size=200) | hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_the_strict_reader_raises_only_its_own_error(data: bytes) -> None:
    rule = ""
    try:
        strict_json.loads(data, max_depth=8)
    except StrictJsonError as exc:
        rule = exc.rule
    assert rule in {"", "depth", "duplicate-key", "non-finite-number", "number-too-long",
                    "syntax", "encoding"}  # fmt: skip


@FUZZ
@given(json_values)
def test_the_strict_reader_reads_what_the_standard_reader_reads(value: Any) -> None:
    text = json.dumps(value)
    assert strict_json.loads(text, max_depth=100) == json.loads(text)


@FUZZ
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", '{"a":']))
def test_any_depth_is_refused_or_read_never_a_recursion_error(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + closer * depth
    rule = ""
    try:
        strict_json.loads(text, max_depth=64)
    except StrictJsonError as exc:
        rule = exc.rule
    assert rule == ("depth" if depth > 64 else "")


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["json", "ndjson", "csv", "xml"]))
def test_drop_file_parsers_raise_only_a_file_format_error(data: bytes, fmt: str) -> None:
    try:
        records = parse_records(data, fmt, max_records=50, max_depth=8)
    except FileFormatError:
        return
    assert isinstance(records, list)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(record_to_json(dossier()))), field_values))
def test_a_record_is_translated_or_rejected_with_paths_and_the_encoder_never_breaks(
    changes: dict[str, Any],
) -> None:
    raw = {**record_to_json(dossier()), **changes}
    items, rejected = translate_batch("fuzz", CanonicalAdapter({}), [raw])
    assert len(items) == 1
    item = items[0]
    if isinstance(item, Rejected):
        assert rejected[0].problems
        assert all(p.path.startswith("$") for p in rejected[0].problems)
        return
    assert isinstance(item, Incoming)
    record = item.record
    with contextlib.suppress(TranslationError):  # quarantined by the store: not a crash
        if isinstance(record, Dossier):
            encode_dossier(record)
        elif isinstance(record, ProgressStep):
            encode_step(record)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(record_to_json(step("X")))), field_values))
def test_a_step_passing_the_rules_encodes(changes: dict[str, Any]) -> None:
    raw = {**record_to_json(step("000.00.00.H56-261127-00001")), **changes}
    problems = []
    try:
        record = DEFAULT_RULES.check(record_from_json(raw))
    except TranslationError as exc:
        problems = exc.problems
    if problems:
        assert all(p.path.startswith("$") for p in problems)
        return
    assert isinstance(record, ProgressStep)
    with contextlib.suppress(TranslationError):  # quarantined by the store: not a crash
        encode_step(record)
