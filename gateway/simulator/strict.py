"""What a strict portal notices about what it was sent: the ledger and partial batches.

The portal keeps every write it applied; this module judges them the way a strict portal
(or an auditor reading its tables) would, per dossier:

- **duplicates**: a progress step applied again, equal in every field to one already held;
- **order violations**: a progress step whose ``ThoiDiemXuLy`` is earlier than a step of
  the same dossier applied before it (steps out of order);
- **status regressions**: a dossier snapshot whose ``TrangThaiHoSo`` ranks below the one
  applied before it (the status went backwards).

Ranks follow the spec's status meanings: 1 submitted < 2 received < 4 processing = 5
supplement requested = 6 fees requested < 3 refused = 7 withdrawn = 8 stopped < 9 finished <
10 returned; 5/6 -> 4 is not a regression. The table is the simulator's own (it imports
nothing from the gateway).

A **partial** portal applies the valid items of a call it refuses (real portals do; the
spec does not say a call is atomic): :func:`valid_indexes` tells which items of a refused
call had no problem of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

STATUS_RANK = {"1": 0, "2": 1, "4": 2, "5": 2, "6": 2, "3": 3, "7": 3, "8": 3, "9": 4, "10": 5}
_ITEM_PATH = re.compile(r"^data\[(\d+)\]")


@dataclass
class Ledger:
    """Per-dossier judgement of the writes the portal applied (reset with the state)."""

    duplicates: dict[str, int] = field(default_factory=dict)
    order_violations: dict[str, int] = field(default_factory=dict)
    status_regressions: dict[str, list[str]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    """Every ``TrangThaiHoSo`` applied per dossier, in arrival order."""

    def reset(self) -> None:
        self.duplicates.clear()
        self.order_violations.clear()
        self.status_regressions.clear()
        self.statuses.clear()

    def dossier_applied(self, item: dict[str, Any]) -> None:
        code, status = str(item.get("MaHoSo")), str(item.get("TrangThaiHoSo"))
        seen = self.statuses.setdefault(code, [])
        if seen and STATUS_RANK.get(status, -1) < STATUS_RANK.get(seen[-1], -1):
            self.status_regressions.setdefault(code, []).append(f"{seen[-1]}->{status}")
        seen.append(status)

    def step_applied(self, item: dict[str, Any], timeline: list[dict[str, Any]]) -> None:
        """``timeline``: the dossier's steps held before this one."""
        code = str(item.get("MaHoSo"))
        if item in timeline:
            self.duplicates[code] = self.duplicates.get(code, 0) + 1
        at = str(item.get("ThoiDiemXuLy", ""))
        if any(str(held.get("ThoiDiemXuLy", "")) > at for held in timeline):
            self.order_violations[code] = self.order_violations.get(code, 0) + 1

    def report(self) -> dict[str, Any]:
        """Counts and the dossiers concerned, as ``GET /_sim/state`` shows them."""
        return {
            "duplicates": sum(self.duplicates.values()),
            "order_violations": sum(self.order_violations.values()),
            "status_regressions": sum(len(v) for v in self.status_regressions.values()),
            "dossiers": {
                "duplicates": sorted(self.duplicates),
                "order_violations": sorted(self.order_violations),
                "status_regressions": dict(sorted(self.status_regressions.items())),
            },
        }


def valid_indexes(count: int, problem_paths: Iterable[str]) -> list[int]:
    """Indexes of the ``count`` items of a refused call that no problem names; none at all
    when a problem concerns the whole call (not one item)."""
    bad: set[int] = set()
    for path in problem_paths:
        match = _ITEM_PATH.match(path)
        if match is None:
            return []
        bad.add(int(match.group(1)))
    return [i for i in range(count) if i not in bad]
