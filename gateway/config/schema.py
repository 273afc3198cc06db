"""The configuration's schema: one frozen dataclass per section, with its defaults.

:mod:`gateway.config.loading` reads a YAML file into :class:`GatewayConfig`;
:mod:`gateway.config.rules` checks what spans several values. Relative paths are relative to
the working directory. ``config/gateway.example.yaml`` documents every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.audit.masking import DEFAULT_PERSONAL_FIELDS
from gateway.canonical import DEFAULT_DOSSIER_CODE_PATTERN


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the durable outbox lives: an SQLite file (one process) or PostgreSQL (several)."""

    engine: Literal["sqlite", "postgresql"] = "sqlite"
    path: Path = Path("var/gateway.db")
    dsn: str = ""
    """PostgreSQL connection string, from the environment (``${DATABASE_URL}``)."""
    max_connections: int = 8


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One intake source: the URL name ``/api/v1/intake/{name}`` and the adapter behind it."""

    adapter: str
    options: Mapping[str, Any] = field(default_factory=dict)
    token: str = ""


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """The HTTP intake API."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024
    max_records_per_request: int = 1000
    max_backlog: int = 0
    """Answer 503 while more records than this wait for delivery (0: no bound)."""
    min_free_disk_bytes: int = 100 * 1024 * 1024
    """Answer 503 while the SQLite store's disk has less free space than this."""
    busy_retry_after_s: int = 30
    language: Literal["vi", "en"] = "en"
    """The language of rejection and quarantine reasons in receipts (the audit has both)."""
    max_connections: int = 256
    """Open intake connections at most (and at most half the process's descriptor limit);
    at the cap the oldest connection still waiting for a request head is closed, or the new
    one is answered 503."""
    header_timeout_s: float = 10.0
    """A request line and headers must arrive within this (from the connection's opening
    or its previous answer: also the keep-alive idle time); later: closed (408)."""
    body_timeout_s: float = 60.0
    """The whole body must arrive within this of the request head; later: 408, closed."""
    backlog: int = 128
    """Connections the kernel queues before intake accepts them."""
    sources: Mapping[str, SourceConfig] = field(
        default_factory=lambda: {"canonical": SourceConfig(adapter="canonical")}
    )


@dataclass(frozen=True, slots=True)
class SqlPollConfig:
    """A vendor database polled with the vendor's query (``sources.sql_poll.<name>``).

    The query reads rows changed after a watermark: it must filter with
    ``(<timestamp_column>, <id_column>) > (:after_ts, :after_id)``, order by the same pair
    and stop at ``:limit`` rows. The watermark is saved in the outbox's transaction."""

    adapter: str
    engine: Literal["postgresql", "mysql", "sqlite"]
    dsn: str
    query: str
    options: Mapping[str, Any] = field(default_factory=dict)
    timestamp_column: str = "updated_at"
    id_column: str = "id"
    start_after: str = "1970-01-01T00:00:00"
    start_after_id: str = "0"
    batch_size: int = 500
    interval_s: float = 10.0
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class FileDropConfig:
    """A watched folder of export files (``sources.file_drop.<name>``); processed files move
    to ``<path>/done/`` or ``<path>/error/`` (with a ``.reason.txt`` beside them)."""

    adapter: str
    path: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = ("json", "ndjson", "csv", "xml")
    csv_delimiter: str = ","
    csv_encoding: str = "utf-8-sig"
    xml_record_tag: str = ""
    interval_s: float = 2.0
    settle_s: float = 1.0
    max_file_bytes: int = 50 * 1024 * 1024
    max_records_per_file: int = 100_000
    batch_size: int = 500


@dataclass(frozen=True, slots=True)
class SourcesConfig:
    """Pulling sources: the gateway fetches records itself (intake.sources are pushed)."""

    sql_poll: Mapping[str, SqlPollConfig] = field(default_factory=dict)
    file_drop: Mapping[str, FileDropConfig] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PortalConfig:
    """The DVCQG adapter (spec §3). Paths are relative to ``base_url``."""

    base_url: str
    username: str
    password: str
    login_path: str = "/mapi/login"
    service_path: str = "/mapi/g"
    timeout_s: float = 60.0
    session_ttl_s: float = 600.0
    verify_tls: bool = True
    session_error_codes: tuple[int, ...] = (401,)
    exists_error_codes: tuple[int, ...] = (3, -3)
    max_response_bytes: int = 4 * 1024 * 1024
    create_strategy: Literal["insert-then-update", "look-up-first"] = "insert-then-update"
    """Spec §7: (b) insert, update on "đã tồn tại" [C1]; or (a) ``TraCuuHoSo`` first [C1]."""
    progress_lookup_service: str = "TraCuuTienDoHoSo"
    """[?] The service that lists a dossier's progress on the portal, asked before a step is
    sent again after a doubtful attempt; empty: none (``delivery.unverifiable_resend``
    decides)."""
    relax_status_dates: bool = True
    """Spec §4.1 marks ``NgayTiepNhan`` and ``NgayHenTra`` required; the contract excuses
    them for status 1 (and ``NgayHenTra`` for 3) by inference [I]. False: a snapshot without
    them is not sent; it waits for its dossier's next snapshot, which supersedes it."""


ROUTE_NAMES = ("dvcqg-rest", "xroad-rest", "xroad-soap", "lgsp")
RouteName = Literal["dvcqg-rest", "xroad-rest", "xroad-soap", "lgsp"]


@dataclass(frozen=True, slots=True)
class XRoadRestConfig:
    """Route ``xroad-rest``: the DVCQG JSON through a local X-Road REST forwarder (spec §1.2)."""

    forwarder_url: str = ""
    forward_path: str = "/XrdAdapter/RestService/forward"
    dstcode: str = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
    dstcode_in: Literal["header", "query", "both"] = "header"


@dataclass(frozen=True, slots=True)
class XRoadMemberConfig:
    """An X-Road member or subsystem identifier (x-road §1.3)."""

    instance: str = "VN"
    member_class: str = "GOV"
    member_code: str = ""
    subsystem_code: str = ""


@dataclass(frozen=True, slots=True)
class XRoadSoapConfig:
    """Route ``xroad-soap``: X-Road message protocol 4.0 to our own security server."""

    security_server_url: str = ""
    client: XRoadMemberConfig = field(default_factory=XRoadMemberConfig)
    provider: XRoadMemberConfig = field(
        default_factory=lambda: XRoadMemberConfig(
            member_code="000.00.00.G22", subsystem_code="vpcpdvcprovider"
        )
    )
    service_version: str = "v1"
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    verify_tls: bool = True
    tls_client_cert: str = ""
    tls_client_key: str = ""
    max_response_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LgspConfig:
    """Route ``lgsp``: the DVCQG JSON through a provincial LGSP (spec §1.3)."""

    base_url: str = ""
    auth: Literal["wso2", "lgspaccesstoken"] = "wso2"
    token_path: str = "/token"  # noqa: S105 - a URL path, not a secret
    portal_prefix: str = "/dvcqg"
    consumer_key: str = ""
    consumer_secret: str = ""
    access_key: str = ""
    secret_key: str = ""
    app_name: str = ""
    partner_code: str = ""
    partner_code_cus: str = ""
    token_ttl_s: float = 3000.0


@dataclass(frozen=True, slots=True)
class MappingsConfig:
    """CSV mapping tables (``local,dvcqg`` per line); an empty path means no table."""

    procedures: str = ""
    agencies: str = ""
    statuses: str = ""


@dataclass(frozen=True, slots=True)
class RoutesConfig:
    """Which road to the portal each agency takes, and what each road needs."""

    default: RouteName = "dvcqg-rest"
    agencies: Mapping[str, str] = field(default_factory=dict)
    sync_derived_dossiers: bool = False
    xroad_rest: XRoadRestConfig = field(default_factory=XRoadRestConfig)
    xroad_soap: XRoadSoapConfig = field(default_factory=XRoadSoapConfig)
    lgsp: LgspConfig = field(default_factory=LgspConfig)
    mappings: MappingsConfig = field(default_factory=MappingsConfig)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """The durable retry schedule: exponential backoff with full jitter, capped."""

    base_delay_s: float = 2.0
    max_delay_s: float = 900.0
    max_attempts: int = 20
    max_attempts_per_class: Mapping[str, int] = field(default_factory=dict)
    """Override ``max_attempts`` per error class: ``network``, ``timeout``, ``server``
    (5xx, 408), ``throttled`` (429), ``session``, ``answer`` (unreadable answer)."""
    budget_ratio: float = 0.2
    """Retries allowed per first attempt on a route (Google SRE retry budget)."""
    budget_min_per_s: float = 1.0
    """Retries always allowed per second, whatever the ratio."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The circuit breaker per route and agency."""

    failure_threshold: int = 5
    """Consecutive failed portal calls that open the breaker."""
    probe_interval_s: float = 30.0
    """While open, one call goes through as a probe this often."""


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """The delivery worker."""

    concurrency: int = 16
    batch_size: int = 64
    lease_s: float = 120.0
    idle_poll_s: float = 1.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    portal_batch_size: int = 10
    """Records per portal call (one agency, one service per call)."""
    rate_limit_per_s: float = 0.0
    """Portal calls per second on this route (0: no limit)."""
    heartbeat_s: float = 0.0
    """How often in-flight leases are extended (0: a third of ``lease_s``)."""
    max_rescues: int = 5
    """A record whose lease is lost more often than this is dead-lettered."""
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    unverifiable_resend: Literal["wait", "resend"] = "wait"
    """A progress step whose earlier attempt may have reached the portal, when the portal
    cannot be asked whether it holds it (no look-up service): ``wait`` (never sent blind;
    it waits until the look-up answers) or ``resend`` (sent again: the portal may then hold
    it twice, at least once instead of at most once)."""


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Structured logs: ``json`` for the daemon, ``console`` for people."""

    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The audit log: signed checkpoints, join-hash key, body size, retention and archives.

    Keys are never written here: ``signing_key_env`` and ``hash_key_env`` *name* the
    environment variables that hold them (base64 of the Ed25519 seed; any secret bytes).
    ``public_key`` (base64, not a secret) is what ``audit verify`` checks signatures with.
    """

    signing_key_env: str = "DVC_GATEWAY_AUDIT_KEY"
    require_signing: bool = False
    public_key: str = ""
    hash_key_env: str = "DVC_GATEWAY_HASH_KEY"
    personal_fields: tuple[str, ...] = DEFAULT_PERSONAL_FIELDS
    checkpoint_every_entries: int = 1000
    checkpoint_every_s: float = 300.0
    max_body_bytes: int = 65536
    retention_days: float = 90.0
    archive_every_s: float = 3600.0
    archive_dir: Path = Path("var/audit-archive")


@dataclass(frozen=True, slots=True)
class AdminToken:
    """One bearer token of the admin API and console, and the role it carries."""

    role: Literal["viewer", "operator", "admin"]
    token: str
    """The secret itself: write it as ``${ENV_NAME}`` so it comes from the environment."""


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The admin API, the web console and the metrics, on a listener of their own."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8081
    tokens: Mapping[str, AdminToken] = field(default_factory=dict)
    """By name (the name is what the audit log records for each action)."""
    public_metrics: bool = False
    """Serve ``/metrics`` without a token (a Prometheus on the same host)."""
    replay_confirm_above: int = 100
    """A replay of more dead letters than this must repeat the count to go ahead."""
    max_list: int = 200
    """The most rows a list returns (dead letters, records, timelines)."""


@dataclass(frozen=True, slots=True)
class IndicatorsConfig:
    """The Decision 766 preview (``dvc-gateway indicators``)."""

    procedures: str = ""
    """A CSV of catalogue facts per procedure (legal duration, issues a document, bears fees);
    see :mod:`gateway.indicators.reading`. Empty: the indicators that need them say so."""
    points: Mapping[str, float] = field(default_factory=dict)
    """Maximum points per indicator code, over the defaults (our reading, [I])."""


@dataclass(frozen=True, slots=True)
class CatalogueConfig:
    """The national catalogue and reconciliation (``dvc-gateway catalogue sync``, ``reconcile``)."""

    agency: str = ""
    """The ``madonvi`` the sharing calls are made as (the portal wants one on every call, spec
    §3.1); empty: the first agency of ``routes.mappings.agencies``' right-hand column."""
    rate_per_s: float = 2.0
    """At most this many sharing calls per second (catalogue sync, reconciliation) [I]."""
    max_details: int = 0
    """``LayThuTuc`` calls per sync run at most (0: all); an unfinished run is resumed."""
    daily_sync: bool = False
    """Also sync once a day in the daemon."""
    daily_first_after_s: float = 3600.0
    """The daemon's first daily sync comes this long after its start (not at once: a daemon
    restarted in a loop must not hammer the portal)."""
    nightly_reconcile: Literal["off", "report", "fix"] = "off"
    """A nightly sweep in the daemon: ``reconcile`` over the last ``reconcile_days`` (``fix``:
    with ``--fix``), at ``reconcile_at_hour`` portal time."""
    reconcile_days: int = 7
    reconcile_at_hour: int = 2
    check_at_intake: bool = True
    """Quarantine records whose codes the latest synced catalogue lacks (never before a sync)."""


@dataclass(frozen=True, slots=True)
class InputConfig:
    """``input``: what every incoming record must look like, whichever source it came from
    (intake, SQL polling, file drop); see :class:`gateway.canonical.RecordRules`."""

    dossier_code_pattern: str = DEFAULT_DOSSIER_CODE_PATTERN
    earliest_year: int = 1990
    latest_year: int = 2100
    max_json_depth: int = 64


@dataclass(frozen=True, slots=True)
class SinkHttpConfig:
    url: str = ""
    token: str = ""
    """Sent as ``Authorization: Bearer``; write it as ``${ENV_NAME}``."""
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class SinkSqlConfig:
    engine: Literal["postgresql", "mysql"] = "postgresql"
    dsn: str = ""
    """From the environment (``${VENDOR_DB_URL}``); the role needs INSERT on the sink's tables."""
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class SinkOutboxConfig:
    path: Path = Path("")


@dataclass(frozen=True, slots=True)
class InboundSinkConfig:
    """Which sink plugin (group ``dvc_gateway.sinks``) and where its deliveries go."""

    plugin: str = "outbox"
    options: Mapping[str, Any] = field(default_factory=dict)
    http: SinkHttpConfig = field(default_factory=SinkHttpConfig)
    sql: SinkSqlConfig = field(default_factory=SinkSqlConfig)
    outbox: SinkOutboxConfig = field(default_factory=SinkOutboxConfig)


@dataclass(frozen=True, slots=True)
class InboundPullConfig:
    """Portal-hosted dossiers pulled by date range (``DanhSachHoSo`` + ``LayTaiLieuHoSo``)
    for services the portal does not push; the watermark is saved with the dossiers."""

    enabled: bool = False
    agency: str = ""
    """``madonvi`` and ``donViXuLy`` of the calls: the agency whose dossiers are pulled."""
    start_at: str = "2026-01-01T00:00:00+07:00"
    """Where the first pull starts (ISO 8601); later pulls start where the last one ended."""
    window_s: float = 86400.0
    """The longest date range one call asks for."""
    settle_s: float = 300.0
    """Ranges end this long before now: a dossier filed a moment ago may not be listed yet."""
    interval_s: float = 300.0


@dataclass(frozen=True, slots=True)
class InboundConfig:
    """Dossiers filed on the national portal and pushed down (spec dvcqg §2.4): the endpoint
    the portal posts to, the sink that hands them to the one-stop system, and the status
    reports that go back (``DongBoTrangThaiHoSo``)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8082
    path: str = "/nps/createdossierfromdvcqg"
    token: str = ""
    """The bearer token the portal sends: ``${ENV_NAME}``. Required unless mutual TLS is on."""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    """With ``tls_cert`` and ``tls_key``: callers must present a certificate from this CA."""
    max_body_bytes: int = 64 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 40 * 1024 * 1024
    max_attachments: int = 50
    allowed_extensions: tuple[str, ...] = (
        "pdf", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx", "zip",
    )  # fmt: skip
    sink: InboundSinkConfig = field(default_factory=InboundSinkConfig)
    report_status: bool = True
    """Send status changes of portal-hosted dossiers back with ``DongBoTrangThaiHoSo``."""
    pull: InboundPullConfig = field(default_factory=InboundPullConfig)
    batch_size: int = 32
    lease_s: float = 120.0
    idle_poll_s: float = 1.0
    retry: RetryConfig = field(default_factory=RetryConfig)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole configuration."""

    portal: PortalConfig
    store: StoreConfig = field(default_factory=StoreConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    routes: RoutesConfig = field(default_factory=RoutesConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    indicators: IndicatorsConfig = field(default_factory=IndicatorsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    catalogue: CatalogueConfig = field(default_factory=CatalogueConfig)
    input: InputConfig = field(default_factory=InputConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
