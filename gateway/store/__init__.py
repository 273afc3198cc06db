"""The store: the durable outbox, the one place records live between a source and the portal.

Shared by both engines: :mod:`~gateway.store.contract` (the :class:`Store` protocol and its
values), :mod:`~gateway.store.accepting` (what accepting a batch decides),
:mod:`~gateway.store.outcomes` (what a delivery outcome does to a record, and the per-dossier
ordering rule) and :mod:`~gateway.store.engines` (opens the configured engine). One
sub-package per engine: :mod:`gateway.store.sqlite`, :mod:`gateway.store.postgres`.

May import: the model, the canonical codec, errors, config, audit. Never delivery, routes or
sources: they use the store through its contract.
"""
