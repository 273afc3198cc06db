"""Sources: where raw records come from. The gateway owns all of their I/O.

- HTTP push: the intake API (:mod:`~gateway.sources.intake`, ``intake.sources``), with
  :mod:`~gateway.sources.backpressure` refusing work the store cannot take.
- SQL polling of a vendor database (:mod:`~gateway.sources.sql_poll`, ``sources.sql_poll``).
- File drop into a watched folder (:mod:`~gateway.sources.file_drop`, ``sources.file_drop``).

Pulling sources commit their records and their cursor in one store transaction
(:mod:`~gateway.sources.pulling`); :mod:`~gateway.sources.configured` builds them from
configuration.

May import: adapters, the model, encoders (to check records before accepting them), config,
the store contract (:mod:`gateway.store.contract`). Not delivery or routes: a source's job ends
when the store has committed the record.
"""
