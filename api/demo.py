"""The demo data set: the city of seed 001 (a city bureau's committee with 16 committees,
12 general branches, 238 branches and about 4,800 members) with the year up to today of
transfers (on time, late, overdue, cancelled, rejected), certificates (many never
returned), org life, dues and inactive members, recorded through the Ledger's own commands
(`api/simulation.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from api.simulation import SCALES, generate
from domain.errors import Conflict
from domain.ledger import Ledger

DEMO_ADMIN = "demo admin"


def load_demo(ledger: Ledger, seed: int = 1, progress: Any = None, scale_name: str = "city") -> str:
    """Load the demo into an empty store; returns a bearer token of an admin of its root."""
    if ledger.max_position():
        raise Conflict("the store is not empty: the demo loads only into an empty store")
    today = ledger.today()
    scale = replace(SCALES[scale_name], start=today - timedelta(days=365), end=today - timedelta(days=1))
    report = (lambda text: progress.print(text)) if progress is not None else None
    stats = generate(ledger, scale, seed, progress=report)
    _, token = ledger.grant_operator(DEMO_ADMIN, "admin", stats["samples"]["root"])
    return token
