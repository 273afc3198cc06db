"""Audit: every record's life in a tamper-evident, signed, searchable log.

- :mod:`~gateway.audit.chain`: entries, the hash chain, the writer and verification.
- :mod:`~gateway.audit.keys`: Ed25519 signing keys and signed checkpoints.
- :mod:`~gateway.audit.archive`: moving old entries to archive files, and reading them back.
- :mod:`~gateway.audit.attempts`: the audit description of one delivery attempt (what was
  sent, its digest, masked).
- :mod:`~gateway.audit.masking`: personal data masked by field before it reaches a log or the
  audit log.
- :mod:`~gateway.audit.config_digest`: the keyed digest of the configuration, secrets blanked.

May import: the model, errors, config, the store contract, and the encoders' hardened XML
parser (:func:`gateway.encoders.wsdl.parse_xml`, to mask SOAP bodies element by element).
Not the store engines, delivery, routes or sources: the engines write audit entries, not
the other way round.
"""
