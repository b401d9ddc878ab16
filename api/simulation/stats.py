"""What a simulated history counted: events and saves, by kind, and its samples."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Stats:
    scale: str
    seed: int
    events: int = 0
    saves: int = 0
    seconds: float = 0.0
    organizations: int = 0
    members: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    transfers: Counter[str] = field(default_factory=Counter)  # by outcome
    cases: Counter[str] = field(default_factory=Counter)  # "group.kind", e.g. "route.cross_province"
    samples: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = round(self.events / self.seconds) if self.seconds else None
        data["by_event"] = dict(sorted(self.by_event.items()))
        data["transfers"] = dict(sorted(self.transfers.items()))
        data["cases"] = dict(sorted(self.cases.items()))
        return data
