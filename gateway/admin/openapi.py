"""The admin API's OpenAPI 3.1 document, built from :data:`gateway.admin.endpoints.ENDPOINTS`.

One table drives the router, the role checks and this document, so the document cannot drift
from what the server does. Each operation names the least role in ``x-role``.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from gateway.admin.endpoints import ENDPOINTS, Endpoint

ERROR = {"$ref": "#/components/schemas/Error"}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dvc-gateway admin API",
            "version": _version(),
            "description": (
                "Operators' API of a running gateway: health, readiness, status, records, "
                "dossier timelines, dead letters and replay, route pauses, configuration. "
                "Roles: viewer < operator < admin (bearer tokens from the configuration)."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            },
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": _path_type(name)}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": kind},
        }
        for name, kind, text in endpoint.query
    ]
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": _content(endpoint)},
        "400": {"description": "Bad request", "content": {"application/json": {"schema": ERROR}}},
        "503": {"description": "Not ready, draining, or the store failed"},
    }
    if endpoint.role is not None:
        responses["401"] = {"description": "Missing or wrong bearer token"}
        responses["403"] = {"description": f"Needs the {endpoint.role.name.lower()} role"}
    if "{" in endpoint.path:
        responses["404"] = {"description": "Not found"}
    if endpoint.handler == "replay":
        responses["409"] = {"description": "Above the threshold: confirm must repeat the count"}
    operation: dict[str, Any] = {
        "operationId": endpoint.handler,
        "summary": endpoint.summary,
        "parameters": parameters,
        "responses": responses,
        "x-role": endpoint.role.name.lower() if endpoint.role else "none",
    }
    if endpoint.role is not None:
        operation["security"] = [{"bearer": []}]
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": dict(endpoint.body)}},
        }
    return operation


def _content(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.handler == "metrics":
        return {"text/plain": {"schema": {"type": "string"}}}
    return {"application/json": {"schema": {"type": "object"}}}


def _path_type(name: str) -> str:
    return "integer" if name == "id" else "string"


def _version() -> str:
    try:
        return version("dvc-gateway")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0"
