"""The repository stands alone: every citation and every link resolves inside it.

- A ``§`` citation in the code, the contracts, the configuration or the docs names a section
  of ``docs/spec/``: a bare ``§4.1`` (or ``spec §4.1``) is ``docs/spec/dvcqg.md``,
  ``x-road §1.3`` is ``docs/spec/x-road.md``, ``opencps §3.2`` is ``docs/spec/opencps.md``.
  ``PR-MESS §2.7`` and its kin are sections of the public X-Road specifications; the key must
  be one ``docs/spec/x-road.md`` lists.
- No tracked file names a path outside the repository (a sibling ``shared`` folder, a home or
  work directory) or a research document the repository does not have.
- Every relative Markdown link points to a file of the repository, and an anchor to a heading
  of that file.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SPEC = ROOT / "docs" / "spec"
THIS_FILE = Path(__file__).resolve()

SPEC_DOCUMENTS = {"dvcqg": "dvcqg.md", "x-road": "x-road.md", "opencps": "opencps.md"}
"""Citation prefix -> the document of ``docs/spec/`` it names. No prefix (or ``spec``) is dvcqg."""

NUMBER = r"\d+(?:\.\d+)*"
CITATION = re.compile(
    rf"(?:(?P<doc>x-road|opencps|spec|dvcqg|(?:PR|UG)-[A-Z]+)\s+)?§\s?(?P<first>{NUMBER})"
    rf"(?P<rest>(?:\s*(?:,|\+|and|or)\s*§\s?{NUMBER}|\s*[–-]\s*§?\s?{NUMBER})*)"
)
"""One citation group: an optional document, a section, and more sections of the same document
(``x-road §1, §6``; ``§4.1-§4.7``; ``§2.1–2.3``)."""

HEADING = re.compile(rf"^#{{2,6}}\s+(?P<number>{NUMBER})\.?\s", re.MULTILINE)

OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./shared\b",
            r"(?<![\w.])/work/",
            r"\bshared/(?:spec|design|research|data)\b",
            r"(?<![\w.])/home/\w",
            r"(?<![\w.])/Users/\w",
            r"[A-Za-z]:\\Users\\",
            # The research digests this repository's docs/spec/ replaces.
            r"\b(?:dvcqg-integration|x-road-protocol|opencps-format)\.md\b",
            r"(?<![/\w])(?:ARCHITECTURE|STYLE)\.md\b",
        ]
    )
)
"""A reference to something outside the repository."""

SKIPPED_SUFFIXES = {".png", ".jpg", ".gif", ".ico", ".whl", ".gz", ".zip", ".sqlite", ".db"}


def tracked_files() -> list[Path]:
    """The files of the repository (git's view), or every file outside tool folders without git."""
    try:
        listed = subprocess.run(
            # Tracked files and new ones not yet added (ignored files excluded).
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        skip |= {".hypothesis", "build", "dist"}
        paths = [
            p
            for p in ROOT.rglob("*")
            if p.is_file()
            and not skip & set(p.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in p.parts)
        ]
    return sorted(p for p in paths if p.is_file() and p.suffix not in SKIPPED_SUFFIXES)


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def spec_sections() -> dict[str, set[str]]:
    """Document prefix -> the section numbers its headings carry."""
    return {
        doc: {m["number"] for m in HEADING.finditer((SPEC / name).read_text(encoding="utf-8"))}
        for doc, name in SPEC_DOCUMENTS.items()
    }


def public_spec_keys() -> set[str]:
    """The public specifications x-road.md lists as sources (``PR-MESS``, ``UG-SS``, ...)."""
    text = (SPEC / SPEC_DOCUMENTS["x-road"]).read_text(encoding="utf-8")
    return set(re.findall(r"^\| ((?:PR|UG)-[A-Z]+) \|", text, re.MULTILINE))


def broken_citations(text: str, sections: dict[str, set[str]], public: set[str]) -> list[str]:
    """Every citation of ``text`` that names a section (or a specification) nobody has."""
    broken = []
    for match in CITATION.finditer(text):
        doc = match["doc"] or "dvcqg"
        doc = "dvcqg" if doc == "spec" else doc
        if doc.startswith(("PR-", "UG-")):
            if doc not in public:
                broken.append(f"{match[0]!r}: {doc} is not a source listed in x-road.md §0.2")
            continue
        numbers = [match["first"], *re.findall(NUMBER, match["rest"])]
        for number in numbers:
            if number not in sections[doc]:
                broken.append(f"{match[0]!r}: {SPEC_DOCUMENTS[doc]} has no section {number}")
    return broken


def citing_files() -> list[Path]:
    """Every tracked text file that may cite the spec (the spec cites its own sections)."""
    return [
        p
        for p in tracked_files()
        if SPEC not in p.parents and p.name != "CHANGELOG.md" and p.resolve() != THIS_FILE
    ]


def test_every_citation_names_a_section_of_docs_spec() -> None:
    sections, public = spec_sections(), public_spec_keys()
    found = []
    for path in citing_files():
        text = text_of(path)
        if text is None or "§" not in text:
            continue
        rel = path.relative_to(ROOT)
        for line_no, line in enumerate(text.splitlines(), 1):
            found += [f"{rel}:{line_no}: {b}" for b in broken_citations(line, sections, public)]
    assert found == [], "\n".join(found)


def test_the_code_cites_the_spec_at_all() -> None:
    """The check above must have something to check: the field tables cite every field."""
    text = (ROOT / "contracts" / "fields.py").read_text(encoding="utf-8")
    assert len(CITATION.findall(text)) > 50


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ("MaHoSo (spec §4.9 [C])", "dvcqg.md has no section 4.9"),
        ("see §12", "dvcqg.md has no section 12"),
        ("the fault table (x-road §4.7)", "x-road.md has no section 4.7"),
        ("x-road §1, §8", "x-road.md has no section 8"),
        ("all of §4.1-§4.8", "dvcqg.md has no section 4.8"),
        ("opencps §3.9", "opencps.md has no section 3.9"),
        ("PR-NOPE §2.7", "PR-NOPE is not a source"),
    ],
)
def test_the_citation_check_catches_a_broken_citation(planted: str, expected: str) -> None:
    found = broken_citations(planted, spec_sections(), public_spec_keys())
    assert any(expected in item for item in found), found


@pytest.mark.parametrize(
    "good", ["§4.1 [C]", "x-road §4.3", "opencps §2.6", "§2.1–2.3, §3, §7", "PR-MESS §2.7 [S]"]
)
def test_the_citation_check_accepts_sections_that_exist(good: str) -> None:
    assert broken_citations(good, spec_sections(), public_spec_keys()) == []


def test_every_spec_document_has_the_sections_the_code_relies_on() -> None:
    sections = spec_sections()
    assert {"0.1", "3.1", "4.1", "5", "6.1", "7", "8.2", "11"} <= sections["dvcqg"]
    assert {"1.3", "2.4", "4.3"} <= sections["x-road"]
    assert {"2.6", "3.2"} <= sections["opencps"]


def outside_references(text: str) -> list[str]:
    return [m[0] for m in OUTSIDE.finditer(text)]


def test_no_file_names_a_path_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        text = text_of(path)
        if text is None or path.resolve() == THIS_FILE:
            continue
        rel = path.relative_to(ROOT)
        for line_no, line in enumerate(text.splitlines(), 1):
            found += [f"{rel}:{line_no}: {ref}" for ref in outside_references(line)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "planted",
    [
        "Read `../shared/design/x.md` first.",
        "caveats in ``/work/shared/data/README.md``",
        "(see ``shared/spec/dvcqg-integration.md`` §4)",
        "x-road-protocol.md §1.3",
        "the layer rules of ARCHITECTURE.md",
        "/home/alice/dvc/config.yaml",
    ],
)
def test_the_path_check_catches_an_outside_reference(planted: str) -> None:
    assert outside_references(planted) != []


@pytest.mark.parametrize(
    "fine",
    [
        "docs/architecture.md and docs/style.md",
        "https://github.com/VietOpenCPS/opencps-v2",
        "gateway/simulator/data/README.md",
        "./docs/spec/x-road.md",
    ],
)
def test_the_path_check_accepts_references_inside_the_repository(fine: str) -> None:
    assert outside_references(fine) == []


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    kept = "".join(
        ch
        for ch in heading.strip().lower()
        if ch in " -" or unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for match in LINK.finditer(path.read_text(encoding="utf-8")):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue  # a public URL (https:, mailto:)
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path.resolve()
        if root.resolve() not in [dest, *dest.parents] or not dest.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: {dest.name} has no heading #{anchor}")
    return broken


def markdown_files() -> list[Path]:
    return [p for p in tracked_files() if p.suffix == ".md"]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_catches_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## 1. Here\n[a](#1-here) [b](#2-gone) [c](missing.md)\n", encoding="utf-8")
    found = broken_links(page, root=tmp_path)
    assert any("#2-gone" in item for item in found), found
    assert any("missing.md" in item for item in found), found
    assert not any("#1-here" in item for item in found), found


def test_slugs_follow_github() -> None:
    assert slug(" 3.1 Envelope [C]") == "31-envelope-c"
    heading = " 6.3 `LoaiDoiTuong` [C for 1–2, C1 for 3–4]"
    assert slug(heading) == "63-loaidoituong-c-for-12-c1-for-34"
    assert slug(" 1.5 Inter-agency (liên thông) dossiers") == "15-inter-agency-liên-thông-dossiers"
