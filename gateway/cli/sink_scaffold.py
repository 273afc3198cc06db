"""``dvc-gateway adapters new NAME --sink``: a vendor's sink package, ready to fill in.

Like the adapter scaffold (:mod:`gateway.scaffold`): installable as it is, its entry point in
the group ``dvc_gateway.sinks``, and passing the sink conformance suite from the start with a
sample portal body in ``tests/samples.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

from gateway.scaffold import _PYPROJECT, NAME_PATTERN, SAMPLE_AGENCY

_SINK_PYPROJECT = (
    _PYPROJECT.replace("adapter: $name one-stop records -> canonical records",
                       "sink: portal-hosted dossiers -> the $name one-stop system")
    .replace('find the adapter: "adapter: $name" in its config',
             'find the sink: "inbound.sink.plugin: $name"')
    .replace('"dvc_gateway.adapters"]\n$name = "$module.adapter:$cls"',
             '"dvc_gateway.sinks"]\n$name = "$module.sink:$cls"')
)  # fmt: skip

_SINK = '''\
"""The $name sink: a dossier filed on the national portal -> rows in the $name database.

Pure: it says what to insert; the gateway inserts it (``inbound.sink.sql``), in one
transaction, skipping a key already there, with retries, dead letters and audit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.options import parse_options
from gateway.inbound.model import InboundDossier, SqlDelivery, SqlRow


@dataclass(frozen=True, slots=True)
class Options:
    table: str = "ho_so_dvcqg"
    """Your table; it needs a unique key on so_ho_so."""


class $cls:
    name = "$name"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = parse_options(Options, options)

    def render(self, dossier: InboundDossier) -> SqlDelivery:
        row = SqlRow(
            self.options.table,
            {
                "so_ho_so": dossier.dossier_code,
                "ma_thu_tuc": dossier.procedure_code,
                "ngay_nop": dossier.submitted_at,
                "nguoi_nop": dossier.applicant_name,
                "thong_tin": json.dumps(dict(dossier.fields), ensure_ascii=False, sort_keys=True),
            },
            key=("so_ho_so",),
        )
        return SqlDelivery((row,))
'''

_SINK_TEST = '''\
"""The gateway's sink conformance suite, run on this sink; add your own tests beside it."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.conformance import SinkConformance
from $module.sink import $cls

SAMPLES = Path(__file__).with_name("samples.json")


class Test${cls}Conformance(SinkConformance):
    factory = $cls
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
    entry_point = "$name"
'''


def sink_samples() -> list[dict[str, Any]]:
    """A portal body (spec dvcqg §2.4) with a one-page PDF form."""
    pdf = "JVBERi0xLjcKJSVFT0YK"  # "%PDF-1.7\n%%EOF\n"
    return [
        {
            "MaHoSo": f"{SAMPLE_AGENCY}-261127-900001",
            "MaTTHC": "1.001234",
            "NgayNopHoSo": "20261127081500",
            "TenThuongNhan": "Công ty TNHH Ánh Dương",
            "MaSoThue": "2801234567",
            "TenChuongTrinhKhuyenMai": "Mừng xuân 2027",
            "TenTepDonDangKy": "don-dang-ky.pdf",
            "TepDonDangKy": pdf,
        }
    ]


def scaffold_sink(name: str, parent: Path) -> Path:
    """Write the package for sink ``name`` under ``parent``; return its folder."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r}: use lowercase letters, digits and -, starting with a letter")
    module = "dvc_sink_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-")) + "Sink"
    words = {"name": name, "dist": f"dvc-sink-{name}", "module": module, "cls": cls}
    root = parent / f"dvc-sink-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    samples = json.dumps(sink_samples(), ensure_ascii=False, indent=2).replace("$", "$$")
    files = {
        "pyproject.toml": _SINK_PYPROJECT,
        "README.md": "# $dist\n\nA dvc-gateway sink (see section 6 of the gateway's vendor "
        "guide). Install and test as for an adapter; configure `inbound.sink.plugin: $name`.\n",
        f"src/{module}/__init__.py": '"""The $name sink for dvc-gateway."""\n',
        f"src/{module}/py.typed": "",
        f"src/{module}/sink.py": _SINK,
        "tests/samples.json": samples + "\n",
        "tests/test_conformance.py": _SINK_TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(words), encoding="utf-8")
    return root
