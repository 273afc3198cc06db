"""How often ``mappings suggest`` puts the right procedure first, on the packaged catalogue.

Each of the 57 sample procedures is looked up by a damaged copy of its own name, with no code
hint, against all 57: (a) the diacritics stripped, (b) abbreviated the way one-stop software
writes names (``Thủ tục`` dropped, ``đăng ký`` -> ``ĐK``, ``giấy chứng nhận`` -> ``GCN``,
``quyền sử dụng đất`` -> ``QSDĐ``, ``hộ kinh doanh`` -> ``HKD``), (c) both, and (d) both and
only the first six words kept. Run: ``.venv/bin/python bench/suggestion_quality.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.catalogue.names import strip_marks, suggest
from gateway.simulator.catalogue import load_catalogue

SHORT_FORMS = (
    ("giấy chứng nhận", "GCN"),
    ("quyền sử dụng đất", "QSDĐ"),
    ("hộ kinh doanh", "HKD"),
    ("đăng ký", "ĐK"),
)


def abbreviate(name: str) -> str:
    text = re.sub(r"^thủ tục\s+", "", name, flags=re.IGNORECASE)
    for long, short in SHORT_FORMS:
        text = re.sub(long, short, text, flags=re.IGNORECASE)
    return text


DAMAGES: dict[str, Callable[[str], str]] = {
    "diacritics stripped": strip_marks,
    "abbreviated": abbreviate,
    "abbreviated, diacritics stripped": lambda n: strip_marks(abbreviate(n)),
    "abbreviated, stripped, first 6 words": lambda n: " ".join(
        strip_marks(abbreviate(n)).split()[:6]
    ),
}


def measure() -> dict[str, tuple[int, int, int]]:
    """Per damage: (right code first, right code in the top 3, procedures)."""
    names = {code: p.ten_tthc for code, p in load_catalogue().procedures.items()}
    figures = {}
    for label, damage in DAMAGES.items():
        first = top3 = 0
        for code, name in names.items():
            found = [s.code for s in suggest("LOCAL-X", damage(name), names)]
            first += bool(found) and found[0] == code
            top3 += code in found
        figures[label] = (first, top3, len(names))
    return figures


if __name__ == "__main__":
    for label, (first, top3, total) in measure().items():
        print(
            f"{label:40} first {first}/{total} ({100 * first / total:.0f} %), top 3 {top3}/{total}"
        )
