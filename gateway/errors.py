"""Every error the gateway raises, arranged by what happens next.

::

    GatewayError
    ├── ConfigError              the configuration is wrong: refuse to start, list every problem
    ├── TranslationError         the record is wrong: reject at intake or quarantine; never retry
    ├── StoreError               the local database failed: the operation did not happen
    │   ├── StoreUnavailableError    no such database, or it cannot be reached: fix
    │   │                            store.path / store.dsn or start the server
    │   ├── StoreLostError           the SQLite file was deleted or replaced under the running
    │   │                            daemon: it stops accepting; restore the file or restart
    │   ├── StoreConflictError       a PostgreSQL transaction crossed another and was aborted
    │   │                            whole: the store runs it again
    │   └── ArchiveBusyError         another process is archiving the audit log right now:
    │                                nothing was done; archive in a later round
    ├── SourceError              a pulling source could not read (vendor database down, bad
    │                            query, unreadable folder): nothing was taken; try next round
    └── DeliveryError            talking to the portal failed
        ├── RetryableDeliveryError   timeouts, connection errors, 5xx, 429, session expiry:
        │   │                        the retry policy schedules another attempt
        │   └── SessionExpiredError  the portal no longer knows our session: log in again
        ├── LookupUnavailableError   the portal cannot say which progress steps it holds (no
        │                            look-up service, or it refused): doubtful steps wait,
        │                            or are re-sent if delivery.unverifiable_resend says so
        └── PermanentDeliveryError   the portal rejected the record: dead-letter it with the
                                     portal's error code and message

Foreign exceptions (aiohttp, sqlite3, yaml, zeep, asyncpg, aiomysql) are translated into this
tree at one boundary per library: the route module for aiohttp, the store for sqlite3, config
for yaml, ``gateway/sources/vendor_db.py`` for the vendor database drivers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document, at a path (``$.data[0].NgayHenTra``, ``portal.url``).

    ``rule`` names the rule broken when one is known (a JSON Schema keyword such as ``enum``
    or ``required``, or a gateway rule such as ``agency-prefix``); the message catalogue
    (:mod:`gateway.encoders.messages`) words the reason in Vietnamese or English by it."""

    path: str
    reason: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


SHOWN_DIGITS = 4
"""A number (or a string of digits) this short is quoted in a reason: a status of ``11`` or a
channel of ``"7"`` helps the vendor, and no ID, phone or tax number is that short."""


_CODE = re.compile(r"[A-Za-z0-9_.:/-]{1,40}")
_LONG_DIGITS = re.compile(r"\d{9,}")


def code_shown(value: object) -> str:
    """A bad *code* (a local procedure code, a vendor status key) quoted when it looks like
    one, so the operator can add it to a table: ASCII letters, digits and ``._:/-``, at most
    40 characters, no run of 9 digits (an ID, tax or phone number is not a code). Anything else,
    a name typed into a code column for one, is described by :func:`value_shape`."""
    if isinstance(value, str) and _CODE.fullmatch(value) and not _LONG_DIGITS.search(value):
        return repr(value)
    return value_shape(value)


def value_shape(value: object) -> str:
    """What a bad value is, for a reason that names the field and the rule but never the value
    (reasons reach the audit log, and a name typed into the wrong field is personal data):
    ``"a string of 14 characters"``, ``"a number of 12 digits"``, ``"null"``; only a
    number or digit string of at most :data:`SHOWN_DIGITS` digits is shown (``11``, ``'3'``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= SHOWN_DIGITS else f"a number of {digits} digits"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        if value.isascii() and value.isdigit() and len(value) <= SHOWN_DIGITS:
            return repr(value)
        return f"a string of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


class ConfigError(GatewayError):
    """The configuration cannot be used. Carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class TranslationError(GatewayError):
    """A record cannot become a canonical record or a wire message. Quarantine, never retry."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @classmethod
    def at(cls, path: str, reason: str) -> TranslationError:
        return cls([Problem(path, reason)])


class StoreError(GatewayError):
    """The local store failed; the operation it was asked for did not happen."""


class StoreUnavailableError(StoreError):
    """The database does not exist or cannot be reached (commands exit with code 2)."""


class StoreLostError(StoreError):
    """The database file was unlinked or replaced under the running store: nothing is written
    to it any more (intake answers 503) until the operator restores it or restarts."""


class StoreConflictError(StoreError):
    """The transaction crossed another one (a deadlock, a serialization failure) and was
    aborted whole; the store runs it again."""


class ArchiveBusyError(StoreError):
    """Another process holds the audit archive lock; its run covers the same entries."""


class SourceError(GatewayError):
    """A pulling source could not read its vendor's system; its cursor did not move."""


class DeliveryError(GatewayError):
    """Delivery to the portal failed. ``code`` and ``message`` are the portal's, if any."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class RetryableDeliveryError(DeliveryError):
    """Worth trying again later: the retry policy decides when."""


class SessionExpiredError(RetryableDeliveryError):
    """The portal rejected our session; the route logs in again before the next call."""


class PermanentDeliveryError(DeliveryError):
    """The portal refused the record itself: sending it again cannot help."""


class LookupUnavailableError(DeliveryError):
    """The portal cannot be asked which progress steps it holds: the look-up service is not
    configured, or the portal does not offer it (it refused the call). Never the record's
    fault: a doubtful step waits (``delivery.unverifiable_resend``)."""
