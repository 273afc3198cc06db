"""Sources: where raw records come from. The gateway owns all of their I/O.

- HTTP push: the intake API (:mod:`~gateway.sources.intake`, ``intake.sources``), with
  :mod:`~gateway.sources.backpressure` refusing work the store cannot take.
- SQL polling of a vendor database (:mod:`~gateway.sources.sql_poll`, ``sources.sql_poll``).
- File drop into a watched folder (:mod:`~gateway.sources.file_drop`, ``sources.file_drop``).

Vendor JSON is read by :mod:`~gateway.sources.strict_json` (depth, repeated keys, NaN), and
every translated record is checked against the input rules
(:class:`gateway.canonical.RecordRules`) before it reaches the store; one bad record or file
is rejected with its reason and never fails the others.

Pulling sources commit their records and their cursor in one store transaction
(:mod:`~gateway.sources.pulling`); :mod:`~gateway.sources.configured` builds them from
configuration.

May import: adapters, the model and its canonical form, encoders (to check records before
accepting them), config, the store contract (:mod:`gateway.store.contract`). Not delivery or
routes: a source's job ends when the store has committed the record.
"""
