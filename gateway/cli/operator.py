"""Who runs an operator command, and the audit entry of a read of personal data.

``replay`` already says who queued dead letters again; reading a record's payload
(``dlq show --payload``) or a range of the audit log (``audit export``) is recorded the same
way, before anything is printed or written: ``payload_read`` and ``audit_exported`` system
entries carry ``by`` (``--by``/``--as``, else ``$DVC_GATEWAY_OPERATOR``, else the OS user)
and what was read. A read whose audit entry cannot be written does not happen.
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
import time
from typing import Any

from gateway.audit.chain import AuditPolicy, policy_from_config
from gateway.audit.masking import set_hash_key, set_personal_fields
from gateway.config.schema import GatewayConfig
from gateway.store.engines import open_store

OPERATOR_ENV = "DVC_GATEWAY_OPERATOR"


def add_by(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--by NAME`` (alias ``--as``) option of a command audited with who asked."""
    parser.add_argument(
        "--by",
        "--as",
        dest="by",
        default="",
        help=f"who asks, for the audit entry of the {what} (default ${OPERATOR_ENV}, else the "
        "OS user)",
    )


def who(given: str) -> str:
    """The operator's name: as given, else ``$DVC_GATEWAY_OPERATOR``, else the OS user."""
    return given.strip() or os.environ.get(OPERATOR_ENV, "").strip() or getpass.getuser()


def operator_policy(config: GatewayConfig) -> AuditPolicy:
    """The audit policy of an operator command's store. With the signing key in this
    environment, the daemon's own policy. Without it, one that writes no checkpoint: an
    unsigned checkpoint among signed ones would make ``audit verify`` fail, so the operator's
    entries wait, as an unsigned tail, for the daemon's next signed checkpoint."""
    if os.environ.get(config.audit.signing_key_env, ""):
        return policy_from_config(config.audit, os.environ)
    hash_key = os.environ.get(config.audit.hash_key_env, "")
    set_hash_key(hash_key.encode() if hash_key else None)  # the daemon's join tags
    set_personal_fields(config.audit.personal_fields)
    return AuditPolicy(
        checkpoint_every_entries=NEVER_ENTRIES,
        checkpoint_every_s=math.inf,
        max_body_bytes=config.audit.max_body_bytes,
    )


NEVER_ENTRIES = 2**62


async def audit_read(config: GatewayConfig, event: str, detail: dict[str, Any]) -> None:
    """Write the system audit entry of an operator's read (its own store connection)."""
    now = time.time()
    store = await open_store(config.store, now=now, operator=True, audit=operator_policy(config))
    try:
        await store.audit_system(event, detail, now=now)
    finally:
        await store.close()
