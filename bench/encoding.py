"""What the contract check and the SOAP path cost per record, against the bare encoder.

Prints figures only (never asserted): microseconds per dossier for
  baseline   canonical -> DVCQG JSON item (encode_dossier)
  +contract  the same, plus the JSON Schema / NFC / mojibake check of the request body
  +soap      the same, plus the zeep-built X-Road envelope
  +parse     the same, plus parsing the envelope back (hardened lxml + zeep)
Run: .venv/bin/python bench/encoding.py [N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from gateway.encoders import xroad_soap
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import encode_dossier, envelope
from gateway.encoders.wsdl import SOAP_ENV, codec, parse_xml
from gateway.model import PORTAL_TZ, Dossier
from gateway.simulator.onestop import generate_feed

MEMBER = xroad_soap.XRoadMember("VN", "GOV", "000.00.00.H56", "motcua")
PROVIDER = xroad_soap.XRoadMember("VN", "GOV", "000.00.00.G22", "vpcpdvcprovider")


def body(d: Dossier) -> dict[str, object]:
    return envelope(session="s", agency_code=d.agency_code, service="DongBoHoSoMC",
                    data=[encode_dossier(d)], updating=False)  # fmt: skip


def contract(d: Dossier) -> None:
    check_message("DongBoHoSoMC.request", body(d))


def soap(d: Dossier) -> bytes:
    b = body(d)
    check_message("DongBoHoSoMC.request", b)
    headers = xroad_soap.headers(client=MEMBER, provider=PROVIDER, operation="DongBoHoSoMC",
                                 message_id="m")  # fmt: skip
    return codec().build(xroad_soap.message(b, header_values=headers))


def soap_and_parse(d: Dossier) -> None:
    root = parse_xml(soap(d))
    codec().parse_body(root.find(f"{{{SOAP_ENV}}}Body")[0])  # type: ignore[index]


def measure(name: str, fn: Callable[[Dossier], object], dossiers: list[Dossier]) -> float:
    fn(dossiers[0])  # warm caches (schemas, WSDL)
    started = time.perf_counter()
    for d in dossiers:
        fn(d)
    return (time.perf_counter() - started) / len(dossiers) * 1e6


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    start = datetime(2026, 11, 2, 7, 30, tzinfo=PORTAL_TZ)
    feed = generate_feed(count, seed=1, start=start).records
    dossiers = [r for r in feed if isinstance(r, Dossier)]
    base = measure("baseline", encode_dossier, dossiers)
    print(f"dossiers: {len(dossiers)}")
    print(f"baseline   encode_dossier          {base:8.1f} us/dossier  (1.00x)")
    for name, fn in (("+contract", contract), ("+soap", soap), ("+parse", soap_and_parse)):
        per = measure(name, fn, dossiers)
        print(f"{name:<10} {fn.__name__:<23} {per:8.1f} us/dossier  ({per / base:.2f}x)")


if __name__ == "__main__":
    main()
