"""Reports as scheduled jobs and the auditor's commands: `ledger report`, `ledger history`,
`ledger export`, `ledger overdue`."""

from __future__ import annotations

from api.cli import app  # noqa: F401
