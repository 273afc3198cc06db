"""The Decision 766 preview: what the portal will score, from the gateway's own data.

- :mod:`~gateway.indicators.f766`: the rules, pure, one docstring per rule citing spec §8.2.
- :mod:`~gateway.indicators.reading`: each dossier's history from the store (through its
  read-only query), and the catalogue facts file.
- :mod:`~gateway.indicators.report`: the table per agency or procedure, the sync ratio per
  agency, and the dossiers that cost points.

May import: the model, the canonical codec, errors. Not delivery, routes or sources, and no
store engine: the caller hands it an open store.
"""
