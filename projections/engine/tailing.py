"""Following the log in the background: a thread woken by PostgreSQL's NOTIFY, or polling
SQLite, that outlives the database's restarts (it retries with a growing pause)."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg import sql as pgsql

from domain.settings import parse_database_url
from projections.engine.catchup import CatchingUp

log = logging.getLogger("projections.engine")  # one logger for the engine's modules

# The background thread's pause after a failed catch-up: doubled from the first to the
# last while failures follow each other (seconds).
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0


class Tailing(CatchingUp):
    def start(self, poll_interval: float = 0.2) -> None:
        """Follow the event store in a background thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        target = self._listen if self.db.kind == "postgres" else self._poll
        self._thread = threading.Thread(
            target=target, args=(poll_interval,), name="projection-engine", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask `run_forever()` or the background thread to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_forever(self, poll_interval: float = 0.2) -> None:
        (self._listen if self.db.kind == "postgres" else self._poll)(poll_interval)

    def retry_now(self) -> None:
        """Make the background thread try again at once (after a failure it pauses)."""
        self._retry.set()

    def _pause(self, failures: int) -> None:
        """The background thread's pause after `failures` failures in a row."""
        self._retry.clear()
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
        deadline = time.monotonic() + delay
        while not self._stop.is_set() and not self._retry.is_set() and time.monotonic() < deadline:
            self._retry.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def _safe_catch_up(self, failures: int = 0) -> int:
        """Catch up; returns 0 when it did, else the failures in a row so far (after a
        pause that grows with them: the database may be restarting)."""
        try:
            self.catch_up()
            if failures:
                log.warning("the views apply events again, at position %d", self.position)
            return 0
        except Exception as error:
            failures += 1
            if failures == 1:
                log.exception("projection batch failed; retrying")
            else:
                log.warning("projection batch failed again (%s); retrying", type(error).__name__)
            self._pause(failures)
            return failures

    def _poll(self, interval: float) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                behind = (self.ledger.max_position() or 0) > self.position or self._unsettled
            except Exception:
                behind = True  # the store can't be read: catching up says why, and pauses
            if behind or failures:
                failures = self._safe_catch_up(failures)
            if not failures:
                self._stop.wait(interval)

    def _listen(self, interval: float) -> None:
        """Wake on NOTIFY; also check every second, so a lost notification costs a second.
        A lost connection (the database restarted) is made again, after a pause that grows
        while it can't be."""
        channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    **parse_database_url(self.db.url).connect_args(), autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    failures = self._safe_catch_up(failures)
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            pass
                        failures = self._safe_catch_up(failures)
            except psycopg.Error as error:
                failures += 1
                if failures == 1:
                    log.warning("lost the notification connection (%s); reconnecting", type(error).__name__)
                self._pause(failures)
