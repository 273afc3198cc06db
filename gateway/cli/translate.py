"""``dvc-gateway translate``: print exactly what would be sent for some input records.

A dry run for vendors checking their mapping: each input record goes through the adapter,
the input rules, the mapping tables, the encoder and the contract check (the input file is
read by the strict JSON reader intake uses), and the wire message (method, URL,
headers, body) of the route it would take is printed, or the reason it would be rejected
or quarantined. Nothing is stored and nothing is sent. Placeholders stand for what only
exists at send time: ``<session>`` (from the portal login), ``<token>`` (from the LGSP) and
the X-Road message id (a fresh UUID per attempt). A dossier is shown as a create
(``isUpdating = "False"``); a result is shown as the dossier update it makes when the input
holds the dossier before it, and always with its closing step.

``--source NAME`` uses a configured source's adapter and options, whichever kind it is
(``intake.sources``, ``sources.sql_poll``, ``sources.file_drop``); for a file-drop source the
input may be one of its export files (CSV, XML, NDJSON), read with the source's settings.
``--explain`` adds, under each record, every wire field with the canonical field and the
input field that produced it (:mod:`gateway.cli.explain`).

Exit code 0 when every record would be sent, 1 when any would be rejected or quarantined.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.contract import Adapter
from gateway.cli.explain import explain
from gateway.cli.options import add_config
from gateway.config.loading import load_config
from gateway.config.mappings import load_tables
from gateway.config.rules import route_problems
from gateway.config.schema import (
    ROUTE_NAMES,
    FileDropConfig,
    GatewayConfig,
    RouteName,
    SourceConfig,
    SqlPollConfig,
)
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope
from gateway.errors import ConfigError, Problem, TranslationError
from gateway.model import Dossier, ProgressStep, Record, Result, apply_result
from gateway.routes.lgsp import access_token_header
from gateway.routes.xroad_rest import forward_headers, forward_url
from gateway.routes.xroad_soap import NO_SESSION, build_envelope
from gateway.sources import strict_json
from gateway.sources.configured import record_rules
from gateway.sources.file_formats import FileFormatError, parse_records
from gateway.sources.strict_json import StrictJsonError

MAX_INPUT_BYTES = 50 * 1024 * 1024
SESSION = "<session>"
MESSAGE_ID = "<x-road-message-id>"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``translate`` to the ``dvc-gateway`` parser."""
    parser = sub.add_parser("translate", help="print the wire messages for input records")
    add_config(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--adapter", help="an installed adapter, e.g. canonical")
    which.add_argument(
        "--source", help="a configured source (intake, sql_poll or file_drop): its adapter+options"
    )
    parser.add_argument("--input", type=Path, required=True, help="a JSON array (or object)")
    parser.add_argument(
        "--explain", action="store_true", help="show which input field made each wire field"
    )
    parser.add_argument(
        "--route",
        choices=ROUTE_NAMES,
        default=None,
        help="force this route (default: the configured route per agency)",
    )
    parser.set_defaults(func=_cmd_translate)


def _cmd_translate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.route is not None:
        problems = route_problems(config.routes, {args.route})
        if problems:
            raise ConfigError(problems)
    raw = args.input.read_bytes()[: MAX_INPUT_BYTES + 1]
    if len(raw) > MAX_INPUT_BYTES:
        print(f"error: {args.input} is larger than {MAX_INPUT_BYTES} bytes", file=sys.stderr)
        return 2
    adapter = _adapter(config, args.adapter, args.source)
    try:
        records = _records(config, args.source, args.input, raw)
    except StrictJsonError as exc:
        print(f"error: {args.input} is refused as intake would refuse it: {exc}", file=sys.stderr)
        return 2
    except (UnicodeDecodeError, FileFormatError) as exc:
        print(f"error: {args.input} cannot be read: {exc}", file=sys.stderr)
        return 2
    ok = True
    for text, fine in translate(config, adapter, records, args.route, explained=args.explain):
        print(text)
        ok = ok and fine
    return 0 if ok else 1


def _adapter(config: GatewayConfig, adapter: str | None, source: str | None) -> Adapter:
    """The adapter of ``--source`` (with its options), or ``--adapter`` with the options of
    the first intake source that uses it (none when no source does)."""
    if source is None:
        assert adapter is not None
        options: dict[str, Any] = {}
        for pushed in config.intake.sources.values():
            if pushed.adapter == adapter:
                options = dict(pushed.options)
                break
        return registry.create(adapter, options, "translate")
    kinds: dict[str, Mapping[str, SourceConfig | SqlPollConfig | FileDropConfig]] = {
        "intake.sources": config.intake.sources,
        "sources.sql_poll": config.sources.sql_poll,
        "sources.file_drop": config.sources.file_drop,
    }
    for path, sources in kinds.items():
        if source in sources:
            found = sources[source]
            return registry.create(found.adapter, found.options, f"{path}.{source}")
    known = ", ".join(sorted(n for sources in kinds.values() for n in sources)) or "none"
    raise ConfigError([Problem("--source", f"no source {source!r} (configured: {known})")])


def _records(config: GatewayConfig, source: str | None, path: Path, raw: bytes) -> list[Any]:
    """The input records: a JSON array or object; for a file-drop source also one of its
    export files, read the way the source reads them."""
    drop = config.sources.file_drop.get(source) if source is not None else None
    fmt = path.suffix.lower().lstrip(".")
    if drop is not None and fmt in ("csv", "xml", "ndjson"):
        return parse_records(raw, fmt, max_records=drop.max_records_per_file,
                             csv_delimiter=drop.csv_delimiter, csv_encoding=drop.csv_encoding,
                             xml_record_tag=drop.xml_record_tag)  # fmt: skip
    document = strict_json.loads(raw, max_depth=config.input.max_json_depth)
    return document if isinstance(document, list) else [document]


def translate(
    config: GatewayConfig,
    adapter: Adapter,
    raws: list[Any],
    route: RouteName | None,
    *,
    explained: bool = False,
) -> Iterator[tuple[str, bool]]:
    """``(text, would be sent)`` for every input record, in order."""
    rules = record_rules(config.input)
    tables = load_tables(config.routes.mappings)
    snapshots: dict[str, Dossier] = {}
    for index, raw in enumerate(raws):
        title = f"# record {index}"
        try:
            prepared = tables.map_raw_status(raw)
            record = tables.apply(rules.check(adapter.translate(prepared)))
            chosen = route or _route_name(config, record.agency_code)
            derived = isinstance(record, Dossier) and bool(record.origin_dossier_code)
            if derived and not config.routes.sync_derived_dossiers:
                yield f"{title}: not synced: derived inter-agency dossier (spec §1.5)\n", True
                continue
            messages = list(_messages(record, snapshots))
            texts = [_wire(config, chosen, body, issue) for body, issue in messages]
        except TranslationError as exc:
            yield f"{title}: quarantined or rejected: {exc}\n", False
            continue
        head = f"{title}: {record.kind} {record.dossier_code} -> route {chosen}"
        if explained:
            lines = explain(adapter.translate, prepared)
            texts.append("\n".join([f"{title}: wire field <- canonical field <- input", *lines]))
        yield "\n".join([head, *texts]), True


def _route_name(config: GatewayConfig, agency: str) -> RouteName:
    name = config.routes.agencies.get(agency, config.routes.default)
    assert name in ROUTE_NAMES
    return name  # type: ignore[return-value]


def _messages(
    record: Record, snapshots: dict[str, Dossier]
) -> Iterator[tuple[dict[str, Any], str]]:
    code = record.dossier_code
    if isinstance(record, Dossier):
        snapshots[code] = record
        yield _dossier_body(record), code
    elif isinstance(record, ProgressStep):
        yield _step_body(record), code
    elif isinstance(record, Result):
        snapshot = snapshots.get(code)
        if snapshot is not None:
            update, closing = apply_result(snapshot, record)
            body = _dossier_body(update)
            body["isUpdating"] = "True"
            yield body, code
        else:
            closing = apply_result(_placeholder(record), record)[1]
        yield _step_body(closing), code


def _placeholder(result: Result) -> Dossier:
    return Dossier(result.dossier_code, result.agency_code, "", result.status, None, None, "")


def _dossier_body(d: Dossier) -> dict[str, Any]:
    return envelope(session=SESSION, agency_code=d.agency_code, service="DongBoHoSoMC",
                    data=[encode_dossier(d)], updating=False)  # fmt: skip


def _step_body(s: ProgressStep) -> dict[str, Any]:
    return envelope(session=SESSION, agency_code=s.agency_code, service="CapNhatTienDoHoSoMC",
                    data=[encode_step(s)], updating=None)  # fmt: skip


def _wire(config: GatewayConfig, route: RouteName, body: dict[str, Any], issue: str) -> str:
    routes = config.routes
    if route == "xroad-soap":
        soap = build_envelope(routes.xroad_soap, {**body, "session": NO_SESSION}, issue=issue,
                              message_id=MESSAGE_ID)  # fmt: skip
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
        return _http(routes.xroad_soap.security_server_url, headers, soap.decode("utf-8"))
    check_message(f"{body['service']}.request", body)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    path = config.portal.service_path
    if route == "xroad-rest":
        url = forward_url(routes.xroad_rest, path)
        headers.update(forward_headers(routes.xroad_rest))
    elif route == "lgsp":
        url = routes.lgsp.base_url.rstrip("/") + routes.lgsp.portal_prefix + path
        headers["Authorization"] = "Bearer <token>"
        if routes.lgsp.auth == "lgspaccesstoken":
            headers["lgspaccesstoken"] = access_token_header(routes.lgsp)[:12] + "...(credential)"
    else:
        url = config.portal.base_url.rstrip("/") + path
    return _http(url, headers, json.dumps(body, ensure_ascii=False, indent=2))


def _http(url: str, headers: dict[str, str], body: str) -> str:
    lines = [f"POST {url}", *(f"{k}: {v}" for k, v in headers.items()), "", body, ""]
    return "\n".join(lines)
