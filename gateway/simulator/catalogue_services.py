"""The catalogue services of the simulated portal, and controls that change what it holds.

Services (spec §2.2 [C] for the names and the keys listed there; the rest of each answer is
our reading [I]):

- ``LayDanhMucCoQuan``: ``result[]`` of ``{MADONVI, TENDONVI, CAPDONVI}``.
- ``LayDanhMucLinhVuc``: ``result[]`` of ``{MALINHVUC, TENLINHVUC, MANGANH}``; ``MANGANH`` is
  the letter-and-digits prefix of the field code (``G15-TP07`` -> ``G15``) [I].
- ``LayThuTuc``: ``result[0]`` with ``MATTHC``, ``TENTTHC``, ``LINHVUCTHUCHIEN`` [C] and, [I],
  ``CAPTHUCHIEN``, ``TRANGTHAI`` (1), ``CACHTHUCTHUCHIEN[{KENH, THOIGIAN[{THOIGIANGIAIQUYET,
  DONVITINH, MOTA}], PHILEPHI[{MOTA}]}]`` built from the sample's raw duration and fee text.
  ``LayDanhSachTTHC`` stays in :mod:`.portal`.

Controls (``/_sim/*``, nothing like them on the real portal), so tests can make the portal's
catalogue and records drift the way §11 says real ones do:

- ``POST /_sim/catalogue`` ``{"op": "recode-agency"|"rename-procedure"|"recode-procedure"|
  "remove-procedure"|"add-procedure"|"recode-field"|"reset", ...}`` changes the live
  catalogue (which the portal's own checks use at once);
- ``POST /_sim/dossiers`` ``{"op": "lose"|"alter", "codes": [...] | "fraction": f, "seed": n,
  "status": n}`` drops dossiers (and their progress) or sets their ``TrangThaiHoSo``.

This module imports nothing from :mod:`.portal` (no cycle): the portal hands it the catalogue
object, its state and its rejection type.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any, Protocol

from aiohttp import web

from .catalogue import Agency, Catalogue, Procedure, load_catalogue

logger = logging.getLogger("gateway.simulator")

Json = dict[str, Any]
_DURATION = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s+(WORKING_DAY|DAY|HOUR|OTHER)\b")


class _HasCatalogue(Protocol):
    @property
    def catalogue(self) -> Catalogue: ...


class CallView(Protocol):
    """What a catalogue service reads of one ``/mapi/g`` call (``portal._Call``)."""

    @property
    def runtime(self) -> _HasCatalogue: ...

    @property
    def body(self) -> Mapping[str, Any]: ...


Reject = Callable[[int, str], Exception]


class DossierHolder(Protocol):
    """What the controls change of ``portal.PortalState``."""

    dossiers: dict[str, Any]
    progress: dict[str, list[dict[str, Any]]]


def live_catalogue() -> Catalogue:
    """A private, changeable copy of the packaged catalogue (``load_catalogue`` is cached and
    shared by every simulator in the process, so it is never changed itself)."""
    packaged = load_catalogue()
    return Catalogue(procedures=dict(packaged.procedures), agencies=dict(packaged.agencies))


def manganh(field_code: str) -> str:
    """The sector a field code belongs to [I]: its part before the first ``-``."""
    return field_code.split("-", 1)[0]


def procedure_detail(procedure: Procedure) -> Json:
    """``LayThuTuc``'s ``result[0]`` for one procedure (see the module docstring)."""
    timing: Json = {"MOTA": procedure.thoi_han}
    match = _DURATION.match(procedure.thoi_han)
    if match:
        timing["THOIGIANGIAIQUYET"] = match.group(1).replace(",", ".")
        timing["DONVITINH"] = match.group(2)
    channel = {"KENH": "mọi kênh", "THOIGIAN": [timing], "PHILEPHI": [{"MOTA": procedure.co_phi}]}
    return {
        "MATTHC": procedure.ma_tthc,
        "TENTTHC": procedure.ten_tthc,
        "TRANGTHAI": 1,
        "CAPTHUCHIEN": procedure.cap_thuc_hien,
        "LINHVUCTHUCHIEN": [
            {"MALINHVUC": procedure.ma_linh_vuc, "TENLINHVUC": procedure.ten_linh_vuc}
        ],
        "CACHTHUCTHUCHIEN": [channel],
    }


def services(reject: Reject) -> dict[str, Callable[[CallView], Json]]:
    """The catalogue services, raising ``reject(error_code, message)`` to refuse."""

    def agencies(call: CallView) -> Json:
        return {
            "result": [
                {"MADONVI": a.code, "TENDONVI": a.name, "CAPDONVI": a.level}
                for a in call.runtime.catalogue.agencies.values()
            ]
        }

    def fields(call: CallView) -> Json:
        seen: dict[str, Json] = {}
        for p in call.runtime.catalogue.procedures.values():
            seen.setdefault(
                p.ma_linh_vuc,
                {
                    "MALINHVUC": p.ma_linh_vuc,
                    "TENLINHVUC": p.ten_linh_vuc,
                    "MANGANH": manganh(p.ma_linh_vuc),
                },
            )
        return {"result": list(seen.values())}

    def describe(call: CallView) -> Json:
        code = call.body.get("maTTHC")
        if not isinstance(code, str) or not code.strip():
            raise reject(-1, "Thiếu tham số maTTHC")
        procedure = call.runtime.catalogue.procedures.get(code)
        if procedure is None:
            raise reject(-1, f"Thủ tục {code} không có trong danh mục TTHC của Cổng DVCQG")
        return {"result": [procedure_detail(procedure)]}

    return {"LayDanhMucCoQuan": agencies, "LayDanhMucLinhVuc": fields, "LayThuTuc": describe}


# -- controls -----------------------------------------------------------------------------


class ControlError(ValueError):
    """A control request that names something unknown or lacks a parameter (HTTP 400)."""


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ControlError(f"{name}: a non-empty string is required")
    return value.strip()


def change_catalogue(catalogue: Catalogue, body: Mapping[str, Any]) -> Json:
    """Apply one catalogue change (see the module docstring); return what it did."""
    procedures: MutableMapping[str, Procedure] = catalogue.procedures  # type: ignore[assignment]
    agencies: MutableMapping[str, Agency] = catalogue.agencies  # type: ignore[assignment]
    op = body.get("op")
    if op == "reset":
        fresh = live_catalogue()
        procedures.clear()
        procedures.update(fresh.procedures)
        agencies.clear()
        agencies.update(fresh.agencies)
        return {"op": op}
    if op == "recode-agency":
        old, new = _text(body, "code"), _text(body, "new_code")
        agency = agencies.pop(_known(agencies, old))
        agencies[new] = replace(agency, code=new, name=str(body.get("name") or agency.name))
        return {"op": op, "code": old, "new_code": new}
    if op in ("rename-procedure", "recode-procedure", "remove-procedure"):
        code = _known(procedures, _text(body, "code"))
        if op == "remove-procedure":
            del procedures[code]
            return {"op": op, "code": code}
        if op == "rename-procedure":
            procedures[code] = replace(procedures[code], ten_tthc=_text(body, "name"))
            return {"op": op, "code": code}
        new = _text(body, "new_code")
        procedures[new] = replace(procedures.pop(code), ma_tthc=new)
        return {"op": op, "code": code, "new_code": new}
    if op == "add-procedure":
        code = _text(body, "code")
        procedures[code] = Procedure(
            ma_tthc=code,
            ten_tthc=_text(body, "name"),
            ma_linh_vuc=_text(body, "field_code"),
            ten_linh_vuc=_text(body, "field_name"),
        )
        return {"op": op, "code": code}
    if op == "recode-field":
        old, new = _text(body, "code"), _text(body, "new_code")
        hits = [c for c, p in procedures.items() if p.ma_linh_vuc == old]
        if not hits:
            raise ControlError(f"code: no procedure has field {old!r}")
        for c in hits:
            procedures[c] = replace(procedures[c], ma_linh_vuc=new)
        return {"op": op, "code": old, "new_code": new, "procedures": len(hits)}
    raise ControlError(f"op: unknown operation {op!r}")


def _known(table: Mapping[str, Any], code: str) -> str:
    if code not in table:
        raise ControlError(f"code: {code!r} is not in the simulator's catalogue")
    return code


def change_dossiers(state: DossierHolder, body: Mapping[str, Any]) -> Json:
    """``lose`` dossiers (with their progress) or ``alter`` their ``TrangThaiHoSo``; pick them
    by ``codes`` or by a seeded random ``fraction`` of what is held (sorted first, so a seed
    picks the same dossiers on every run)."""
    op = body.get("op")
    if op not in ("lose", "alter"):
        raise ControlError(f"op: unknown operation {op!r}")
    codes = body.get("codes")
    if codes is not None:
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ControlError("codes: a list of strings is required")
        picked = [c for c in codes if c in state.dossiers]
    else:
        fraction = body.get("fraction")
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise ControlError("fraction: a number from 0 to 1 is required")
        held = sorted(state.dossiers)
        count = round(len(held) * fraction)
        seed = body.get("seed", 0)
        picked = sorted(random.Random(seed).sample(held, count))  # noqa: S311 - test data
    if op == "lose":
        for code in picked:
            del state.dossiers[code]
            state.progress.pop(code, None)
        return {"op": op, "codes": picked}
    status = body.get("status")
    if not isinstance(status, int) or not 1 <= status <= 10:
        raise ControlError("status: an integer from 1 to 10 is required")
    for code in picked:
        record = state.dossiers[code]
        record["item"] = {**record["item"], "TrangThaiHoSo": str(status)}
    return {"op": op, "codes": picked, "status": status}


def register(app: web.Application, catalogue: Catalogue, state: DossierHolder) -> None:
    """Add ``POST /_sim/catalogue`` and ``POST /_sim/dossiers`` to the simulator."""

    async def handle(
        request: web.Request, change: Callable[[Mapping[str, Any]], Json]
    ) -> web.Response:
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise ControlError("the body must be a JSON object")
            done = change(body)
        except (ValueError, ControlError) as exc:
            return web.json_response({"error_code": -1, "message": str(exc)}, status=400)
        logger.info("simulator_changed %s", json.dumps(done, ensure_ascii=False))
        return web.json_response({"error_code": 0, "message": "OK", **done})

    async def on_catalogue(request: web.Request) -> web.Response:
        return await handle(request, lambda body: change_catalogue(catalogue, body))

    async def on_dossiers(request: web.Request) -> web.Response:
        return await handle(request, lambda body: change_dossiers(state, body))

    app.router.add_post("/_sim/catalogue", on_catalogue)
    app.router.add_post("/_sim/dossiers", on_dossiers)
