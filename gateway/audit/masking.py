"""The one place personal data is masked, for logs and for the audit log alike.

What is masked, wherever it appears in a string:

- e-mail addresses;
- Vietnamese phone numbers: ``0``, ``84`` or ``+84`` followed by nine digits, with or without
  spaces or dots between them (``0912345678``, ``+84 912 345 678``, ``091.234.5678``);
- 12-digit citizen identity numbers (CCCD) and 9-digit identity card numbers (CMND): any run
  of exactly 12 or 9 digits.

Values under keys that name personal data (``Email``, ``SoDienThoai``, ``SoCMND``,
``DinhDanhCHS``, ``phone``, ..., plus ``audit.personal_fields`` such as the owner's name
``ChuHoSo``) are masked whole, whatever their format, and secrets (``password``,
``session``, ``token``) are replaced by ``<redacted>``.

Messages sent to the portal are masked by field as well (:func:`mask_fields` for JSON,
:func:`mask_xml` for SOAP): the encoders name the wire fields that carry personal data
(``gateway.encoders.dvcqg_json.PERSONAL_FIELDS``: the owner, contacts, identifiers, people's
names, free text such as ``TrichYeuHoSo``), the routes pass those names with the bytes they
send, and each of those fields is masked whole. A name inside a free-text summary has no
pattern a text rule could find; its field does.

A masked value becomes ``<kind>`` or, when a key is configured, ``<kind:tag>``: ``tag`` is a
keyed hash (HMAC-SHA256) of the value, written with the letters a-p only, so two entries about
the same citizen can be joined without the value, and masking a masked text changes nothing.
The key comes from the environment (``audit.hash_key_env``); :func:`set_hash_key` installs it
once at start.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from lxml import etree

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"(?<![\d+])(?:\+84|84|0)(?:[ .]?\d){9}(?!\d)")
_CCCD = re.compile(r"(?<!\d)\d{12}(?!\d)")
_CMND = re.compile(r"(?<!\d)\d{9}(?!\d)")
_PATTERNS = (("email", _EMAIL), ("phone", _PHONE), ("cccd", _CCCD), ("cmnd", _CMND))

_PERSONAL_KEY = re.compile(
    r"(?i)^(e-?mail|phone|sodienthoai|dienthoai|socmnd|socccd|cmnd|cccd|sogiayto\w*|"
    r"owner_id_number|owner_identifiers|dinhdanhchs|sodinhdanh|madinhdanhcongdan)$"
)
_SECRET_KEY = re.compile(r"(?i)^(password|passwd|session|token|authorization|secret)$")
_SAFE_KEYS = frozenset(
    {
        "timestamp",
        "hash",
        "prev_hash",
        "head",
        "raw_digest",
        "request_digest",
        "config_digest",
        "digest",
        "event_key",
        "key_id",
        "signing_key_id",
    }
)
"""Keys whose values are digests, key ids or times; masking them would only corrupt them
(a 16-hex-digit key id such as ``97a049041711c1f8`` holds a 9-digit run, which the CMND
rule would take for an identity card number)."""

_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_key: bytes | None = None
DEFAULT_PERSONAL_FIELDS = ("ChuHoSo", "owner_name", "MaDoiTuong", "Fax")
_extra_personal = frozenset(n.lower() for n in DEFAULT_PERSONAL_FIELDS)


def set_hash_key(key: bytes | None) -> None:
    """Install (or remove) the key of the join hashes; called once at start."""
    global _key  # noqa: PLW0603 - one process-wide setting, like the logging configuration
    _key = key or None


def set_personal_fields(names: tuple[str, ...]) -> None:
    """More keys whose values are masked whole (``audit.personal_fields``, e.g. ``ChuHoSo``)."""
    global _extra_personal  # noqa: PLW0603 - one process-wide setting
    _extra_personal = frozenset(n.lower() for n in names)
    _key_kind.cache_clear()


def keyed_hash(value: str, key: bytes | None = None) -> str:
    """A join key for ``value``: HMAC-SHA256 under the configured key, 16 letters a-p."""
    secret = key if key is not None else _key
    if secret is None:
        raise ValueError("no hash key configured (audit.hash_key_env)")
    digest = hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    return digest.translate(_LETTERS)


def _token(kind: str, value: str) -> str:
    if _key is None:
        return f"<{kind}>"
    normalised = re.sub(r"[ .]", "", value).lower()
    if kind == "phone":
        normalised = "0" + normalised.removeprefix("+84").removeprefix("84").removeprefix("0")
    return f"<{kind}:{keyed_hash(normalised)}>"


def _replace(kind: str, match: re.Match[str]) -> str:
    return _token(kind, match.group(0))


_CANDIDATE = re.compile(r"(?:\d[ .]?){8}\d|@")
"""Anything masking could change: nine or more digits (spaces and dots between them allowed),
or an ``@``. Most strings have neither, and one search is cheaper than four substitutions."""


_DIGEST = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])[0-9a-f]{40,}(?![0-9A-Za-z])")
"""A hex digest (40+ hex characters, at least one a-f) is left whole: its digit runs are not
ID numbers, and masking them would corrupt the hashes operators compare."""


class MaskedText(str):
    """A text already masked whole by this module (:func:`gateway.audit.attempts` marks the
    audit copy of a request body so): :func:`mask_value` keeps it as it is instead of
    masking it again. Only code that produced the text by masking may wrap it."""

    __slots__ = ()


_MASKABLE_RUN_LENGTHS = frozenset(range(9, 13))


def mask_text(text: str) -> str:
    """``text`` with every e-mail, phone, CCCD and CMND number replaced by its token."""
    if text.isdigit() and len(text) not in _MASKABLE_RUN_LENGTHS and text.isascii():
        # A run of digits alone (a timestamp such as 20261102080000) is an ID number only
        # at 9 (CMND) or 12 (CCCD) digits, a phone number at 10 or 11: nothing to mask.
        return text
    if not _CANDIDATE.search(text):
        return text
    if len(text) >= 40 and _DIGEST.search(text):
        pieces = _DIGEST.split(text)
        digests = _DIGEST.findall(text)
        masked = [_mask_plain(piece) for piece in pieces]
        return "".join(m + (digests[i] if i < len(digests) else "") for i, m in enumerate(masked))
    return _mask_plain(text)


def _mask_plain(text: str) -> str:
    for kind, pattern in _PATTERNS:
        if kind == "email" and "@" not in text:
            continue
        text = pattern.sub(functools.partial(_replace, kind), text)
    return text


def mask_value(value: Any, key: str = "", personal: frozenset[str] = frozenset()) -> Any:
    """A deep copy of a JSON-like value with personal data and secrets masked; ``personal``
    names more keys (lower case) whose values are masked whole."""
    kind = _kind(key, personal) if key else ""
    if kind == "secret" and isinstance(value, str):
        return "<redacted>" if value else value
    if kind == "personal" and value not in ("", None, [], {}):
        return _token("personal", _flatten(value))
    if isinstance(value, str):
        return value if kind == "safe" or type(value) is MaskedText else mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v, str(k), personal) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, key, personal) for v in value]
    return value


def field_names(names: Iterable[str]) -> frozenset[str]:
    """Wire field names as :func:`mask_fields` and :func:`mask_xml` compare them."""
    return frozenset(n.lower() for n in names)


def mask_fields(value: Any, personal: Iterable[str]) -> Any:
    """A JSON message with the fields named in ``personal`` masked whole, wherever they are
    nested, and everything else masked as :func:`mask_value` masks it."""
    return mask_value(value, "", field_names(personal))


def mask_xml(root: Any, personal: Iterable[str]) -> str:
    """The text of an XML document (an lxml element parsed by the hardened parser,
    ``gateway.encoders.wsdl.parse_xml``) with every element whose local name is in
    ``personal`` (or names personal data or a secret by itself) masked whole, children
    included, and every other text and attribute masked by pattern."""
    names = field_names(personal)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):  # a comment or processing instruction
            element.text = mask_text(element.text or "")
            element.tail = mask_text(element.tail) if element.tail else element.tail
            continue
        kind = _kind(etree.QName(element).localname, names)
        if kind in ("secret", "personal"):
            flat = "|".join(t.strip() for t in element.itertext() if t.strip())
            for child in list(element):
                element.remove(child)
            if flat:
                element.text = "<redacted>" if kind == "secret" else _token("personal", flat)
        elif element.text:
            element.text = mask_text(element.text)
        if element.tail:
            element.tail = mask_text(element.tail)
        for attribute, value in element.attrib.items():
            element.set(attribute, mask_text(value))
    return str(etree.tostring(root, encoding="unicode"))


KNOWN_MIN_CHARS = 4
"""A record's own value shorter than this is not searched for in a text (it would mask
ordinary words and numbers)."""


def mask_known(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (a record's own personal data: its owner's name, the
    handler's, its numbers) replaced by its token wherever it appears, then masked by
    pattern. For texts written by others about the record, such as a portal's refusal that
    quotes the field it refused ("ChuHoSo 'Trần Văn Bình' không hợp lệ")."""
    for value in sorted({v.strip() for v in values}, key=len, reverse=True):
        if len(value) >= KNOWN_MIN_CHARS and value in text:
            text = text.replace(value, _token("personal", value))
    return mask_text(text)


def record_values(record: Any) -> list[str]:
    """The personal values a canonical record (dossier, progress step, result) carries: the
    owner's name, numbers and contacts, the people's names and the free texts about them."""
    names = (
        "owner_name", "owner_id_number", "owner_account_id", "email", "phone", "fax",
        "summary", "other_info", "return_info", "note", "handler", "action",
    )  # fmt: skip
    values = [v for n in names if isinstance(v := getattr(record, n, ""), str) and v]
    values += [i.number for i in getattr(record, "owner_identifiers", ())]
    for s in getattr(record, "supplements", ()):
        values += [s.requested_by, s.received_by, s.content, s.reception_info]
    return values


def _kind(key: str, personal: frozenset[str]) -> str:
    kind = _key_kind(key)
    if kind != "secret" and key.lower() in personal:
        return "personal"
    return kind


@functools.lru_cache(maxsize=4096)
def _key_kind(key: str) -> str:
    if _SECRET_KEY.match(key):
        return "secret"
    if _PERSONAL_KEY.match(key) or key.lower() in _extra_personal:
        return "personal"
    return "safe" if key in _SAFE_KEYS else ""


def _flatten(value: Any) -> str:
    if isinstance(value, Mapping):
        return "|".join(f"{k}={_flatten(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return "|".join(_flatten(v) for v in value)
    return str(value)


def mask_event_dict(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask every value of a log event (the message included)."""
    for name, value in list(event_dict.items()):
        if name.startswith("_") or name in _SAFE_KEYS or name == "exc_info":
            continue
        if isinstance(value, str | Mapping | list | tuple):
            event_dict[name] = mask_value(value, name)
        elif not isinstance(value, int | float | bool | type(None)):
            event_dict[name] = mask_text(str(value))
    return event_dict
