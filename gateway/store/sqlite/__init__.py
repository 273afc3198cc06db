"""The SQLite engine of the store (one process, embedded, the default).

:mod:`~gateway.store.sqlite.store` (the :class:`~gateway.store.contract.Store`),
:mod:`~gateway.store.sqlite.rows` (the row-level reads and writes of one transaction),
:mod:`~gateway.store.sqlite.schema` (tables and migrations), :mod:`~gateway.store.sqlite.audit`
(the audit repository). The decisions both engines share live one level up
(:mod:`gateway.store.accepting`, :mod:`gateway.store.outcomes`).

May import: the store's shared modules, the model, the canonical codec, errors and audit.
Not delivery, routes or sources.
"""
