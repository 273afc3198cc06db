"""Operators: the admin API, the web console, the metrics and the service manager's protocol.

- :mod:`~gateway.admin.auth`: bearer tokens with the roles viewer < operator < admin,
  compared in constant time; the console's session cookie.
- :mod:`~gateway.admin.api`: the JSON API (health, readiness, status, records, dossier
  timelines, dead letters and replay, route pause/resume, configuration) with its role table.
- :mod:`~gateway.admin.openapi`: the OpenAPI 3.1 document of that API, built from the same table.
- :mod:`~gateway.admin.metrics`: Prometheus metrics (prometheus-client).
- :mod:`~gateway.admin.console`: the server-rendered console, Vietnamese first.
- :mod:`~gateway.admin.systemd`: ``sd_notify`` (READY, WATCHDOG, STOPPING).

It sits beside the composition root: it reads the store, the worker and the audit log that
:mod:`gateway.app` hands it. No stage imports it.
"""
