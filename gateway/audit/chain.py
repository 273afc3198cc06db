"""The audit log: one entry for every state change, hash-chained, with signed checkpoints.

Entries are written by the store in the same transaction as the change they describe, through
:class:`ChainWriter`, which any store engine drives through the two-method
:class:`AuditSink`. Each entry has a sequence number; its hash is SHA-256 over the previous
entry's hash and a canonical encoding of the entry (sorted keys, no spaces, UTF-8), so editing,
deleting or reordering an entry breaks every hash after it.

A chain alone does not catch a cut tail or a chain recomputed after an edit. So every
``checkpoint_every_entries`` entries or ``checkpoint_every_s`` seconds (whichever comes first)
the writer signs a checkpoint, a note binding a sequence number to the hash of the log up to
it, with an Ed25519 key from the environment. A forger without the private key can neither
re-sign a rewritten prefix nor hide a cut behind a checkpoint that names a missing entry, and
a log whose checkpoints were deleted fails the rule that no stretch of more than
``checkpoint_every_entries`` entries goes unsigned. (A cut at a checkpoint boundary that also
deletes the later checkpoints looks like an older log; the daemon's log line
``audit_checkpoint_signed`` is the outside witness for that, see :func:`verify_log`'s
``anchor``.)

Entries never hold personal data: every detail passes :func:`gateway.audit.masking.mask_value`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.config_digest import set_digest_key
from gateway.audit.keys import Checkpoint, Signer, checkpoint_message, key_id
from gateway.audit.masking import mask_value, set_hash_key, set_personal_fields
from gateway.config.schema import AuditConfig
from gateway.errors import ConfigError, GatewayError, Problem

GENESIS_HASH = "0" * 64
_encode_text = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes

log = structlog.get_logger("gateway.audit")


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
    detail_json: str = field(default="", compare=False, repr=False)
    """The detail as encoded once by :class:`ChainWriter` (canonical JSON: sorted keys, no
    spaces), for the engine to store as is; empty for an entry read back from a store."""


def entry_from_row(row: Sequence[Any]) -> AuditEntry:
    """An entry from a stored row (seq, at, event, record_id, dossier_code, detail JSON,
    prev_hash, hash); an unreadable detail is kept as text, and fails its hash, as it should."""
    seq, at, event, record_id, dossier_code, detail, prev_hash, digest = row
    try:
        parsed = json.loads(detail)
    except (json.JSONDecodeError, TypeError):
        parsed = {"unreadable_detail": str(detail)}
    return AuditEntry(seq, at, event, record_id, dossier_code, parsed, prev_hash, digest)


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


def detail_text(detail: Mapping[str, Any]) -> str:
    """A detail in the canonical JSON of :func:`canonical_bytes` (how entries store it)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes_of(
    seq: int, at: float, event: str, record_id: int | None, dossier_code: str, detail_json: str
) -> bytes:
    """:func:`canonical_bytes` around a detail already encoded by :func:`detail_text`, so the
    writer encodes each detail once for the hash and the stored row alike. The keys are
    written in sorted order, each value encoded as ``json.dumps`` encodes it inside the
    object: byte for byte the same as :func:`canonical_bytes` (a unit test holds it)."""

    def enc(value: object) -> str:
        if type(value) is str:
            return _encode_text(value)
        if type(value) is int:
            return int.__repr__(value)
        return json.dumps(value, ensure_ascii=False)

    return (
        f'{{"at":{enc(round(at, 6))},"detail":{detail_json},"dossier_code":{enc(dossier_code)},'
        f'"event":{enc(event)},"record_id":{enc(record_id)},"seq":{enc(seq)}}}'
    ).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    """SHA-256 of the previous hash followed by the entry's canonical bytes."""
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """When checkpoints are written, who signs them, how large an audited body may be."""

    checkpoint_every_entries: int = 1000
    checkpoint_every_s: float = 300.0
    signer: Signer | None = None
    max_body_bytes: int = 65536


def policy_from_config(config: AuditConfig, environ: Mapping[str, str]) -> AuditPolicy:
    """The audit policy, with the signing key read from the environment; installs the
    masking join key too. Raises ConfigError for a bad key or a required key that is unset."""
    hash_key = environ.get(config.hash_key_env, "")
    set_hash_key(hash_key.encode() if hash_key else None)
    set_personal_fields(config.personal_fields)
    text = environ.get(config.signing_key_env, "")
    signer: Signer | None = None
    if text:
        try:
            signer = Signer.from_text(text)
        except ValueError as exc:
            problem = Problem(f"${config.signing_key_env}", f"not a base64 Ed25519 seed: {exc}")
            raise ConfigError([problem]) from exc
    elif config.require_signing:
        problem = Problem("audit.signing_key_env", f"{config.signing_key_env} is not set")
        raise ConfigError([problem])
    else:
        log.warning("audit_checkpoints_unsigned", variable=config.signing_key_env)
    if hash_key:
        set_digest_key(hash_key.encode())
    else:
        set_digest_key(signer.derived_key("config-digest") if signer else None)
    return AuditPolicy(
        checkpoint_every_entries=config.checkpoint_every_entries,
        checkpoint_every_s=config.checkpoint_every_s,
        signer=signer,
        max_body_bytes=config.max_body_bytes,
    )


class AuditSink(Protocol):
    """Where a store engine puts entries and checkpoints, inside its open transaction."""

    def write_entry(self, entry: AuditEntry) -> None: ...

    def write_checkpoint(self, checkpoint: Checkpoint) -> None: ...


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the log stands when a transaction begins (read by the engine)."""

    seq: int = 0
    hash: str = GENESIS_HASH
    checkpoint_seq: int = 0
    checkpoint_at: float | None = None


@dataclass
class ChainWriter:
    """Appends entries to one transaction's view of the chain; engine-agnostic."""

    sink: AuditSink
    policy: AuditPolicy
    head: ChainHead
    signed: list[Checkpoint] = field(default_factory=list)

    def append(
        self,
        at: float,
        event: str,
        record_id: int | None,
        dossier_code: str,
        detail: Mapping[str, Any],
    ) -> AuditEntry:
        seq = self.head.seq + 1
        masked = mask_value(dict(detail))
        encoded = detail_text(masked)
        payload = canonical_bytes_of(seq, at, event, record_id, dossier_code, encoded)
        digest = chain_hash(self.head.hash, payload)
        entry = AuditEntry(
            seq,
            round(at, 6),
            event,
            record_id,
            dossier_code,
            masked,
            self.head.hash,
            digest,
            encoded,
        )
        self.sink.write_entry(entry)
        head = self.head
        last_at = head.checkpoint_at
        due = (
            last_at is None
            or seq - head.checkpoint_seq >= self.policy.checkpoint_every_entries
            or at - last_at >= self.policy.checkpoint_every_s
        )
        if due:
            checkpoint = self._checkpoint(seq, digest, at)
            self.sink.write_checkpoint(checkpoint)
            self.signed.append(checkpoint)
            self.head = ChainHead(seq, digest, seq, at)
        else:
            self.head = ChainHead(seq, digest, head.checkpoint_seq, last_at)
        return entry

    def mark(self) -> tuple[ChainHead, int]:
        """Where the writer stands, for :meth:`rewind` after a savepoint is rolled back."""
        return self.head, len(self.signed)

    def rewind(self, mark: tuple[ChainHead, int]) -> None:
        """Forget the entries and checkpoints appended since ``mark`` (their rows were
        rolled back with a savepoint): the next entry chains to the head at ``mark``."""
        self.head, signed = mark
        del self.signed[signed:]

    def seal(self, at: float) -> Checkpoint | None:
        """Sign the head now if entries since the last checkpoint are unsigned (the daemon
        calls this every ``checkpoint_every_s`` and at shutdown, so no entry waits longer)."""
        head = self.head
        if head.seq == head.checkpoint_seq:
            return None
        checkpoint = self._checkpoint(head.seq, head.hash, at)
        self.sink.write_checkpoint(checkpoint)
        self.signed.append(checkpoint)
        self.head = ChainHead(head.seq, head.hash, head.seq, at)
        return checkpoint

    def _checkpoint(self, seq: int, digest: str, at: float) -> Checkpoint:
        if self.policy.signer is None:
            return Checkpoint(seq, round(at, 6), digest, "", "")
        return self.policy.signer.sign(seq, digest, at)

    def committed(self) -> None:
        """Call after the transaction commits: the signed heads go to the log as witnesses."""
        for checkpoint in self.signed:
            log.info(
                "audit_checkpoint_signed",
                seq=checkpoint.seq,
                head=checkpoint.hash,
                key_id=checkpoint.key_id,
            )
        self.signed.clear()


async def seal_periodically(
    seal: Callable[[float], Awaitable[bool]],
    interval_s: float,
    stop: asyncio.Event,
    clock: Callable[[], float],
) -> None:
    """Sign the audit head every ``interval_s`` until ``stop`` is set, so an entry written in
    a quiet period is covered by a checkpoint within ``checkpoint_every_s``."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            try:
                await seal(clock())
            except GatewayError as exc:
                log.warning("audit_seal_failed", error=str(exc))


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """Why verification stopped: the first entry that cannot be trusted, and the reason."""

    index: int
    reason: str

    def __str__(self) -> str:
        return f"first bad entry: seq {self.index}: {self.reason}"


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    unsigned_tail: int = 0
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding is None


def verify_chain(entries: Iterable[AuditEntry], start_hash: str = GENESIS_HASH) -> str | None:
    """Return ``None`` when the hash chain alone verifies, else why the first bad entry is bad."""
    report = verify_log(entries, (), start_hash=start_hash, max_gap=None)
    return None if report.finding is None else str(report.finding)


def verify_log(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    *,
    start_seq: int = 1,
    start_hash: str = GENESIS_HASH,
    public_key: Ed25519PublicKey | Iterable[Ed25519PublicKey] | None = None,
    max_gap: int | None = 1000,
    anchor: tuple[int, str] | None = None,
) -> VerifyReport:
    """Check the chain, every checkpoint and the gaps between them; stop at the first bad entry.

    ``start_seq``/``start_hash`` continue from an earlier archive (X-Road style). With a
    ``public_key`` (one, or several after key rotations, told apart by key id) every
    checkpoint's signature is checked. ``max_gap``: the longest stretch
    of entries allowed without a checkpoint. ``anchor``: a (seq, head hash) seen elsewhere,
    e.g. in the daemon's ``audit_checkpoint_signed`` log line.
    """
    report = VerifyReport(last_seq=start_seq - 1, last_hash=start_hash)
    ring = key_ring(public_key)
    marks = {c.seq: c for c in checkpoints if c.seq >= start_seq}
    if anchor is not None:
        marks.setdefault(anchor[0], Checkpoint(anchor[0], 0.0, anchor[1], "anchor", ""))
    trusted = start_seq - 1  # the last seq a valid checkpoint (or the start) vouches for
    for entry in entries:
        finding = _check_entry(entry, report)
        if finding is None and entry.seq in marks:
            finding = _check_mark(marks.pop(entry.seq), entry, trusted, ring, report)
            trusted = entry.seq if finding is None else trusted
        if finding is None and max_gap is not None and entry.seq - trusted > max_gap:
            finding = Finding(
                trusted + 1,
                f"no signed checkpoint within {max_gap} entries "
                f"after seq {trusted} (checkpoints deleted or log rewritten)",
            )
        if finding is not None:
            report.finding = finding
            return report
        report.entries += 1
        report.last_seq, report.last_hash = entry.seq, entry.hash
    if marks:
        seq = min(marks)
        kind = "the anchor" if marks[seq].key_id == "anchor" else "a checkpoint"
        report.finding = Finding(
            report.last_seq + 1,
            f"{kind} names seq {seq} but the log ends at seq {report.last_seq}: the tail was cut",
        )
        return report
    report.unsigned_tail = report.last_seq - trusted
    if ring is None:
        report.notes.append("signatures not checked: no public key given")
    return report


def key_ring(
    keys: Ed25519PublicKey | Iterable[Ed25519PublicKey] | None,
) -> dict[str, Ed25519PublicKey] | None:
    """Public keys by key id (None: signatures are not checked)."""
    if keys is None:
        return None
    listed = [keys] if isinstance(keys, Ed25519PublicKey) else list(keys)
    return {key_id(k): k for k in listed} or None


def _check_entry(entry: AuditEntry, report: VerifyReport) -> Finding | None:
    expected = report.last_seq + 1
    if entry.seq != expected:
        what = "is missing" if entry.seq > expected else "is out of order"
        return Finding(expected, f"entry seq {expected} {what} (found seq {entry.seq})")
    if entry.prev_hash != report.last_hash:
        return Finding(entry.seq, "prev_hash does not match the entry before it")
    payload = canonical_bytes(
        entry.seq, entry.at, entry.event, entry.record_id, entry.dossier_code, entry.detail
    )
    if chain_hash(entry.prev_hash, payload) != entry.hash:
        return Finding(entry.seq, "hash does not match its content")
    return None


def _check_mark(
    mark: Checkpoint,
    entry: AuditEntry,
    trusted: int,
    ring: dict[str, Ed25519PublicKey] | None,
    report: VerifyReport,
) -> Finding | None:
    if mark.hash != entry.hash:
        return Finding(
            trusted + 1,
            f"the checkpoint at seq {entry.seq} signs another head: "
            f"entries after seq {trusted} were rewritten",
        )
    if mark.key_id == "anchor":
        return None
    report.checkpoints += 1
    if ring is None:
        return None
    key = ring.get(mark.key_id)
    if key is None and mark.signature:
        return Finding(
            trusted + 1,
            f"the checkpoint at seq {entry.seq} is signed by "
            f"key {mark.key_id}, which is not among the public keys given",
        )
    try:
        signature = base64.b64decode(mark.signature, validate=True)
        if key is None:
            raise InvalidSignature
        key.verify(signature, checkpoint_message(mark.seq, mark.hash, mark.at))
    except (InvalidSignature, ValueError):
        why = "is unsigned" if not mark.signature else "has a bad signature"
        return Finding(trusted + 1, f"the checkpoint at seq {entry.seq} {why}")
    return None
