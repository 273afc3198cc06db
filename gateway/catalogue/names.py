"""Which catalogue codes a local code most likely means: normalised Vietnamese name similarity.

Scoring (0-100, higher is better; the operator sees the score and why):

1. **Code prefix** (100): a local code that starts with a catalogue code and a dot
   (``1.001193.000.00.00.H56`` -> ``1.001193``) is how one-stop systems write local codes
   (data/README.md caveat 4): it wins outright.
2. **Name similarity**: both names are normalised (:func:`normalise`: Unicode NFD, the tone and
   vowel marks dropped, ``đ`` -> ``d``, lower case, punctuation removed, the common
   abbreviations expanded, the filler words ``thủ tục`` dropped), then scored with
   rapidfuzz's ``token_set_ratio`` (word order and extra words cost little) and
   ``token_sort_ratio`` (every word counts, so ``khai sinh`` prefers ``Đăng ký khai sinh`` to
   ``Đăng ký khai sinh có yếu tố nước ngoài``), averaged, minus 2. Stripping the marks
   makes ``Dang ky khai sinh`` and ``Đăng ký khai sinh`` equal; an exact match *with* the
   marks gets the 2 points back, so ``Hộ tịch`` beats ``Hồ tích`` when both are candidates.
3. **Same field** (+5, capped at 100; it also breaks a tie): for a procedure, a candidate in
   the local record's field (``MaLinhVuc``) ranks above an equally named one in another field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz

ABBREVIATIONS: Mapping[str, str] = {
    "dk": "dang ky",
    "gcn": "giay chung nhan",
    "gp": "giay phep",
    "qsdd": "quyen su dung dat",
    "ubnd": "uy ban nhan dan",
    "hs": "ho so",
    "kd": "kinh doanh",
    "hkd": "ho kinh doanh",
    "cc": "chung thuc",
    "xd": "xay dung",
    "ld": "lao dong",
    "tp": "thanh pho",
    "tt": "thu tuc",
}
"""Abbreviations one-stop software uses in procedure and agency names, expanded before
scoring (after the marks are dropped)."""

FILLER = ("thu tuc",)
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def strip_marks(text: str) -> str:
    """``Đăng ký`` -> ``Dang ky``: the Vietnamese tone and vowel marks removed."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise(text: str) -> str:
    """The comparable form of a name (see the module docstring, step 2)."""
    words = _NOT_WORD.sub(" ", strip_marks(text).lower()).split()
    expanded = " ".join(ABBREVIATIONS.get(word, word) for word in words)
    for filler in FILLER:
        expanded = re.sub(rf"(^| ){filler}( |$)", " ", expanded)
    return " ".join(expanded.split())


@dataclass(frozen=True, slots=True)
class Suggestion:
    code: str
    name: str
    score: float
    why: str


def name_score(local: str, candidate: str) -> float:
    """Step 2 of the module docstring."""
    a, b = normalise(local), normalise(candidate)
    if not a or not b:
        return 0.0
    score = (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2 - 2.0
    if local.strip().lower() == candidate.strip().lower():
        score += 2.0
    return max(0.0, min(100.0, score))


def suggest(
    local_code: str,
    local_name: str,
    candidates: Mapping[str, str],
    *,
    candidate_fields: Mapping[str, tuple[str, ...]] | None = None,
    local_field: str = "",
    limit: int = 3,
) -> list[Suggestion]:
    """The ``limit`` best catalogue codes for a local code, best first (ties: the same field
    first, then by code)."""
    found: list[Suggestion] = []
    for code, name in candidates.items():
        if local_code.startswith(code + "."):
            found.append(Suggestion(code, name, 100.0, "the local code starts with it"))
            continue
        score = name_score(local_name, name) if local_name else 0.0
        why = "name"
        if local_field and candidate_fields and local_field in candidate_fields.get(code, ()):
            score = min(100.0, score + 5.0)
            why = "name, same field"
        if score > 0:
            found.append(Suggestion(code, name, round(score, 1), why))
    found.sort(key=lambda s: (-s.score, s.why != "name, same field", s.code))
    return found[:limit]
