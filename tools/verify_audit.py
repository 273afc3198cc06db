#!/usr/bin/env python3
"""Standalone verifier of dvc-gateway audit files (archives and exports).

It imports nothing from the gateway: an auditor reads these ~150 lines, installs only the
``cryptography`` package, and checks the files with the gateway's public key alone::

    python tools/verify_audit.py --public-key KEY audit-000000000001-000000005000.jsonl ... \\
        export.jsonl

Files are given oldest first. Each entry's hash is SHA-256 over the previous entry's hash and
the canonical JSON of the entry (sorted keys, no spaces, UTF-8); each checkpoint is an Ed25519
signature over ``"dvc-gateway audit checkpoint v1\\n{seq}\\n{hash}\\n{at!r}\\n"``; each archive's
header names the SHA-256 of the file before it. Exit 0 when everything verifies, 1 with the
first bad entry's sequence number and the reason otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "dvc-gateway-audit/1"
CONTEXT = b"dvc-gateway audit checkpoint v1\n"


class Bad(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"first bad entry: seq {seq}: {reason}")
        self.seq = seq


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: entry[k] for k in ("seq", "event", "record_id", "dossier_code", "detail")}
    body["at"] = round(entry["at"], 6)
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(entry["prev_hash"].encode("ascii") + payload.encode()).hexdigest()


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


class Verifier:
    def __init__(self, keys: dict[str, Ed25519PublicKey] | None, max_gap: int | None) -> None:
        self.keys, self.max_gap = keys, max_gap
        self.last_seq: int | None = None
        self.last_hash = ""
        self.trusted = 0
        self.hashes: dict[int, str] = {}
        self.pending: list[dict[str, Any]] = []
        self.entries = self.checkpoints = 0

    def file(self, path: Path, previous_digest: str) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else {}
        if header.get("format") != FORMAT:
            raise Bad(self.last_seq + 1 if self.last_seq else 1, f"{path.name}: not an audit file")
        if self.last_seq is None:  # the first file: trust where it says it starts
            self.last_seq, self.last_hash = header["first_seq"] - 1, header["prev_hash"]
            self.trusted = self.last_seq
        for number, line in enumerate(lines[1:], start=2):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # a cut last line: the header check below reports the cut
                raise Bad(self.last_seq + 1, f"{path.name}:{number}: not JSON") from None
            if "entry" in item:
                self.entry(item["entry"])
            elif "checkpoint" in item:
                self.pending.append(item["checkpoint"])
            else:
                raise Bad(self.last_seq + 1, f"{path.name}: unexpected line")
            self.settle()
        link = header.get("prev_archive_digest", "")
        if link and previous_digest and link != previous_digest:
            why = "does not link to the file before it (one of them was replaced)"
            raise Bad(header["first_seq"], f"{path.name} {why}")
        if header.get("last_seq") != self.last_seq:
            cut = (
                f"{path.name} ends at seq {self.last_seq}, its header says {header.get('last_seq')}"
            )
            raise Bad(self.last_seq + 1, f"{cut}: the tail was cut")

    def entry(self, e: dict[str, Any]) -> None:
        assert self.last_seq is not None
        self.check_gap(self.last_seq)
        expected = self.last_seq + 1
        if e["seq"] != expected:
            what = "is missing" if e["seq"] > expected else "is out of order"
            raise Bad(expected, f"entry seq {expected} {what} (found seq {e['seq']})")
        if e["prev_hash"] != self.last_hash:
            raise Bad(e["seq"], "prev_hash does not match the entry before it")
        if entry_hash(e) != e["hash"]:
            raise Bad(e["seq"], "hash does not match its content")
        self.last_seq, self.last_hash = e["seq"], e["hash"]
        self.hashes[e["seq"]] = e["hash"]
        self.entries += 1

    def check_gap(self, upto: int) -> None:
        if self.max_gap and upto - self.trusted > self.max_gap:
            raise Bad(self.trusted + 1, f"no signed checkpoint within {self.max_gap} entries")

    def settle(self) -> None:
        for c in list(self.pending):
            if c["seq"] > self.last_seq:
                continue
            self.pending.remove(c)
            if self.hashes.get(c["seq"]) != c["hash"]:
                raise Bad(self.trusted + 1, f"checkpoint at seq {c['seq']} signs another head")
            if self.keys is not None:
                message = CONTEXT + f"{c['seq']}\n{c['hash']}\n{round(c['at'], 6)!r}\n".encode()
                try:
                    key = self.keys.get(c["key_id"])
                    if key is None:
                        raise InvalidSignature  # unsigned, or a key not given
                    key.verify(base64.b64decode(c["signature"], validate=True), message)
                except (InvalidSignature, ValueError):
                    raise Bad(
                        self.trusted + 1, f"checkpoint at seq {c['seq']} is not validly signed"
                    ) from None
            self.trusted = max(self.trusted, c["seq"])
            self.checkpoints += 1

    def anchor(self, seq: int, head: str) -> None:
        """A head seen elsewhere (the daemon's ``audit_checkpoint_signed`` log line)."""
        assert self.last_seq is not None
        if seq > self.last_seq:
            raise Bad(self.last_seq + 1, f"the anchor names seq {seq}: the tail was cut")
        if seq in self.hashes and self.hashes[seq] != head:
            raise Bad(seq, f"entry seq {seq} differs from the anchor's head")

    def finish(self) -> None:
        assert self.last_seq is not None
        if self.pending:
            seq = min(c["seq"] for c in self.pending)
            cut = f"the log ends at seq {self.last_seq}: the tail was cut"
            raise Bad(self.last_seq + 1, f"a checkpoint names seq {seq} but {cut}")
        self.check_gap(self.last_seq)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="audit files, oldest first")
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="base64 Ed25519 public key; repeat it for keys used before a rotation "
        "(omit: no signatures checked)",
    )
    parser.add_argument(
        "--anchor", help="SEQ:HASH of a head seen elsewhere (e.g. the daemon's log)"
    )
    parser.add_argument(
        "--max-gap", type=int, default=1000, help="most entries between checkpoints (0: no limit)"
    )
    args = parser.parse_args(argv)
    keys = None
    if args.public_key:
        loaded = [
            Ed25519PublicKey.from_public_bytes(base64.b64decode(k, validate=True))
            for k in args.public_key
        ]
        keys = {key_id(k): k for k in loaded}
    verifier = Verifier(keys, args.max_gap or None)
    previous = ""
    try:
        for path in args.files:
            verifier.file(path, previous)
            previous = hashlib.sha256(path.read_bytes()).hexdigest()
        verifier.finish()
        if args.anchor:
            seq, _, head = args.anchor.partition(":")
            verifier.anchor(int(seq), head)
    except Bad as bad:
        print(bad)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read the files: {exc!r}")
        return 1
    print(
        f"OK: {verifier.entries} entries, {verifier.checkpoints} checkpoints, "
        f"{len(args.files)} file(s); last seq {verifier.last_seq}, head {verifier.last_hash}"
    )
    if keys is None:
        print("signatures not checked: no public key given")
    return 0


if __name__ == "__main__":
    sys.exit(main())
