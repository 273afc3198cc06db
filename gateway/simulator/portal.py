"""The simulated DVCQG adapter: state, the aiohttp application and its handlers.

Wire format (spec §2.1–2.3, §3, §7): every request is a JSON ``POST``; every answer is HTTP 200
``{"error_code": int, "message": str, ...}`` except a body that is not a JSON object (HTTP 400)
or too large (HTTP 413). ``/mapi/login`` opens a session; ``/mapi/g`` serves every service named
by ``service``. Calls that write are atomic: every item is validated (:mod:`.rules`) and checked
against what is stored before anything is applied. ``/_sim/*`` is the inspection API for tests
and the demo; the real portal has nothing like it.

The simulator imports nothing from the rest of the gateway on purpose: it is an independent
check of the gateway's wire code.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypedDict

from aiohttp import web

from . import catalogue_services, contracts, faults, hosted, lgsp, rules, strict, xroad
from .catalogue import Catalogue

logger = logging.getLogger("gateway.simulator")

MIB = 1024 * 1024
OK = "Thành công"
NOT_JSON = "Dữ liệu gửi lên không phải JSON hợp lệ"
BAD_LOGIN = "Sai tên đăng nhập hoặc mật khẩu"
BAD_SESSION = "Phiên làm việc không hợp lệ hoặc đã hết hạn"
LOGIN = "login"  # the key login attempts are counted under in the stats
NO_SERVICE = "(không có)"  # the key for /mapi/g calls that name no service

_dumps = partial(json.dumps, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """What a vendor may change about the simulated portal."""

    username: str = "simulator"
    password: str = "simulator"  # noqa: S105 - the documented public default, not a secret
    session_ttl_s: float = 600.0
    strict_catalogue: bool = True
    max_body_bytes: int = 20 * MIB
    check_contracts: bool = True
    """Also validate requests against the JSON Schemas of ``contracts/dvcqg/v1``."""
    xroad_dstcode: str = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
    lgsp_consumer_key: str = "lgsp-demo-key"
    lgsp_consumer_secret: str = "lgsp-demo-secret"  # noqa: S105 - the public simulator default
    lgsp_access_key: str = "lgsp-demo-access"
    lgsp_token_ttl_s: float = 3600.0
    progress_lookup: bool = True
    """Offer ``TraCuuTienDoHoSo`` [?]; False plays a portal without it (the service is
    refused as unsupported, like any unknown service)."""
    strict_dates: bool = False
    """Require ``NgayTiepNhan`` and ``NgayHenTra`` for every status, as spec §4.1 reads
    (False: not for statuses 1 and 3, the contract's inference [I])."""
    refused_text: str = ""
    """Refuse any dossier or step whose ``TrichYeuHoSo`` / ``NoiDungXuLy`` contains this
    text (tests: a refusal on content the gateway cannot foresee); empty: none."""

    def __post_init__(self) -> None:
        if self.session_ttl_s <= 0:
            raise ValueError("session_ttl_s must be positive")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")


class DossierRecord(TypedDict):
    """One dossier as the portal holds it: the latest accepted object and how often written."""

    madonvi: str
    item: dict[str, Any]
    versions: int


@dataclass(eq=False)
class PortalState:
    """Everything the simulated portal accepted, plus call statistics. Plain dicts throughout.

    ``dossiers`` is keyed by ``MaHoSo``; ``progress`` maps ``MaHoSo`` to its progress objects in
    arrival order; ``calls``/``rejected`` count requests per service name.
    """

    dossiers: dict[str, DossierRecord] = field(default_factory=dict)
    progress: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    duplicate_progress: int = 0
    hosted: hosted.HostedBook = field(default_factory=hosted.HostedBook)
    """Portal-hosted dossiers pushed to the gateway and their status reports (:mod:`.hosted`)."""
    partially_applied: int = 0
    """Items applied from calls the portal refused (a partial portal, :mod:`.faults`)."""
    ledger: strict.Ledger = field(default_factory=strict.Ledger)
    """Duplicates, order violations and status regressions, per dossier (:mod:`.strict`)."""

    def reset(self) -> None:
        """Forget every dossier, progress item and statistic."""
        self.hosted.reset()
        self.dossiers.clear()
        self.progress.clear()
        self.calls.clear()
        self.rejected.clear()
        self.duplicate_progress = 0
        self.partially_applied = 0
        self.ledger.reset()

    def count(self, service: str, *, rejected: bool) -> None:
        self.calls[service] = self.calls.get(service, 0) + 1
        if rejected:
            self.rejected[service] = self.rejected.get(service, 0) + 1

    def store_dossiers(self, madonvi: str, items: list[dict[str, Any]]) -> None:
        """Create or replace each dossier, in order (validated and checked by the caller)."""
        for item in items:
            previous = self.dossiers.get(item["MaHoSo"])
            versions = 1 if previous is None else previous["versions"] + 1
            self.ledger.dossier_applied(item)
            self.dossiers[item["MaHoSo"]] = {"madonvi": madonvi, "item": item, "versions": versions}

    def append_progress(self, items: list[dict[str, Any]]) -> None:
        """Append each item to its dossier's timeline; an exact repeat is counted, still kept."""
        for item in items:
            timeline = self.progress.setdefault(item["MaHoSo"], [])
            self.ledger.step_applied(item, timeline)
            if item in timeline:
                self.duplicate_progress += 1
            timeline.append(item)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy shaped like ``GET /_sim/state``."""
        return copy.deepcopy(
            {
                "dossiers": self.dossiers,
                "progress": self.progress,
                "stats": {
                    "calls": self.calls,
                    "rejected": self.rejected,
                    "duplicate_progress": self.duplicate_progress,
                    "partially_applied": self.partially_applied,
                },
                "strict": self.ledger.report(),
            }
        )


class SessionBook:
    """Session tokens, each valid for ``ttl_s`` after login as measured by ``clock``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._expires_at: dict[str, float] = {}

    def open(self) -> str:
        now = self._clock()
        self._expires_at = {t: at for t, at in self._expires_at.items() if at > now}
        token = secrets.token_urlsafe(32)
        self._expires_at[token] = now + self._ttl_s
        return token

    def is_valid(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        expires_at = self._expires_at.get(token)
        return expires_at is not None and self._clock() < expires_at

    def expire_all(self) -> int:
        """Invalidate every session now; return how many there were."""
        count = len(self._expires_at)
        self._expires_at.clear()
        return count


class PortalRejection(Exception):
    """The portal says no: becomes ``{"error_code", "message"}`` with ``http_status``."""

    def __init__(self, error_code: int, message: str, *, http_status: int = 200) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class _Runtime:
    settings: SimulatorSettings
    catalogue: Catalogue
    sessions: SessionBook


@dataclass(frozen=True, slots=True)
class _Call:
    """One authenticated ``/mapi/g`` request, as a service function sees it."""

    runtime: _Runtime
    state: PortalState
    madonvi: str
    body: Mapping[str, Any]


STATE_KEY = web.AppKey("simulator_state", PortalState)
_RUNTIME_KEY = web.AppKey("simulator_runtime", _Runtime)


def _answer(error_code: int, message: str, *, status: int = 200, **extra: Any) -> web.Response:
    body = {"error_code": error_code, "message": message, **extra}
    return web.json_response(body, status=status, dumps=_dumps)


def _raise_on(problems: Sequence[object]) -> None:
    if problems:
        raise PortalRejection(-1, "; ".join(str(problem) for problem in problems))


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a rejection with HTTP 400/413."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        limit = request.app[_RUNTIME_KEY].settings.max_body_bytes
        message = f"Dữ liệu gửi lên vượt quá giới hạn {limit} byte"
        raise PortalRejection(-1, message, http_status=413) from error
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise PortalRejection(-1, NOT_JSON, http_status=400) from error
    if not isinstance(body, dict):
        raise PortalRejection(-1, NOT_JSON, http_status=400)
    return body


def _required_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PortalRejection(-1, f"Thiếu tham số {name}")
    return value


# -- services -----------------------------------------------------------------------------


def _check_contract(call: _Call) -> None:
    """After the portal's own rules: the JSON Schema of ``contracts/dvcqg/v1``."""
    if call.runtime.settings.check_contracts:
        problems = contracts.json_problems({**call.body, "session": "-"})
        if problems:
            raise PortalRejection(-1, "; ".join(problems))


def _sync_dossiers(call: _Call) -> dict[str, Any]:
    """``DongBoHoSoMC``: create (``isUpdating`` "False") or replace ("True") dossiers."""
    settings = call.runtime.settings
    catalogue = call.runtime.catalogue.procedures if settings.strict_catalogue else None
    problems: list[rules.Problem | _Item] = [*rules.check_is_updating(call.body.get("isUpdating"))]
    problems += rules.check_dossier_data(
        call.body.get("data"), procedure_codes=catalogue, strict_dates=settings.strict_dates
    )
    if problems and not isinstance(call.body.get("data"), list):
        _raise_on(problems)
    problems += _refused_content(call, "TrichYeuHoSo")
    items: list[dict[str, Any]] = call.body["data"]
    updating = call.body.get("isUpdating") == "True"
    known = set(call.state.dossiers)
    for index, item in enumerate(items):  # in order, as if applied one by one
        code = item.get("MaHoSo") if isinstance(item, dict) else None
        if not isinstance(code, str) or any(_names(p, index) for p in problems):
            continue
        if updating and code not in known:
            problems.append(_Item(index, -1, f"Hồ sơ {code} không tồn tại trên Cổng DVCQG"))
        elif not updating and code in known:
            problems.append(_Item(index, -3, f"Hồ sơ {code} đã tồn tại trên Cổng DVCQG"))
        known.add(code)
    _refuse_partly(call, problems, call.state.store_dossiers)
    _check_contract(call)
    call.state.store_dossiers(call.madonvi, items)
    return {}


def _sync_progress(call: _Call) -> dict[str, Any]:
    """``CapNhatTienDoHoSoMC``: append progress items to dossiers already on the portal."""
    problems: list[rules.Problem | _Item] = [*rules.check_progress_data(call.body.get("data"))]
    if problems and not isinstance(call.body.get("data"), list):
        _raise_on(problems)
    problems += _refused_content(call, "NoiDungXuLy")
    items: list[dict[str, Any]] = call.body["data"]
    for index, item in enumerate(items):
        code = item.get("MaHoSo") if isinstance(item, dict) else None
        if isinstance(code, str) and code not in call.state.dossiers:
            message = f"Hồ sơ {code} chưa được đồng bộ lên Cổng DVCQG"
            problems.append(_Item(index, -1, message))
    _refuse_partly(call, problems, lambda _madonvi, valid: call.state.append_progress(valid))
    _check_contract(call)
    call.state.append_progress(items)
    return {}


@dataclass(frozen=True, slots=True)
class _Item:
    """A refusal of one item that the portal words as a whole message, with its own code."""

    index: int
    code: int
    text: str

    @property
    def path(self) -> str:
        return f"data[{self.index}]"

    def __str__(self) -> str:
        return self.text


def _all_items(problems: list[rules.Problem | _Item]) -> bool:
    return all(isinstance(p, _Item) for p in problems)


def _names(problem: rules.Problem | _Item, index: int) -> bool:
    return problem.path == f"data[{index}]" or problem.path.startswith(f"data[{index}].")


def _refused_content(call: _Call, name: str) -> list[rules.Problem]:
    marker = call.runtime.settings.refused_text
    data = call.body.get("data")
    if not marker or not isinstance(data, list):
        return []
    return [
        rules.Problem(f"data[{i}].{name}", "nội dung bị Cổng DVCQG từ chối")
        for i, item in enumerate(data)
        if isinstance(item, dict) and marker in str(item.get(name, ""))
    ]


def _refuse_partly(
    call: _Call,
    problems: list[rules.Problem | _Item],
    apply: Callable[[str, list[dict[str, Any]]], None],
) -> None:
    """Refuse the call for ``problems``; a partial portal (:mod:`.faults`) first applies the
    items no problem names, as some real portals do."""
    if not problems:
        return
    items = call.body["data"]
    if faults.PARTIAL_APPLY.get():
        keep = strict.valid_indexes(len(items), (p.path for p in problems))
        if keep:
            apply(call.madonvi, [items[i] for i in keep])
            call.state.partially_applied += len(keep)
            logger.info("call_partly_applied items=%d refused=%d", len(keep), len(problems))
    first = problems[0]
    code = first.code if isinstance(first, _Item) and _all_items(problems) else -1
    raise PortalRejection(code, "; ".join(str(p) for p in problems))


def _look_up_dossier(call: _Call) -> dict[str, Any]:
    """``TraCuuHoSo``: the stored dossier object in a one-item list, or an empty list."""
    record = call.state.dossiers.get(_required_text(call.body, "mahoso"))
    return {"result": [] if record is None else [record["item"]]}


def _look_up_progress(call: _Call) -> dict[str, Any]:
    """``TraCuuTienDoHoSo`` [?]: the progress items the portal holds for a dossier, in order.
    Not a documented DVCQG service; it lets a gateway check before re-sending a step after
    an ambiguous failure (configured by ``portal.progress_lookup_service``)."""
    if not call.runtime.settings.progress_lookup:
        raise PortalRejection(-1, f"Dịch vụ {call.body.get('service')} không được hỗ trợ")
    return {"result": list(call.state.progress.get(_required_text(call.body, "mahoso"), []))}


def _list_procedures(call: _Call) -> dict[str, Any]:
    """``LayDanhSachTTHC``: every procedure's code and name."""
    procedures = call.runtime.catalogue.procedures.values()
    return {"result": [{"MATTHC": p.ma_tthc, "TENTTHC": p.ten_tthc} for p in procedures]}


def _describe_procedure(call: _Call) -> dict[str, Any]:
    """``LayThuTuc``: one procedure with its field (the sample holds no more than that)."""
    code = _required_text(call.body, "maTTHC")
    procedure = call.runtime.catalogue.procedures.get(code)
    if procedure is None:
        raise PortalRejection(-1, f"Thủ tục {code} không có trong danh mục TTHC của Cổng DVCQG")
    field_ = {"MALINHVUC": procedure.ma_linh_vuc, "TENLINHVUC": procedure.ten_linh_vuc}
    result = {"MATTHC": procedure.ma_tthc, "TENTTHC": procedure.ten_tthc}
    return {"result": [{**result, "LINHVUCTHUCHIEN": [field_]}]}


def _sync_status(call: _Call) -> dict[str, Any]:
    """``DongBoTrangThaiHoSo`` (``type`` "2"): the status of a dossier filed on the portal."""
    refusal = call.state.hosted.check_report(call.body.get("data"))
    if refusal is not None:
        raise PortalRejection(-1, refusal)
    return {}


def _list_hosted(call: _Call) -> dict[str, Any]:
    """``DanhSachHoSo``: portal-hosted dossiers filed in a date range (:mod:`.hosted`)."""
    found = call.state.hosted.list_served(call.body)
    if isinstance(found, str):
        raise PortalRejection(-1, found)
    return {"result": found}


def _hosted_papers(call: _Call) -> dict[str, Any]:
    """``LayTaiLieuHoSo``: the papers of one portal-hosted dossier."""
    found = call.state.hosted.papers(call.body.get("mahoso"))
    if isinstance(found, str):
        raise PortalRejection(-1, found)
    return {"result": found}


SERVICES: Mapping[str, Callable[[_Call], dict[str, Any]]] = {
    "DongBoHoSoMC": _sync_dossiers,
    "CapNhatTienDoHoSoMC": _sync_progress,
    "TraCuuHoSo": _look_up_dossier,
    "TraCuuTienDoHoSo": _look_up_progress,
    "LayDanhSachTTHC": _list_procedures,
    "LayThuTuc": _describe_procedure,
    **catalogue_services.services(PortalRejection),  # LayDanhMuc*, a fuller LayThuTuc
    "DongBoTrangThaiHoSo": _sync_status,
    "DanhSachHoSo": _list_hosted,
    "LayTaiLieuHoSo": _hosted_papers,
}


def _dispatch(
    runtime: _Runtime, state: PortalState, body: Mapping[str, Any], *, check_session: bool = True
) -> dict[str, Any]:
    """Session, then agency, then contract, then service: the first failure is the answer."""
    if check_session and not runtime.sessions.is_valid(body.get("session")):
        raise PortalRejection(401, BAD_SESSION)
    madonvi = _required_text(body, "madonvi")
    if madonvi not in runtime.catalogue.agencies:
        raise PortalRejection(-1, f"Mã đơn vị {madonvi} không có trong danh mục cơ quan")
    service = _required_text(body, "service")
    handler = SERVICES.get(service)
    if handler is None:
        raise PortalRejection(-1, f"Dịch vụ {service} không được hỗ trợ")
    return handler(_Call(runtime, state, madonvi, body))


def serve(
    app: web.Application, body: Mapping[str, Any], *, check_session: bool = True
) -> dict[str, Any]:
    """One service call as ``/mapi/g`` runs it, counted in the stats; raises PortalRejection.

    The X-Road SOAP front calls it with ``check_session=False``: there the security server
    has authenticated the caller and no portal session exists.
    """
    runtime, state = app[_RUNTIME_KEY], app[STATE_KEY]
    service = body.get("service")
    name = service if isinstance(service, str) and service else NO_SERVICE
    try:
        extra = _dispatch(runtime, state, body, check_session=check_session)
    except PortalRejection as rejection:
        state.count(name, rejected=True)
        logger.info(
            "call_rejected service=%s error_code=%d message=%s",
            name,
            rejection.error_code,
            rejection.message,
        )
        raise
    state.count(name, rejected=False)
    logger.info("call_accepted service=%s madonvi=%s", name, body.get("madonvi"))
    return extra


# -- HTTP handlers ------------------------------------------------------------------------


async def _handle_login(request: web.Request) -> web.Response:
    settings = request.app[_RUNTIME_KEY].settings
    state = request.app[STATE_KEY]
    body = await _json_object(request)
    accepted = _same_text(body.get("username"), settings.username) and _same_text(
        body.get("password"), settings.password
    )
    state.count(LOGIN, rejected=not accepted)
    if not accepted:
        logger.info("login_failed")
        return _answer(1, BAD_LOGIN)
    logger.info("login_succeeded")
    return _answer(0, OK, session=request.app[_RUNTIME_KEY].sessions.open())


def _same_text(given: object, expected: str) -> bool:
    if not isinstance(given, str):
        return False
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def _handle_service(request: web.Request) -> web.Response:
    body = await _json_object(request)
    return _answer(0, OK, **serve(request.app, body))


async def _handle_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].snapshot(), dumps=_dumps)


async def _handle_hosted(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].hosted.snapshot(), dumps=_dumps)


async def _handle_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    logger.info("state_reset")
    return _answer(0, OK)


async def _handle_expire_sessions(request: web.Request) -> web.Response:
    expired = request.app[_RUNTIME_KEY].sessions.expire_all()
    logger.info("sessions_expired count=%d", expired)
    return _answer(0, OK, expired=expired)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PortalRejection as rejection:
        return _answer(rejection.error_code, rejection.message, status=rejection.http_status)


# -- assembly -----------------------------------------------------------------------------


def create_app(
    settings: SimulatorSettings,
    *,
    state: PortalState | None = None,
    clock: Callable[[], float] = time.monotonic,
    fault_modes: faults.Faults | None = None,
) -> web.Application:
    """The simulated portal as an aiohttp application; ``app[STATE_KEY]`` is its state and
    ``app[faults.FAULTS_KEY]`` its fault mode (:mod:`.faults`)."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[_rejections])
    app[STATE_KEY] = state if state is not None else PortalState()
    app[_RUNTIME_KEY] = _Runtime(
        settings=settings,
        catalogue=catalogue_services.live_catalogue(),
        sessions=SessionBook(settings.session_ttl_s, clock),
    )
    catalogue_services.register(app, app[_RUNTIME_KEY].catalogue, app[STATE_KEY])
    app.router.add_post("/mapi/login", _handle_login)
    app.router.add_post("/mapi/g", _handle_service)
    app.router.add_get("/_sim/state", _handle_state)
    app.router.add_post("/_sim/reset", _handle_reset)
    app.router.add_get("/_sim/hosted", _handle_hosted)
    app.router.add_post("/_sim/expire-sessions", _handle_expire_sessions)
    fronts = xroad.Portal(
        serve=serve, login=_handle_login, service=_handle_service, rejection=PortalRejection
    )
    xroad.register(app, fronts, settings.xroad_dstcode)
    lgsp.register(
        app,
        fronts,
        lgsp.LgspSettings(
            settings.lgsp_consumer_key,
            settings.lgsp_consumer_secret,
            settings.lgsp_access_key,
            settings.lgsp_token_ttl_s,
        ),
        clock=clock,
    )
    faults.install(app, fault_modes)
    return app


async def run_simulator(
    host: str,
    port: int,
    settings: SimulatorSettings,
    *,
    ready: asyncio.Event | None = None,
    fault_modes: faults.Faults | None = None,
) -> None:
    """Serve the simulated portal on ``host:port`` until cancelled; set ``ready`` once bound."""
    runner = web.AppRunner(create_app(settings, fault_modes=fault_modes))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        logger.info("simulator_started addresses=%s", runner.addresses)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        logger.info("simulator_stopped")
