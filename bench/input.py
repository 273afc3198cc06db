"""What the strict JSON reader and the input rules cost, against the standard reader.

Prints figures only (never asserted), for one intake body of N simulated records (default
1,000, the default ``intake.max_records_per_request``), best of several runs:
  json.loads     the standard library's reader (the baseline, measured in the same run)
  strict         gateway.sources.strict_json.loads (duplicate keys, NaN, depth)
  canonical      record_from_json for every record (the canonical adapter; unchanged)
  rules          RecordRules.check for every record (pattern, dates, control/bidi characters)
Run: .venv/bin/python bench/input.py [N]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime

from gateway.canonical import DEFAULT_RULES, record_from_json, record_to_json
from gateway.model import PORTAL_TZ
from gateway.simulator.onestop import generate_feed
from gateway.sources import strict_json


def best_ms(work: Callable[[], object], runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    start = datetime(2026, 11, 2, 8, tzinfo=PORTAL_TZ)
    feed = generate_feed(count, seed=1, start=start)
    raws = [record_to_json(r) for r in feed.records][:count]
    body = json.dumps(raws, ensure_ascii=False).encode()
    records = [record_from_json(raw) for raw in raws]
    baseline = best_ms(lambda: json.loads(body))
    rows = [
        ("json.loads", baseline),
        ("strict", best_ms(lambda: strict_json.loads(body))),
        ("canonical", best_ms(lambda: [record_from_json(r) for r in raws], runs=3)),
        ("rules", best_ms(lambda: [DEFAULT_RULES.check(r) for r in records], runs=3)),
    ]
    print(f"{len(raws)} records, {len(body):,} bytes")
    for name, ms in rows:
        print(f"  {name:<11} {ms:8.1f} ms   {ms / baseline:5.1f}x json.loads")


if __name__ == "__main__":
    main()
