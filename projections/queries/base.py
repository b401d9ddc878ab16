"""What every part of `Queries` stands on: the view connection (and a spare one for work
beside it), the organizations' lookup every question starts from, and the checks and
calendar arithmetic of the questions' dates."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from domain.errors import NotFound
from projections.db import Row, ViewDatabase
from projections.sql import Sql

log = logging.getLogger(__name__)
T = TypeVar("T")
# A spare view connection, when one is free (else None), for work beside the main one.
Spare = Callable[[], AbstractContextManager[ViewDatabase | None]]
_helpers: ThreadPoolExecutor | None = None
_helpers_lock = threading.Lock()
ORGANIZATION_COLUMNS = ("code", "name", "kind", "parent_code", "region", "status", "successor_code",
                        "registered_on", "dissolved_on")


def _helper_threads() -> ThreadPoolExecutor:
    global _helpers
    with _helpers_lock:
        if _helpers is None:
            _helpers = ThreadPoolExecutor(4, thread_name_prefix="view-reads")
        return _helpers


class Reads:
    """The connection the questions are asked on (one snapshot of the views, when the
    caller opened one), and a spare for work beside it."""

    def __init__(self, db: ViewDatabase, spare: Spare | None = None) -> None:
        self.db = db
        self.spare = spare

    def _query(self, statement: Sql, db: ViewDatabase | None = None) -> list[Row]:
        return (self.db if db is None else db).query(statement.text, statement.params)

    def _scalar(self, statement: Sql, db: ViewDatabase | None = None) -> Any:
        return (self.db if db is None else db).scalar(statement.text, statement.params)

    @contextmanager
    def _beside(self, work: Callable[[ViewDatabase], T]) -> Iterator[Callable[[], T]]:
        """`work` started on a spare connection that reads the same snapshot as this one
        (PostgreSQL, inside `db.snapshot()`, when a spare is free), while this thread goes
        on; else run on this connection when its result is asked for. Yields the function
        that returns the result (never None); leaving the block waits for the work to end.
        Should the spare fail (no connection to be had, the snapshot gone), the work runs
        here."""
        here: Callable[[], T] = lambda: work(self.db)  # noqa: E731
        spare = self.spare
        snapshot = self.db.export_snapshot() if spare is not None else None
        if spare is None or snapshot is None:
            yield here
            return

        def run() -> T | None:
            with spare() as other:
                if other is None:  # none free
                    return None
                with other.shared(snapshot):
                    return work(other)

        future = _helper_threads().submit(run)

        def result() -> T:
            try:
                found = future.result()
            except Exception as error:  # e.g. the server's connection limit, the snapshot gone
                log.warning("a read on a spare view connection failed (%s): reading on one",
                            type(error).__name__)
                return here()
            return here() if found is None else found

        try:
            yield result
        finally:
            wait([future])

    def organization(self, code: str) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT code, name, kind, parent_code, region, status, successor_code, registered_on, "
            "dissolved_on FROM proj_organizations WHERE code = ?", (code,),
        )
        if not rows:
            raise NotFound(f"organization {code!r} is not in the ledger")
        return dict(zip(ORGANIZATION_COLUMNS, rows[0], strict=True))

    def position(self) -> int:
        return int(self.db.scalar("SELECT position FROM proj_tracking WHERE name = 'views'") or 0)
