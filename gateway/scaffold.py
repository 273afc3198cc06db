"""``dvc-gateway adapters new NAME``: a vendor's adapter package, ready to fill in.

The package is installable as it is (``pip install .``), declares its entry point in the
group ``dvc_gateway.adapters``, and passes the conformance suite from the start: its adapter
translates the sample records in ``tests/samples.json`` (a flat export with Vietnamese field
names), so a vendor changes the samples to their own records and the adapter until the suite
passes again.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from string import Template
from typing import Any

from gateway.simulator.catalogue import load_catalogue

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,39}")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "dvc-gateway adapter: $name one-stop records -> canonical records"
requires-python = ">=3.11"
dependencies = ["dvc-gateway>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.23"]

# This line is what makes the gateway find the adapter: "adapter: $name" in its config.
[project.entry-points."dvc_gateway.adapters"]
$name = "$module.adapter:$cls"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
$module = ["py.typed"]

[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

_README = """\
# $dist

A dvc-gateway adapter: it translates records of the $name one-stop system into the
gateway's canonical records (`contracts/canonical/v1/` of the gateway, described in its
`docs/canonical-input.md`).

## Install and test

The gateway is not on a package index, so `pip install -e '.[test]'` alone cannot find
`dvc-gateway`. Use one of these two ways.

**A. Into the gateway's own virtual environment** (where `dvc-gateway` runs):

```sh
/opt/dvc-gateway/.venv/bin/pip install -e '.[test]'
/opt/dvc-gateway/.venv/bin/pytest                     # the conformance suite and your tests
/opt/dvc-gateway/.venv/bin/dvc-gateway adapters list  # shows "$name"
```

**B. Into a virtual environment of your own, from the gateway's wheel:**

```sh
# once, in the gateway's source folder: dist/dvc_gateway-<version>-py3-none-any.whl
python -m pip install build && python -m build --wheel
# here: --find-links lets pip take dvc-gateway from that folder, the rest from PyPI
python -m venv .venv
.venv/bin/pip install --find-links /opt/dvc-gateway/dist -e '.[test]'
.venv/bin/pytest
.venv/bin/dvc-gateway adapters list
```

(`/opt/dvc-gateway` is where the gateway is; `dvc-gateway adapters new` printed the real
paths.) A running gateway reads the installed adapters when it starts: after installing an
adapter, restart it (`systemctl restart dvc-gateway`); SIGHUP only switches between adapters
that were installed when it started, and logs `reload_needs_restart` otherwise.

## Configure

```yaml
intake:
  sources:
    $name:
      adapter: $name
      options:
        agency_code: "000.00.00.H56"
        status_map: {"Đã tiếp nhận": 2, "Đang xử lý": 4, "Đã trả kết quả": 10}
```

Edit `tests/samples.json` to hold real (anonymised) records of your system, change
`src/$module/adapter.py` until `pytest` passes, check the wire messages with
`dvc-gateway translate --config gateway.yaml --source $name --input tests/samples.json
--explain`, and ship the package.
"""

_ADAPTER = '''\
"""The $name adapter: one $name record -> one canonical record.

Pure: it opens no files or sockets, reads no clock or environment. The gateway owns all I/O
and passes in the options from its configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.fields import FieldReader
from adapters.options import parse_options
from gateway.errors import ConfigError, Problem
from gateway.model import Channel, Dossier, DossierStatus, Record

DEFAULT_STATUS_MAP = {"Mới đăng ký": 1, "Đã tiếp nhận": 2, "Đang xử lý": 4, "Đã trả kết quả": 10}


@dataclass(frozen=True, slots=True)
class Options:
    """The adapter's ``options`` section (checked when the gateway starts)."""

    status_map: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    """Your status text -> DVCQG TrangThaiHoSo 1-10."""
    agency_code: str = ""
    """DVCQG MaDinhDanh of your agency, if your records do not carry it."""


class $cls:
    """$name dossiers -> canonical dossiers."""

    name = "$name"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = parse_options(Options, options)
        bad = [
            Problem(f"status_map.{key}", "must be a DVCQG status 1-10")
            for key, code in self.options.status_map.items()
            if not 1 <= code <= 10
        ]
        if bad:
            raise ConfigError(bad)

    def translate(self, raw: object) -> Record:
        r = FieldReader(raw)
        status_text = r.text("trang_thai", required=True)
        status = self.options.status_map.get(status_text)
        if status_text and status is None:
            r.fail("trang_thai", f"{status_text!r} is not in status_map")
        dossier = Dossier(
            dossier_code=r.text("so_ho_so", required=True),
            agency_code=r.text("ma_don_vi") or self.options.agency_code,
            procedure_code=r.text("ma_thu_tuc", required=True),
            procedure_name=r.text("ten_thu_tuc"),
            field_code=r.text("ma_linh_vuc"),
            field_name=r.text("ten_linh_vuc"),
            status=DossierStatus(status or 1),
            channel=Channel.ONLINE if r.flag("truc_tuyen") else Channel.AT_DESK,
            received_at=r.date("ngay_tiep_nhan"),
            due_at=r.date("han_tra"),
            owner_name=r.text("chu_ho_so", required=True),
            summary=r.text("trich_yeu"),
            handling_agency_name=r.text("don_vi_xu_ly"),
        )
        if not dossier.agency_code:
            r.fail("ma_don_vi", "no agency code in the record and no agency_code option")
        r.finish()
        return dossier
'''

SAMPLE_PROCEDURES = ("1.001193", "1.000894")
"""Procedures of the samples (birth and marriage registration), named from the packaged
catalogue (``gateway/simulator/data/tthc-sample.csv``) so code and name always agree."""
SAMPLE_AGENCY = "000.00.00.H56"


def samples() -> list[dict[str, Any]]:
    """The scaffold's two sample records, procedure and agency names from the catalogue."""
    catalogue = load_catalogue()
    birth, marriage = (catalogue.procedures[code] for code in SAMPLE_PROCEDURES)
    agency = catalogue.agencies[SAMPLE_AGENCY].name
    return [
        {
            "so_ho_so": f"{SAMPLE_AGENCY}-261127-00001",
            "ma_don_vi": SAMPLE_AGENCY,
            "ma_thu_tuc": birth.ma_tthc,
            "ten_thu_tuc": birth.ten_tthc,
            "ma_linh_vuc": birth.ma_linh_vuc,
            "ten_linh_vuc": birth.ten_linh_vuc,
            "trang_thai": "Đang xử lý",
            "truc_tuyen": "1",
            "ngay_tiep_nhan": "27/11/2026 08:15:00",
            "han_tra": "28/11/2026 08:15:00",
            "chu_ho_so": "Nguyễn Thị Ánh Tuyết",
            "trich_yeu": "Đăng ký khai sinh cho cháu Nguyễn Minh Khôi",
            "don_vi_xu_ly": agency,
        },
        {
            "so_ho_so": f"{SAMPLE_AGENCY}-261127-00002",
            "ma_don_vi": SAMPLE_AGENCY,
            "ma_thu_tuc": marriage.ma_tthc,
            "ten_thu_tuc": marriage.ten_tthc,
            "ma_linh_vuc": marriage.ma_linh_vuc,
            "ten_linh_vuc": marriage.ten_linh_vuc,
            "trang_thai": "Đã tiếp nhận",
            "truc_tuyen": "0",
            "ngay_tiep_nhan": "2026-11-27T09:00:00+07:00",
            "han_tra": "2026-12-02T09:00:00+07:00",
            "chu_ho_so": "Lê Văn Đức",
            "trich_yeu": "Đăng ký kết hôn của Lê Văn Đức và Phạm Thị Hương",
            "don_vi_xu_ly": "UBND xã Quảng Phú",
        },
    ]


_TEST = '''\
"""The gateway's conformance suite, run on this adapter; add your own tests beside it."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.conformance import AdapterConformance
from $module.adapter import $cls

SAMPLES = Path(__file__).with_name("samples.json")


class Test${cls}Conformance(AdapterConformance):
    factory = $cls
    options = {"agency_code": "000.00.00.H56"}
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
    required_fields = ("so_ho_so", "ma_thu_tuc", "trang_thai", "chu_ho_so")
    entry_point = "$name"
'''


def scaffold(name: str, parent: Path) -> Path:
    """Write the package for adapter ``name`` under ``parent``; return its folder."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r}: use lowercase letters, digits and -, starting with a letter")
    module = "dvc_adapter_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-")) + "Adapter"
    words = {"name": name, "dist": f"dvc-adapter-{name}", "module": module, "cls": cls}
    root = parent / f"dvc-adapter-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{module}/__init__.py": '"""The $name adapter for dvc-gateway."""\n',
        f"src/{module}/py.typed": "",
        f"src/{module}/adapter.py": _ADAPTER,
        "tests/samples.json": json.dumps(samples(), ensure_ascii=False, indent=2).replace("$", "$$")
        + "\n",
        "tests/test_conformance.py": _TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(words), encoding="utf-8")
    return root


def install_hint(root: Path) -> list[str]:
    """What ``adapters new`` prints: both install ways, with this machine's real paths."""
    venv = Path(sys.prefix)
    source = Path(__file__).resolve().parents[1]
    lines = [
        f"created {root}",
        "install it into the gateway's virtual environment:",
        f"  cd {root} && {venv / 'bin' / 'pip'} install -e '.[test]' && {venv / 'bin' / 'pytest'}",
    ]
    if (source / "pyproject.toml").is_file():  # a source checkout: the wheel can be built here
        lines += [
            "or into your own virtual environment, from the gateway's wheel:",
            f"  (cd {source} && python -m pip install build && python -m build --wheel)",
            f"  cd {root} && python -m venv .venv && .venv/bin/pip install "
            f"--find-links {source / 'dist'} -e '.[test]' && .venv/bin/pytest",
        ]
    lines.append("then restart the gateway: it reads installed adapters when it starts")
    return lines
