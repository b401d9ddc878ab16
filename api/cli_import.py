"""`ledger import`: organizations and members from CSV and Excel rosters."""

from __future__ import annotations

from api.cli import app  # noqa: F401
