"""X-Road fault codes -> what happens next (x-road §4.3).

A code is read by structure, not as a whole string (x-road §4.3 "Algorithm notes"): its origin
(``Client``, ``Server.ClientProxy``, ``Server.ServerProxy``, or anything else = the DVCQG
service itself, relayed unchanged), whether a ``ServiceFailed`` segment is present, and the
last dotted segment. SOAP ``faultcode`` and REST ``X-Road-Error``/``type`` use the same codes.

"Ambiguous" faults (the portal may have processed the request) are retried: every DVCQG
write the gateway makes is a create-or-update keyed by ``MaHoSo`` (a retried create that
already landed comes back "đã tồn tại" and goes again as an update), so a retry cannot
duplicate a dossier. A progress step retried after an ambiguous fault may be stored twice
by the portal; the simulator counts such repeats (``duplicate_progress``).
"""

from __future__ import annotations

import re

from gateway.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

_PERMANENT_CLIENT_PROXY = frozenset(
    {"UnknownMember", "InvalidSecurityServer", "InvalidClientIdentifier"}
)
_PERMANENT_SERVER_PROXY = frozenset(
    {
        "AccessDenied",
        "UnknownService",
        "ServiceType",
        "UnknownMember",
        "ServiceMissingUrl",
        "ServiceMalformedUrl",
        "ClientProxyVersionNotSupported",
        "InvalidSecurityServer",
    }
)
_PERMANENT_HTTP = frozenset({400, 401, 403, 404})
_HTTP_STATUS = re.compile(r"\b([1-5][0-9]{2})\b")


def fault_error(code: str, text: str, detail: str = "") -> DeliveryError:
    """The delivery error a fault stands for; ``detail`` (the security server's log UUID)
    is kept in the message for the operators who will look it up."""
    parts = code.strip().split(".")
    last = parts[-1] if parts else ""
    message = f"X-Road fault {code}: {text}" + (f" [{detail}]" if detail else "")
    permanent = _is_permanent(parts, last, text)
    cls = PermanentDeliveryError if permanent else RetryableDeliveryError
    return cls(message, code=code)


def _is_permanent(parts: list[str], last: str, text: str) -> bool:
    origin = parts[0] if parts else ""
    if origin == "Client":
        return True  # our message is malformed: a bug to fix, not a moment to wait
    component = parts[1] if len(parts) > 1 else ""
    if origin == "Server" and component == "ClientProxy":
        if last == "SslAuthenticationFailed":
            return "did not supply TLS certificate" in text  # our IS-to-SS config
        return last in _PERMANENT_CLIENT_PROXY
    if origin == "Server" and component == "ServerProxy":
        if last == "HttpError":
            match = _HTTP_STATUS.search(text)
            return match is not None and int(match.group(1)) in _PERMANENT_HTTP
        if "ServiceFailed" in parts:
            return False  # the backend link failed: retryable or ambiguous
        return last in _PERMANENT_SERVER_PROXY
    # A bare Server/Signer fault is transient unless documented otherwise; anything else is
    # DVCQG's own fault, relayed unchanged: permanent unless documented.
    return not (origin in ("Server", "Signer") and not component)
