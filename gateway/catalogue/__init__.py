"""Two-way with the portal: the national catalogue, code mapping and reconciliation (issue 16).

- :mod:`.snapshot`: one version of the catalogue (procedures, fields, agencies) and what
  changed between two versions (added, removed, renamed, re-coded).
- :mod:`.sync`: fetch it over a route's sharing services (spec §2.2), bounded, resumable and
  rate-limited, and store it as a new version with an audit entry.
- :mod:`.names`: normalised Vietnamese name similarity, and the best catalogue codes for a
  local code.
- :mod:`.checks`: the intake check: an unknown procedure, field or agency code is quarantined
  with suggestions; nothing changes before the first sync.
- :mod:`.reconcile`: compare what the portal holds (``TraCuuHoSo``) with what it acknowledged.

May import: the model, errors, encoders (mapping tables), the store contract. Never a store
engine, a source or the delivery worker: the composition root (CLI, app) hands it a store and
a route.
"""
