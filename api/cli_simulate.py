"""`ledger simulate`: a realistic synthetic history (seed 001's sizes, or a province)."""

from __future__ import annotations

from api.cli import app  # noqa: F401
