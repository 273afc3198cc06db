"""The PostgreSQL engine of the store (several gateway processes share the work).

:mod:`~gateway.store.postgres.store` (the :class:`~gateway.store.contract.Store`),
:mod:`~gateway.store.postgres.rows` (row-level reads and writes of one transaction),
:mod:`~gateway.store.postgres.delivery` (claim, complete, lease release),
:mod:`~gateway.store.postgres.schema` (tables and migrations),
:mod:`~gateway.store.postgres.listener` (LISTEN/NOTIFY wake-ups across processes),
:mod:`~gateway.store.postgres.audit` (the audit repository). The decisions both engines share
live one level up (:mod:`gateway.store.accepting`, :mod:`gateway.store.outcomes`).

May import: the store's shared modules, the model, the canonical codec, errors and audit.
Not delivery, routes or sources.
"""
