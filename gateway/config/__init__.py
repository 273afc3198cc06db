"""Configuration: data, checked once, every error at once; secrets only from the environment.

- :mod:`~gateway.config.schema`: the frozen dataclasses, one per section, with defaults.
- :mod:`~gateway.config.rules`: rules spanning several values (routes and what each needs,
  sources, audit settings).
- :mod:`~gateway.config.loading`: YAML in, ``${ENV}`` substituted, schema built, rules applied
  (``load_config``). The schema knows nothing of the rules, the rules take the schema's values.
- :mod:`~gateway.config.typed_input`: the pure dataclass reader the schema and adapters' options
  use.
- :mod:`~gateway.config.mappings`: loads the code-mapping CSV files the configuration names.

May import: errors, the audit's masking defaults, the canonical form's default rules, the
encoders' mapping tables. Nothing that
runs: no store, delivery, routes or sources.
"""
