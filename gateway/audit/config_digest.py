"""The ``config_digest`` of the ``config_loaded`` and ``config_reloaded`` audit entries.

It tells an auditor whether two runs used the same configuration, and nothing else. The
configuration holds secrets (the portal password, LGSP credentials, passwords inside
database DSNs) once ``${ENV}`` is substituted, and the audit log is read by more people than
the gateway's environment: an unkeyed hash over it lets anyone holding the log test password
guesses offline. So:

- every secret value is blanked before hashing (fields named ``password``, ``token``,
  ``secret``, ``secret_key``, ``access_key``, ``consumer_key``, or ending in ``_password``,
  ``_secret``, ``_token``..., adapter options too, and the password inside a DSN),
  so two configurations that differ only in a secret have the same digest (a rotated password
  is not a configuration change);
- the digest is an HMAC-SHA256 under a key only the gateway has (the join-hash key
  ``audit.hash_key_env``, or one derived from the checkpoint signing key), installed once at
  start by :func:`gateway.audit.chain.policy_from_config`: without it the digest cannot be
  recomputed, whatever is guessed. With neither key set it is a plain SHA-256 of the blanked
  configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

SECRET_FIELD = re.compile(
    r"(?i)(^|_)(password|passwd|pwd|token|secret|secret_key|access_key|consumer_key|api_key)$"
)
_DSN_FIELD = re.compile(r"(?i)^(\w*_)?dsn$")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):[^@\s]*@")
_KV_PASSWORD = re.compile(r"(?i)\b(password|pwd)\s*=\s*('[^']*'|\S+)")
BLANK = "<secret>"

_key: bytes | None = None


def set_digest_key(key: bytes | None) -> None:
    """Install (or remove) the key of the configuration digest; called once at start."""
    global _key  # noqa: PLW0603 - one process-wide setting, like the masking join key
    _key = key or None


def config_digest(config: object) -> str:
    """The digest of a configuration: its secrets blanked, keyed when a key is installed."""
    text = json.dumps(without_secrets(config), sort_keys=True, ensure_ascii=False)
    if _key is None:
        return hashlib.sha256(text.encode()).hexdigest()
    return hmac.new(_key, text.encode(), hashlib.sha256).hexdigest()


def without_secrets(value: Any, name: str = "") -> Any:
    """A JSON-like copy of a configuration (dataclasses, mappings, sequences, paths) with
    every secret value replaced by :data:`BLANK`."""
    if isinstance(value, str):
        if value and SECRET_FIELD.search(name):
            return BLANK
        if _DSN_FIELD.match(name):
            return _KV_PASSWORD.sub(rf"\1={BLANK}", _URL_PASSWORD.sub(rf"\1:{BLANK}@", value))
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: without_secrets(getattr(value, f.name), f.name)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): without_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [without_secrets(v, name) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
