"""The Ed25519 keys of the audit checkpoints: signing (daemon) and checking (verifiers).

A private key is the base64 of its 32-byte seed and lives only in the environment variable
named by ``audit.signing_key_env``; a public key is the base64 of its 32 raw bytes and is
not a secret (``audit.public_key``, and the standalone verifier's ``--public-key``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

CHECKPOINT_CONTEXT = b"dvc-gateway audit checkpoint v1\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the log up to ``seq`` has head hash ``hash``."""

    seq: int
    at: float
    hash: str
    key_id: str
    signature: str
    """Base64 Ed25519 signature over :func:`checkpoint_message`; empty when unsigned."""


def checkpoint_message(seq: int, head_hash: str, at: float) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return CHECKPOINT_CONTEXT + f"{seq}\n{head_hash}\n{round(at, 6)!r}\n".encode("ascii")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_b64(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key written as base64 of its 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))


def load_public_keys(text: str) -> list[Ed25519PublicKey]:
    """One or more public keys separated by commas or spaces (the current one and those it
    replaced, so checkpoints signed before a key rotation still verify)."""
    return [load_public_key(part) for part in text.replace(",", " ").split()]


class Signer:
    """Signs checkpoints with an Ed25519 private key (base64 of its 32-byte seed)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    @classmethod
    def from_text(cls, text: str) -> Signer:
        seed = base64.b64decode(text.strip(), validate=True)
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> tuple[Signer, str]:
        """A new key and its private text (for ``audit keygen`` and the demo)."""
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(private), base64.b64encode(seed).decode()

    def derived_key(self, label: str) -> bytes:
        """A secret for another purpose (``label``), derived from this key's seed: a keyed
        digest only the holder of the signing key can recompute."""
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return hmac.new(seed, label.encode(), hashlib.sha256).digest()

    def sign(self, seq: int, head_hash: str, at: float) -> Checkpoint:
        signature = self._private.sign(checkpoint_message(seq, head_hash, at))
        return Checkpoint(
            seq, round(at, 6), head_hash, self.key_id, base64.b64encode(signature).decode()
        )
