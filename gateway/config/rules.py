"""The configuration's rules that span more than one value (the schema and its reading are
in :mod:`gateway.config.schema`): URLs, positive sizes, the routes in use and what each needs,
pulling sources' names and queries, the audit settings. Every problem is collected with
its path, so an operator fixes a file in one go.
"""

from __future__ import annotations

import re

from gateway.config.schema import (
    ROUTE_NAMES,
    AdminConfig,
    AuditConfig,
    CatalogueConfig,
    FileDropConfig,
    GatewayConfig,
    InboundConfig,
    InputConfig,
    RoutesConfig,
    SqlPollConfig,
)
from gateway.errors import Problem


def check_values(config: GatewayConfig, problems: list[Problem]) -> None:
    """Rules that span more than one value's type."""
    portal = config.portal
    if not portal.base_url.startswith(("http://", "https://")):
        problems.append(Problem("portal.base_url", "must start with http:// or https://"))
    for name in ("timeout_s", "session_ttl_s"):
        if getattr(portal, name) <= 0:
            problems.append(Problem(f"portal.{name}", "must be positive"))
    if not portal.username:
        problems.append(Problem("portal.username", "must not be empty"))
    delivery = config.delivery
    for name in ("concurrency", "batch_size"):
        if getattr(delivery, name) < 1:
            problems.append(Problem(f"delivery.{name}", "must be at least 1"))
    if delivery.lease_s <= 0:
        problems.append(Problem("delivery.lease_s", "must be positive"))
    if delivery.portal_batch_size < 1 or delivery.max_rescues < 1:
        problems.append(Problem("delivery", "portal_batch_size and max_rescues must be >= 1"))
    if delivery.rate_limit_per_s < 0 or delivery.heartbeat_s < 0:
        problems.append(Problem("delivery", "rate_limit_per_s and heartbeat_s must be >= 0"))
    if delivery.breaker.failure_threshold < 1 or delivery.breaker.probe_interval_s <= 0:
        problems.append(
            Problem("delivery.breaker", "need failure_threshold >= 1, probe_interval_s > 0")
        )
    classes = {"network", "timeout", "server", "throttled", "session", "answer"}
    for name in delivery.retry.max_attempts_per_class:
        if name not in classes:
            problems.append(
                Problem(f"delivery.retry.max_attempts_per_class.{name}", "unknown error class")
            )
    if config.store.engine == "postgresql" and not config.store.dsn:
        problems.append(
            Problem("store.dsn", "required for engine postgresql (use ${DATABASE_URL})")
        )
    retry = delivery.retry
    if retry.base_delay_s <= 0 or retry.max_delay_s < retry.base_delay_s:
        problems.append(Problem("delivery.retry", "need 0 < base_delay_s <= max_delay_s"))
    if retry.max_attempts < 1:
        problems.append(Problem("delivery.retry.max_attempts", "must be at least 1"))
    _check_routes(config.routes, problems)
    _check_audit(config.audit, problems)
    _check_admin(config.admin, problems)
    _check_input(config.input, problems)
    _check_catalogue(config.catalogue, problems)
    intake = config.intake
    if not 0 <= intake.port <= 65535:
        problems.append(Problem("intake.port", "must be a TCP port (0-65535)"))
    if intake.max_body_bytes < 1024 or intake.max_records_per_request < 1:
        problems.append(
            Problem("intake", "max_body_bytes >= 1024 and max_records_per_request >= 1")
        )
    for key in ("max_connections", "backlog"):
        if getattr(intake, key) < 1:
            problems.append(Problem(f"intake.{key}", "must be at least 1"))
    for key in ("header_timeout_s", "body_timeout_s"):
        if not getattr(intake, key) > 0:
            problems.append(Problem(f"intake.{key}", "must be more than 0"))
    if not intake.sources and not (config.sources.sql_poll or config.sources.file_drop):
        problems.append(Problem("intake.sources", "at least one source is needed"))
    for name in intake.sources:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            problems.append(
                Problem(f"intake.sources.{name}", "name must be lowercase letters, digits, - or _")
            )
    _check_sources(config, problems)
    _check_inbound(config.inbound, problems)


def _check_inbound(inbound: InboundConfig, problems: list[Problem]) -> None:
    """The portal's push must be authenticated, and the sink must have somewhere to go."""
    if not inbound.enabled:
        return
    if not inbound.token and not inbound.tls_client_ca:
        problems.append(Problem("inbound.token", "needed (or tls_client_ca for mutual TLS)"))
    if inbound.tls_client_ca and not (inbound.tls_cert and inbound.tls_key):
        problems.append(Problem("inbound.tls_cert", "mutual TLS needs tls_cert and tls_key"))
    if not inbound.path.startswith("/"):
        problems.append(Problem("inbound.path", "must start with /"))
    sink = inbound.sink
    if not (sink.http.url or sink.sql.dsn or str(sink.outbox.path) not in ("", ".")):
        problems.append(Problem("inbound.sink", "configure http.url, sql.dsn or outbox.path"))
    if sink.http.url and not sink.http.url.startswith(("http://", "https://")):
        problems.append(Problem("inbound.sink.http.url", "must start with http:// or https://"))
    used = [
        t
        for t, on in ((sink.http.timeout_s, sink.http.url), (sink.sql.timeout_s, sink.sql.dsn))
        if on
    ]
    slowest = max(used, default=0.0)
    if inbound.lease_s <= slowest:
        problems.append(Problem("inbound.lease_s", "must exceed the sink's timeout_s"))
    if inbound.max_attachment_bytes < 1 or inbound.max_total_bytes < inbound.max_attachment_bytes:
        problems.append(Problem("inbound", "need 1 <= max_attachment_bytes <= max_total_bytes"))


def _check_routes(routes: RoutesConfig, problems: list[Problem]) -> None:
    """Every agency names a known route, and every route in use has what it needs."""
    for agency, name in routes.agencies.items():
        if name not in ROUTE_NAMES:
            problems.append(
                Problem(f"routes.agencies.{agency}", f"must be one of {', '.join(ROUTE_NAMES)}")
            )
    problems.extend(route_problems(routes, {routes.default, *routes.agencies.values()}))


_XROAD_CODE = re.compile(r"[A-Za-z0-9'()+,\-.=?]+")
"""Characters X-Road allows in an identifier part (PR-MESS §2.7 [S])."""


def route_problems(routes: RoutesConfig, used: set[str]) -> list[Problem]:
    """What the routes in ``used`` lack (``translate --route`` asks for one route)."""
    problems: list[Problem] = []
    needs = {
        "xroad-rest": ("routes.xroad_rest.forwarder_url", routes.xroad_rest.forwarder_url),
        "xroad-soap": (
            "routes.xroad_soap.security_server_url",
            routes.xroad_soap.security_server_url,
        ),
        "lgsp": ("routes.lgsp.base_url", routes.lgsp.base_url),
    }
    for name, (path, url) in needs.items():
        if name in used and not url.startswith(("http://", "https://")):
            problems.append(Problem(path, f"route {name} is in use: needs an http(s) URL"))
    if "xroad-soap" in used:
        for who in ("client", "provider"):
            member = getattr(routes.xroad_soap, who)
            for part in ("instance", "member_class", "member_code", "subsystem_code"):
                value = getattr(member, part)
                if (value or part != "subsystem_code") and not _XROAD_CODE.fullmatch(value):
                    problems.append(
                        Problem(
                            f"routes.xroad_soap.{who}.{part}",
                            "must be A-Z a-z 0-9 ' ( ) + , - . = ? only, and not empty",
                        )
                    )
    lgsp = routes.lgsp
    if "lgsp" in used and lgsp.auth == "wso2" and not lgsp.consumer_key:
        problems.append(Problem("routes.lgsp.consumer_key", "needed for auth: wso2"))
    if "lgsp" in used and lgsp.auth == "lgspaccesstoken" and not lgsp.access_key:
        problems.append(Problem("routes.lgsp.access_key", "needed for auth: lgspaccesstoken"))
    return problems


def _check_sources(config: GatewayConfig, problems: list[Problem]) -> None:
    """Pulling sources: names unique across every kind of source, sizes and intervals sane."""
    seen = set(config.intake.sources)
    pulled: list[tuple[str, SqlPollConfig | FileDropConfig]] = [
        *((f"sources.sql_poll.{n}", c) for n, c in config.sources.sql_poll.items()),
        *((f"sources.file_drop.{n}", c) for n, c in config.sources.file_drop.items()),
    ]
    for path, src in pulled:
        name = path.rsplit(".", 1)[1]
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            problems.append(Problem(path, "name must be lowercase letters, digits, - or _"))
        if name in seen:
            problems.append(Problem(path, f"a source named {name!r} is already configured"))
        seen.add(name)
        if src.batch_size < 1 or src.interval_s <= 0:
            problems.append(Problem(path, "need batch_size >= 1 and interval_s > 0"))
    for name, sql in config.sources.sql_poll.items():
        for param in (":after_ts", ":after_id", ":limit"):
            if param not in sql.query:
                problems.append(
                    Problem(f"sources.sql_poll.{name}.query", f"must use the parameter {param}")
                )
    for name, drop in config.sources.file_drop.items():
        unknown = set(drop.formats) - {"json", "ndjson", "csv", "xml"}
        if unknown:
            problems.append(
                Problem(f"sources.file_drop.{name}.formats", f"unknown: {sorted(unknown)}")
            )
        if len(drop.csv_delimiter) != 1:
            problems.append(
                Problem(f"sources.file_drop.{name}.csv_delimiter", "must be one character")
            )


def _check_audit(audit: AuditConfig, problems: list[Problem]) -> None:
    if audit.checkpoint_every_entries < 1 or audit.checkpoint_every_s <= 0:
        problems.append(
            Problem("audit", "checkpoint_every_entries >= 1 and checkpoint_every_s > 0")
        )
    if audit.max_body_bytes < 256:
        problems.append(Problem("audit.max_body_bytes", "must be at least 256"))
    if audit.retention_days <= 0:
        problems.append(Problem("audit.retention_days", "must be positive"))
    if audit.archive_every_s < 0:
        problems.append(Problem("audit.archive_every_s", "must be 0 (off) or positive"))
    for name in ("signing_key_env", "hash_key_env"):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", getattr(audit, name)):
            problems.append(Problem(f"audit.{name}", "must be an environment variable name"))


MIN_TOKEN_CHARS = 16


def _check_admin(admin: AdminConfig, problems: list[Problem]) -> None:
    """Tokens long enough and all different; a listener on a port."""
    seen: dict[str, str] = {}
    for name, entry in admin.tokens.items():
        if len(entry.token) < MIN_TOKEN_CHARS:
            problems.append(
                Problem(
                    f"admin.tokens.{name}.token", f"must be at least {MIN_TOKEN_CHARS} characters"
                )
            )
        elif entry.token in seen:
            problems.append(
                Problem(
                    f"admin.tokens.{name}.token", f"is the same as the token of {seen[entry.token]}"
                )
            )
        else:
            seen[entry.token] = name
    if not 0 <= admin.port <= 65535:
        problems.append(Problem("admin.port", "must be 0-65535"))
    if admin.max_list < 1 or admin.replay_confirm_above < 0:
        problems.append(Problem("admin", "max_list must be >= 1 and replay_confirm_above >= 0"))


def _check_input(rules: InputConfig, problems: list[Problem]) -> None:
    try:
        re.compile(rules.dossier_code_pattern)
    except re.error as exc:
        problems.append(Problem("input.dossier_code_pattern", f"not a regular expression: {exc}"))
    if not 2 <= rules.earliest_year <= rules.latest_year <= 9998:
        reason = "need 2 <= earliest_year <= latest_year <= 9998 (a date at the year limits "
        reason += "cannot be converted to the portal's time zone)"
        problems.append(Problem("input", reason))
    if not 4 <= rules.max_json_depth <= 1000:
        problems.append(Problem("input.max_json_depth", "must be between 4 and 1000"))


def _check_catalogue(catalogue: CatalogueConfig, problems: list[Problem]) -> None:
    """Issue 16: the sync's and the sweeps' bounds."""
    if catalogue.rate_per_s < 0 or catalogue.max_details < 0:
        problems.append(Problem("catalogue", "rate_per_s and max_details must be >= 0"))
    if catalogue.daily_first_after_s < 0:
        problems.append(Problem("catalogue.daily_first_after_s", "must be >= 0"))
    if catalogue.reconcile_days < 1:
        problems.append(Problem("catalogue.reconcile_days", "must be at least 1"))
    if not 0 <= catalogue.reconcile_at_hour <= 23:
        problems.append(Problem("catalogue.reconcile_at_hour", "must be an hour, 0-23"))
