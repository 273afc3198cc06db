"""Rejection and quarantine reasons in Vietnamese and English: a catalogue keyed by rule.

Reasons are made in English where the problem is found (the canonical reader, the schema
check, the encoders, the contract check). The people who read them at a one-stop desk read
Vietnamese, so each common rule has an entry here: the English wording it is recognised by
and its Vietnamese wording. :func:`localise` words any reason text (one problem or several
joined with ``; ``) in the language asked for; what the catalogue does not know stays in
English. Intake answers in ``intake.language`` and writes both to the audit log.

Pure: data and string functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")


@dataclass(frozen=True, slots=True)
class Message:
    """``english``: a regular expression matching the English reason (named groups are
    carried over); ``vi``: the Vietnamese wording, with ``{group}`` placeholders."""

    english: str
    vi: str


CATALOGUE: dict[str, Message] = {
    "required": Message(r"required field is missing( or empty)?", "thiếu trường bắt buộc"),
    "additionalProperties": Message(
        r"unknown field", "trường không có trong đầu vào chuẩn (sai tên trường?)"
    ),
    "type": Message(
        r"expected (?P<expected>.+?), got (?P<got>[^;()]+?)(?=$|;| \()",
        "sai kiểu dữ liệu: cần {expected}, nhận được {got}",
    ),
    "enum": Message(
        r"(?:rule enum-value: )?(?P<value>'[^']*' |-?[0-9]+ )?(?:is )?not one of "
        r"(?P<allowed>[^;()]+?)(?=$|;| \()",
        "giá trị không thuộc danh mục cho phép ({allowed})",
    ),
    "timestamp": Message(
        r"(?:rule iso-8601: )?(?P<value>'[^']*' )?(?:is )?not an ISO-8601 timestamp",
        "không phải thời điểm ISO-8601 (ví dụ 2026-11-27T08:15:00+07:00)",
    ),
    "integer": Message(r"is not an integer", "không phải số nguyên"),
    "maxLength": Message(r"longer than (?P<limit>[0-9]+) characters", "dài hơn {limit} ký tự"),
    "const": Message(r"must be (?P<value>'[^']*')", "phải là {value}"),
    "agency-prefix": Message(
        r"does not match the dossier_code prefix (?P<prefix>'[^']*')",
        "không khớp với tiền tố {prefix} của mã hồ sơ (dossier_code)",
    ),
    "dvcqg-required": Message(
        r"required by DVCQG and empty", "Cổng DVCQG yêu cầu trường này nhưng đang để trống"
    ),
    "dvcqg-required-status": Message(
        r"required for status (?P<status>[0-9]+)( \(refused\))?",
        "bắt buộc với trạng thái {status}",
    ),
    "agency-empty": Message(
        r"agency code \(MaDinhDanh\) is empty", "mã đơn vị (MaDinhDanh) đang để trống"
    ),
    "no-snapshot": Message(
        r"no dossier snapshot with this code was accepted before",
        "chưa tiếp nhận hồ sơ nào có mã này (gửi bản ghi dossier trước)",
    ),
    "nfc": Message(
        r"text is not NFC-normalised Unicode", "văn bản chưa chuẩn hóa Unicode dạng NFC"
    ),
    "mojibake": Message(
        r"text looks like UTF-8 decoded as Windows-1252 \(mojibake\)",
        "văn bản bị lỗi mã hóa (UTF-8 bị đọc thành Windows-1252)",
    ),
    "contract": Message(
        r"breaks (?P<rule>\w+) (?P<limit>[^;]*?) \(contract rule (?P<path>[^)]*)\)",
        "vi phạm quy tắc {rule} {limit} của Cổng DVCQG (quy tắc {path})",
    ),
    "mapping": Message(
        r"local code (?P<code>'[^']*') is not in the (?P<table>\w+) table: add a line "
        r"(?P<line>'[^']*') to (?P<file>\S+)",
        "mã địa phương {code} chưa có trong bảng ánh xạ {table}: thêm dòng {line} vào {file}",
    ),
    "schema-rule": Message(r"\(schema rule (?P<path>[^)]*)\)", "(quy tắc lược đồ {path})"),
}
"""Rule -> its English and Vietnamese wording. ``schema-rule`` words the suffix every
schema problem carries; the others word the reason itself."""

_TYPE_WORDS = {
    "an integer": "số nguyên",
    "a string": "chuỗi",
    "text": "chuỗi",
    "an object": "đối tượng",
    "an array": "mảng",
    "a number": "số",
    "a boolean": "true/false",
    "true/false": "true/false",
    "null": "null",
    "an ISO-8601 timestamp": "thời điểm ISO-8601",
}


def _word(text: str) -> str:
    parts = [p.strip() for p in text.split(" or ")]
    return " hoặc ".join(_TYPE_WORDS.get(p, p) for p in parts)


def _vi(rule: str, match: re.Match[str]) -> str:
    groups = {k: (v or "").strip() for k, v in match.groupdict().items()}
    if rule == "type":
        groups = {k: _word(v) for k, v in groups.items()}
    return CATALOGUE[rule].vi.format(**groups)


_COMPILED = [(rule, re.compile(m.english)) for rule, m in CATALOGUE.items()]


def rule_of(reason: str) -> str:
    """The catalogue rule a reason is worded by, or ``""`` when it knows none."""
    for rule, pattern in _COMPILED:
        if rule != "schema-rule" and pattern.search(reason):
            return rule
    return ""


def localise(reason: str, language: Language) -> str:
    """``reason`` worded in ``language``; parts the catalogue does not know stay English."""
    if language == "en" or not reason:
        return reason
    text = reason
    for rule, pattern in _COMPILED:
        text = pattern.sub(lambda m, rule=rule: _vi(rule, m), text)  # type: ignore[misc]
    return text


def both(reason: str) -> dict[str, str]:
    """The reason in every language, for the audit log: ``{"en": ..., "vi": ...}``."""
    return {language: localise(reason, language) for language in LANGUAGES}
