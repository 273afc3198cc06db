"""Who is asking: bearer tokens with roles, and the console's session.

Roles are ordered: a ``viewer`` reads (never unmasked personal data), an ``operator`` also
acts (replay, pause, resume) and reads a record's payload, an ``admin`` also reads the
configuration. Every token is compared with every configured token in constant time
(``hmac.compare_digest``), so neither the match nor its position leaks through timing.

The console cannot send an ``Authorization`` header from a link, so signing in exchanges a
token for a random session id in an ``HttpOnly``, ``SameSite=Strict`` cookie; each session also
holds a CSRF token that every form posts back.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config.schema import AdminToken

SESSION_COOKIE = "dvcgw_session"
SESSION_S = 8 * 3600
MAX_SESSIONS = 1000


class Role(enum.IntEnum):
    """What a token may do; a higher role may do all a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Principal:
    """The token's name (recorded in the audit log for each action) and its role."""

    name: str
    role: Role


class Tokens:
    """The configured tokens."""

    def __init__(self, tokens: Mapping[str, AdminToken]) -> None:
        self._tokens = [
            (name, entry.token.encode(), Role[entry.role.upper()]) for name, entry in tokens.items()
        ]

    def check(self, presented: str | bytes) -> Principal | None:
        """The principal whose token this is, or None; compares with every token."""
        given = presented.encode() if isinstance(presented, str) else presented
        found: Principal | None = None
        for name, token, role in self._tokens:
            if hmac.compare_digest(given, token) and found is None:
                found = Principal(name, role)
        return found

    def from_header(self, header: str | None) -> Principal | None:
        if not header or not header.startswith("Bearer "):
            return None
        return self.check(header.removeprefix("Bearer ").strip())


@dataclass
class Session:
    principal: Principal
    csrf: str
    expires_at: float


@dataclass
class Sessions:
    """Console sessions, in memory (a restart signs everyone out)."""

    clock: Callable[[], float] = time.time
    _by_id: dict[str, Session] = field(default_factory=dict)

    def open(self, principal: Principal) -> tuple[str, Session]:
        now = self.clock()
        self._by_id = {k: s for k, s in self._by_id.items() if s.expires_at > now}
        if len(self._by_id) >= MAX_SESSIONS:  # the oldest goes
            oldest = min(self._by_id, key=lambda k: self._by_id[k].expires_at)
            del self._by_id[oldest]
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), now + SESSION_S)
        self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None or session.expires_at <= self.clock():
            return None
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)
