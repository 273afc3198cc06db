"""The audit log: one entry for every state change, hash-chained.

Entries are written by the store in the same transaction as the change they describe.
Each entry's hash is SHA-256 over the previous entry's hash and a canonical encoding of the
entry (sorted keys, no spaces, UTF-8), so editing, deleting or reordering an entry breaks
every hash after it. :func:`verify_chain` finds the first entry that does not verify.

Entries never hold personal data: they carry the dossier code, the record id, the source,
digests and the portal's answers, not the citizen's details.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit entry as stored."""

    seq: int
    at: float
    event: str
    record_id: int | None
    dossier_code: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


def canonical_bytes(
    seq: int,
    at: float,
    event: str,
    record_id: int | None,
    dossier_code: str,
    detail: Mapping[str, Any],
) -> bytes:
    """The exact bytes an entry's hash covers."""
    body = {
        "seq": seq,
        "at": round(at, 6),
        "event": event,
        "record_id": record_id,
        "dossier_code": dossier_code,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    """SHA-256 of the previous hash followed by the entry's canonical bytes."""
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], start_hash: str = GENESIS_HASH) -> str | None:
    """Return ``None`` when the chain verifies, else why the first bad entry is bad."""
    prev = start_hash
    expected_seq: int | None = None
    for entry in entries:
        if expected_seq is not None and entry.seq != expected_seq:
            return f"entry seq {entry.seq}: expected seq {expected_seq} (missing or reordered)"
        if entry.prev_hash != prev:
            return f"entry seq {entry.seq}: prev_hash does not match the entry before it"
        payload = canonical_bytes(
            entry.seq, entry.at, entry.event, entry.record_id, entry.dossier_code, entry.detail
        )
        if chain_hash(prev, payload) != entry.hash:
            return f"entry seq {entry.seq}: hash does not match its content"
        prev = entry.hash
        expected_seq = entry.seq + 1
    return None
