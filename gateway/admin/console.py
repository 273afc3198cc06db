"""The web console: server-rendered pages, Vietnamese first (``?lang=en`` for English).

Four pages: the overview (deliveries per minute as an inline SVG chart, the backlog and its
age, each agency's road and breaker, the share of dossiers synced within an hour, the audit
log), a dossier by ``MaHoSo`` (its records with why each waits, and its audit timeline with
every attempt and the portal's answer), dead letters with replay (the count first, a typed
confirmation above the threshold), and sign-in. The only script reloads the overview every
10 s while the tab is visible. Every list is capped (``admin.max_list``); nothing scans an
unbounded table on a refresh.

Sign-in exchanges a token for a session cookie (``HttpOnly``, ``SameSite=Strict``); every form
posts the session's CSRF token. The console calls the same code as the API, so the same roles
and the same audit entries apply.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.admin.api import AdminApi, ApiError, _dead_filter, _iso
from gateway.admin.auth import SESSION_COOKIE, SESSION_S, Role, Session, Sessions
from gateway.audit.archive import verify_all
from gateway.audit.keys import load_public_keys
from gateway.indicators.f766 import parse_period
from gateway.indicators.reading import procedure_facts
from gateway.indicators.report import explain, sections
from gateway.model import PORTAL_TZ

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANG_COOKIE = "dvcgw_lang"
SESSION_KEY = web.RequestKey("console_session", Session)

TEXT: dict[str, tuple[str, str]] = {
    "title": ("Cổng kết nối DVCQG", "DVCQG gateway"),
    "overview": ("Tổng quan", "Overview"),
    "dossier": ("Tra cứu hồ sơ", "Find a dossier"),
    "dead": ("Hồ sơ lỗi", "Dead letters"),
    "signin": ("Đăng nhập", "Sign in"),
    "signout": ("Đăng xuất", "Sign out"),
    "token": ("Mã truy cập (token)", "Access token"),
    "wrong_token": ("Mã truy cập không đúng", "Wrong token"),
    "states": ("Bản ghi theo trạng thái", "Records by state"),
    "backlog": ("Đang chờ gửi", "Waiting"),
    "oldest": ("Chờ lâu nhất", "Oldest waiting"),
    "rate": (
        "Số bản ghi gửi thành công mỗi phút (60 phút qua)",
        "Deliveries per minute (last hour)",
    ),
    "within_hour": ("Hồ sơ đồng bộ trong vòng 1 giờ", "Dossiers synced within an hour"),
    "routes": ("Kết nối theo cơ quan", "Roads per agency"),
    "agency": ("Cơ quan", "Agency"),
    "route": ("Tuyến", "Route"),
    "breaker": ("Cầu dao", "Breaker"),
    "queued": ("Chờ", "Queued"),
    "dead_n": ("Lỗi", "Dead"),
    "blocked": ("Bị chặn", "Blocked"),
    "next": ("Lần thử tới", "Next attempt"),
    "audit": ("Nhật ký kiểm toán", "Audit log"),
    "entries": ("bản ghi", "entries"),
    "checkpoint": ("Điểm ký gần nhất", "Last checkpoint"),
    "verify": ("Kiểm tra chuỗi", "Verify the chain"),
    "verified_ok": ("Chuỗi hợp lệ", "Chain verifies"),
    "verified_bad": ("Chuỗi bị hỏng", "Chain broken"),
    "search": ("Tìm", "Search"),
    "code": ("Mã hồ sơ (MaHoSo)", "Dossier code (MaHoSo)"),
    "records": ("Bản ghi", "Records"),
    "timeline": ("Dòng thời gian", "Timeline"),
    "why": ("Lý do chờ", "Why it waits"),
    "none": ("Không có", "None"),
    "replay": ("Gửi lại", "Replay"),
    "will_replay": ("bản ghi sẽ được gửi lại", "records will be replayed"),
    "type_count": ("Nhập số lượng để xác nhận", "Type the count to confirm"),
    "confirm": ("Xác nhận gửi lại", "Confirm replay"),
    "replayed": ("Đã gửi lại", "Replayed"),
    "operator_only": ("Cần quyền vận hành (operator)", "Needs the operator role"),
    "portal_down": ("Cổng DVCQG không phản hồi", "The portal is not answering"),
    "portal_up": ("Cổng DVCQG phản hồi bình thường", "The portal answers"),
    "error": ("Lỗi", "Error"),
    "filter": ("Lọc", "Filter"),
    "portal_code": ("Mã lỗi cổng", "Portal code"),
    "indicators": ("Chỉ số 766", "Decision 766"),
    "period": ("Kỳ (YYYY-MM, YYYY-Qn, YYYY)", "Period (YYYY-MM, YYYY-Qn, YYYY)"),
    "show": ("Xem", "Show"),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "points": ("Điểm", "Points"),
    "costs": ("Hồ sơ làm mất điểm", "Dossiers that cost points"),
    "cannot": ("Chưa tính được", "Not computed"),
    "reason": ("Lý do", "Why"),
}


def t(key: str, lang: str) -> str:
    vi, en = TEXT[key]
    return en if lang == "en" else vi


class Console:
    """The console's pages over an :class:`~gateway.admin.api.AdminApi`."""

    def __init__(self, api: AdminApi) -> None:
        self.api = api
        self.sessions = Sessions(clock=api.deps.clock)
        self._verified: tuple[float, bool, str] | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._root)
        app.router.add_get("/console/login", self.login_form)
        app.router.add_post("/console/login", self.login)
        app.router.add_post("/console/logout", self._signed_in(self.logout))
        app.router.add_get("/console", self._signed_in(self.overview))
        app.router.add_post("/console/verify", self._signed_in(self.verify))
        app.router.add_get("/console/dossier", self._signed_in(self.dossier))
        app.router.add_get("/console/dead-letters", self._signed_in(self.dead_letters))
        app.router.add_get("/console/indicators", self._signed_in(self.indicators))
        app.router.add_post("/console/dead-letters/replay", self._signed_in(self.replay))

    async def _root(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/console")

    def _signed_in(self, page: Page) -> Page:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
            if session is None:
                raise web.HTTPFound("/console/login")
            if request.method == "POST":
                form = await request.post()
                if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                    return web.Response(status=403, text="bad or missing CSRF token")
            request[SESSION_KEY] = session
            try:
                return await page(request)
            except ApiError as exc:
                return self._page(
                    request,
                    t("error", _lang(request)),
                    f"<p class=err>{_e(str(exc))}</p>",
                    exc.status,
                )

        return guarded

    # -- sign in and out -------------------------------------------------------------------------

    async def login_form(self, request: web.Request, *, failed: bool = False) -> web.Response:
        lang = _lang(request)
        body = (
            (f"<p class=err>{t('wrong_token', lang)}</p>" if failed else "")
            + "<form method=post action=/console/login>"
            + f"<label>{t('token', lang)} <input type=password name=token autocomplete=off "
            + "required></label> "
            + f"<button>{t('signin', lang)}</button></form>"
        )
        return self._page(request, t("signin", lang), body, 401 if failed else 200, nav=False)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        principal = self.api.tokens.check(str(form.get("token", "")))
        if principal is None:
            return await self.login_form(request, failed=True)
        session_id, _ = self.sessions.open(principal)
        response = web.HTTPFound("/console")
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=SESSION_S,
            httponly=True,
            samesite="Strict",
            path="/",
            secure=request.secure,
        )
        await self.api.deps.store.note(
            "console_signed_in", {"by": principal.name}, self.api.deps.clock()
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = web.HTTPFound("/console/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    # -- pages -----------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        lang = _lang(request)
        deps = self.api.deps
        figures = await deps.reader.figures()
        agencies = await deps.reader.agencies()
        fast, recent = await deps.reader.synced_within_hour()
        waiting = figures.states.get("queued", 0) + figures.states.get("leased", 0)
        health = t("portal_down", lang) if deps.worker.portal_down else t("portal_up", lang)
        cards = [
            (t("backlog", lang), f"{waiting:,}"),
            (t("oldest", lang), _duration(figures.oldest_queued_s)),
            (t("dead_n", lang), f"{figures.states.get('dead', 0):,}"),
            (
                t("within_hour", lang),
                f"{fast}/{recent}" + (f" ({fast / recent:.0%})" if recent else ""),
            ),
        ]
        body = [f"<p class={'err' if deps.worker.portal_down else 'ok'} id=health>{health}</p>"]
        body.append("<div class=cards>")
        body += [f"<div class=card><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in cards]
        body.append("</div>")
        body.append(f"<h2>{t('rate', lang)}</h2>")
        body.append(_chart(deps.metrics.deliveries_per_minute()))
        body.append(f"<h2>{t('states', lang)}</h2>")
        body.append(
            _table(["state", "n"], [[s, f"{n:,}"] for s, n in sorted(figures.states.items())])
        )
        body.append(f"<h2>{t('routes', lang)}</h2>")
        rows = []
        for row in agencies[: deps.config().admin.max_list]:
            route = deps.worker.route_name(row.agency_code)
            breaker = deps.worker.guards.breakers.get(f"{route}/{row.agency_code}")
            rows.append(
                [
                    row.agency_code,
                    route,
                    breaker.state if breaker else "closed",
                    str(row.queued),
                    str(row.dead),
                    str(row.blocked),
                    _iso(row.next_attempt_at) or "-",
                ]
            )
        heads = ["agency", "route", "breaker", "queued", "dead_n", "blocked", "next"]
        body.append(_table([t(h, lang) for h in heads], rows, empty=t("none", lang)))
        body.append(f"<h2>{t('audit', lang)}</h2>")
        checkpoint = _duration(figures.last_checkpoint_age_s)
        body.append(
            f"<p>{figures.audit_entries:,} {t('entries', lang)}; "
            f"{t('checkpoint', lang)}: {_e(checkpoint)}</p>"
        )
        if self._verified is not None:
            at, ok, text = self._verified
            when = datetime.fromtimestamp(at, PORTAL_TZ).isoformat(timespec="seconds")
            label = t("verified_ok", lang) if ok else t("verified_bad", lang)
            body.append(
                f"<p class={'ok' if ok else 'err'} id=verified>{label} ({when}): {_e(text)}</p>"
            )
        body.append(self._form(request, "/console/verify", t("verify", lang)))
        return self._page(request, t("overview", lang), "\n".join(body), refresh=True)

    async def verify(self, request: web.Request) -> web.StreamResponse:
        deps = self.api.deps
        config = deps.config()
        keys = load_public_keys(config.audit.public_key) if config.audit.public_key else None

        def run() -> tuple[bool, str]:
            repo = deps.open_audit()
            try:
                report = verify_all(
                    repo,
                    config.audit.archive_dir,
                    public_key=keys,
                    max_gap=config.audit.checkpoint_every_entries,
                )
            finally:
                repo.close()
            text = f"{report.entries} entries, {report.checkpoints} checkpoints"
            return report.ok, text if report.ok else f"{text}; {report.finding}"

        ok, text = await asyncio.to_thread(run)
        self._verified = (deps.clock(), ok, text)
        raise web.HTTPSeeOther(_with_lang("/console", request))

    async def dossier(self, request: web.Request) -> web.Response:
        lang = _lang(request)
        code = request.query.get("q", "").strip()
        body = [
            "<form method=get action=/console/dossier>",
            f"<label>{t('code', lang)} <input name=q value='{_e(code)}' size=40 required></label>",
            f"<input type=hidden name=lang value={lang}>",
            f"<button>{t('search', lang)}</button></form>",
        ]
        if code:
            cap = self.api.deps.config().admin.max_list
            records = await self.api.deps.reader.records(code, cap)
            body.append(f"<h2>{t('records', lang)}</h2>")
            rows = [
                [
                    str(r["id"]),
                    str(r["kind"]),
                    str(r["state"]),
                    str(r["attempts"]),
                    _e(r["waiting_on"]) or "-",
                    str(r["portal_code"] or ""),
                    str(r["last_error"] or "")[:160],
                ]
                for r in records
            ]
            heads = [
                "id",
                "kind",
                "state",
                "attempts",
                t("why", lang),
                t("portal_code", lang),
                t("error", lang),
            ]
            body.append(_table(heads, rows, empty=t("none", lang), raw_columns={4}))
            entries = await asyncio.to_thread(self.api._timeline, code)
            shown = entries[-cap:]
            body.append(f"<h2>{t('timeline', lang)} ({len(shown)}/{len(entries)})</h2>")
            body.append(
                _table(
                    ["seq", "at", "event", "record", "detail"],
                    [
                        [
                            str(e.seq),
                            _iso(e.at) or "",
                            e.event,
                            str(e.record_id or ""),
                            _detail(e.detail),
                        ]
                        for e in shown
                    ],
                    empty=t("none", lang),
                    table_id="timeline",
                )
            )
        return self._page(request, t("dossier", lang), "\n".join(body))

    async def dead_letters(self, request: web.Request) -> web.Response:
        lang = _lang(request)
        query = {k: v for k, v in request.query.items() if k in ("dossier", "code")}
        where = _dead_filter(query)
        cap = self.api.deps.config().admin.max_list
        letters = await self.api.deps.store.dead_letters(where, limit=cap)
        session = request[SESSION_KEY]
        body = [
            "<form method=get action=/console/dead-letters>",
            f"<label>MaHoSo <input name=dossier value='{_e(query.get('dossier', ''))}'></label> ",
            f"<label>{t('portal_code', lang)} <input name=code size=6 "
            f"value='{_e(query.get('code', ''))}'></label> ",
            f"<input type=hidden name=lang value={lang}>",
            f"<button>{t('filter', lang)}</button></form>",
        ]
        rows = [
            [
                str(d.record_id),
                _iso(d.updated_at) or "",
                d.kind,
                d.dossier_code,
                d.portal_code or "",
                d.error[:160],
            ]
            for d in letters
        ]
        body.append(
            _table(
                ["id", "at", "kind", "MaHoSo", t("portal_code", lang), t("error", lang)],
                rows,
                empty=t("none", lang),
            )
        )
        if session.principal.role >= Role.OPERATOR:
            hidden = {**query, "all": "1" if not query else ""}
            body.append(
                self._form(request, "/console/dead-letters/replay", t("replay", lang), hidden)
            )
        else:
            body.append(f"<p>{t('operator_only', lang)}</p>")
        return self._page(request, t("dead", lang), "\n".join(body))

    async def replay(self, request: web.Request) -> web.Response:
        lang = _lang(request)
        session = request[SESSION_KEY]
        if session.principal.role < Role.OPERATOR:
            raise ApiError(403, t("operator_only", lang))
        form = await request.post()
        values: dict[str, Any] = {k: str(form.get(k, "")) for k in ("dossier", "code")}
        values = {k: v for k, v in values.items() if v}
        where = _dead_filter(values)
        if not values and form.get("all") != "1":
            raise ApiError(400, "name what to replay")
        deps = self.api.deps
        count = len(await deps.store.dead_letters(where, limit=100_000))
        threshold = deps.config().admin.replay_confirm_above
        step = str(form.get("step", "preview"))
        typed = str(form.get("typed", ""))
        confirmed = step == "confirm" and (count <= threshold or typed == str(count))
        if not confirmed:
            hidden = {**values, "all": str(form.get("all", "")), "step": "confirm"}
            extra = ""
            if count > threshold:
                extra = (
                    f"<label>{t('type_count', lang)} <input name=typed id=typed "
                    "autocomplete=off required></label> "
                )
            body = f"<p id=will-replay><b>{count}</b> {t('will_replay', lang)}</p>" + self._form(
                request, "/console/dead-letters/replay", t("confirm", lang), hidden, extra
            )
            return self._page(request, t("replay", lang), body)
        replayed = await deps.store.replay(
            where, by=f"{session.principal.name} (console)", now=deps.clock()
        )
        deps.worker.wake()
        body = f"<p class=ok id=replayed>{t('replayed', lang)}: {len(replayed)}</p>"
        return self._page(request, t("replay", lang), body)

    async def indicators(self, request: web.Request) -> web.Response:
        """The Decision 766 preview of a period, and the dossiers costing points on one
        indicator (``?explain=2.1``)."""
        lang = _lang(request)
        deps = self.api.deps
        now = datetime.fromtimestamp(deps.clock(), PORTAL_TZ)
        text = request.query.get("period", "") or now.strftime("%Y-%m")
        try:
            period = parse_period(text)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        if deps.histories is None:
            raise ApiError(503, "the indicators are not available in this process")
        config = deps.config()
        found = sections(
            await deps.histories(),
            period,
            as_of=now,
            procedures=await deps.facts() if deps.facts else procedure_facts(config),
            points=dict(config.indicators.points),
        )
        section = found[0]
        body = [
            "<form method=get action=/console/indicators>",
            f"<label>{t('period', lang)} <input name=period value='{_e(period.name)}'></label>",
            f"<input type=hidden name=lang value={lang}> <button>{t('show', lang)}</button></form>",
            f"<p id=score><b>{section.points:g}</b> / {section.max_points:g} "
            f"({section.dossiers} hồ sơ / dossiers)</p>",
        ]
        rows = []
        for i in section.indicators:
            label = i.label_vi if lang == "vi" else i.label_en
            ratio = "-" if i.ratio is None else f"{i.ratio:.1%}"
            if i.code == "2.2":
                ratio = "-" if i.value is None else f"{i.value:g} d"
            score = "-" if i.points is None else f"{i.points:g}/{i.max_points:g}"
            link = (
                f"<a href='/console/indicators?period={_e(period.name)}&explain={i.code}"
                f"&lang={lang}'>{len(i.costs)}</a>"
                if i.costs
                else "0"
            )
            rows.append(
                [i.code, _e(label), f"{i.numerator:g}", f"{i.denominator:g}", ratio, score, link]
            )
        heads = [t("indicator", lang), "", "num", "den", "%", t("points", lang), t("costs", lang)]
        body.append(_table(heads, rows, raw_columns={1, 6}, table_id="indicators"))
        notes = [f"<li>{i.code}: {_e(n)}</li>" for i in section.indicators for n in i.incomplete]
        if notes:
            body.append(f"<h2>{t('cannot', lang)}</h2><ul>{''.join(notes)}</ul>")
        code = request.query.get("explain", "")
        if code:
            cap = config.admin.max_list
            try:
                costs = explain(section, code, limit=cap)
            except KeyError as exc:
                raise ApiError(404, f"no indicator {code!r}") from exc
            body.append(f"<h2>{t('costs', lang)}: {_e(code)}</h2>")
            body.append(
                _table(
                    ["MaHoSo", "TTHC", t("points", lang), t("reason", lang)],
                    [[c.dossier_code, c.procedure_code, f"{c.points:.3f}", c.why] for c in costs],
                    empty=t("none", lang),
                    table_id="costs",
                )
            )
        return self._page(request, t("indicators", lang), "\n".join(body))

    # -- rendering -------------------------------------------------------------------------------

    def _form(
        self,
        request: web.Request,
        action: str,
        label: str,
        hidden: Mapping[str, str] | None = None,
        extra: str = "",
    ) -> str:
        session = request[SESSION_KEY]
        fields = {"csrf": session.csrf, "lang": _lang(request), **(hidden or {})}
        inputs = "".join(
            f"<input type=hidden name={_e(k)} value='{_e(v)}'>" for k, v in fields.items() if v
        )
        return (
            f"<form method=post action={action}>{inputs}{extra}<button>{_e(label)}</button></form>"
        )

    def _page(
        self,
        request: web.Request,
        title: str,
        body: str,
        status: int = 200,
        *,
        nav: bool = True,
        refresh: bool = False,
    ) -> web.Response:
        lang = _lang(request)
        nonce = secrets.token_urlsafe(16)
        links = ""
        if nav and SESSION_KEY in request:
            session = request[SESSION_KEY]
            other = "en" if lang == "vi" else "vi"
            links = (
                f"<nav><a href=/console?lang={lang}>{t('overview', lang)}</a> "
                f"<a href=/console/dossier?lang={lang}>{t('dossier', lang)}</a> "
                f"<a href=/console/dead-letters?lang={lang}>{t('dead', lang)}</a> "
                f"<a href=/console/indicators?lang={lang}>{t('indicators', lang)}</a> "
                f"<a href='?lang={other}'>{other.upper()}</a> "
                f"<span>{_e(session.principal.name)} ({session.principal.role.name.lower()})</span>"
                + self._form(request, "/console/logout", t("signout", lang))
                + "</nav>"
            )
        script = ""
        if refresh:
            # Reload every 10 s, only while the tab is visible.
            script = (
                f"<script nonce={nonce}>setInterval(function(){{"
                "if(!document.hidden){location.reload();}},10000);</script>"
            )
        page = (
            f"<!doctype html><html lang={lang}><head><meta charset=utf-8>"
            f"<title>{_e(title)} · {t('title', lang)}</title><style>{CSS}</style></head>"
            f"<body><header><b>{t('title', lang)}</b>{links}</header><main><h1>{_e(title)}</h1>"
            f"{body}</main>{script}</body></html>"
        )
        response = web.Response(text=page, status=status, content_type="text/html")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
            "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        if "lang" in request.query and request.query["lang"] in ("vi", "en"):
            response.set_cookie(LANG_COOKIE, lang, samesite="Strict", path="/")
        return response


CSS = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24}"
    "header{background:#8b0000;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}"
    "header nav{display:flex;gap:1em;align-items:center}header a{color:#fff}"
    "header form{display:inline;margin:0}main{padding:1em 1.5em;max-width:1200px}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:.25em .5em;"
    "text-align:left;font-size:.9em;vertical-align:top}th{background:#f3f4f6}"
    ".cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccd;border-radius:6px;"
    "padding:.6em 1em;min-width:10em}.card b{display:block;font-size:1.6em}"
    ".ok{color:#116329}.err{color:#b42318;font-weight:600}svg{background:#fafafa;"
    "border:1px solid #ccd}"
)


def _lang(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE, "vi")
    return "en" if lang == "en" else "vi"


def _with_lang(path: str, request: web.Request) -> str:
    return f"{path}?lang={_lang(request)}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _detail(detail: Mapping[str, Any]) -> str:
    keys = (
        "route",
        "http_status",
        "error_code",
        "portal_code",
        "message",
        "reason",
        "by",
        "status",
    )
    parts = [f"{k}={detail[k]}" for k in keys if k in detail and detail[k] not in (None, "")]
    return "; ".join(str(p) for p in parts)[:300]


def _table(
    heads: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str = "-",
    raw_columns: set[int] | None = None,
    table_id: str = "",
) -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    raw = raw_columns or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in heads)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if i in raw else _e(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    ident = f" id={table_id}" if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def _chart(points: Sequence[tuple[int, int]], width: int = 720, height: int = 160) -> str:
    """Deliveries per minute as an inline SVG bar chart (no script, no library)."""
    top = max([n for _, n in points] + [1])
    bar = width / max(len(points), 1)
    bars = []
    for i, (minute, n) in enumerate(points):
        h = (n / top) * (height - 20)
        label = datetime.fromtimestamp(minute * 60, PORTAL_TZ).strftime("%H:%M")
        bars.append(
            f"<rect x='{i * bar:.1f}' y='{height - h:.1f}' width='{max(bar - 1, 1):.1f}' "
            f"height='{h:.1f}' fill='#8b0000'><title>{label}: {n}</title></rect>"
        )
    return (
        f"<svg id=rate-chart role=img width={width} height={height} "
        f"viewBox='0 0 {width} {height}'><text x=4 y=14 font-size=12>max {top}/min</text>"
        + "".join(bars)
        + "</svg>"
    )
