"""The event store's PostgreSQL pool checks a connection it lends only when the connection
may have died unseen: not when it was lent a moment ago.

With POSTGRES_PRE_PING the pool of eventsourcing's datastore (psycopg_pool) sends an empty
query on each connection before lending it, so that a connection the database dropped (a
restart) is replaced instead of failing the command that got it. That is a round trip, and
a wake-up of the lending thread, for every lend: a command lends several. `RecentCheck`
keeps the check where it matters: a connection lent within the last `window` seconds (and
not known broken) is lent as it is; one idle for longer, or broken, is checked as before.
A connection that dies within the window fails its statement instead: every read and save
of the recorders is retried on a lost connection (eventsourcing's `retry`, ten attempts),
and the pool replaces a connection returned broken.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

RECENT_SECONDS = 1.0


class RecentCheck:
    """A pool's `check` callback: pings a connection only when it was not lent within the
    last `window` seconds, or is known broken. `pings` and `skipped` count the two cases."""

    def __init__(self, window: float = RECENT_SECONDS, clock: Callable[[], float] = time.monotonic,
                 ping: Callable[[Any], None] = ConnectionPool.check_connection) -> None:
        self.window, self.clock, self.ping = window, clock, ping
        self._lent: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.pings = self.skipped = 0

    def __call__(self, conn: Any) -> None:
        now = self.clock()
        with self._lock:
            last = self._lent.get(conn)
        if last is None or now - last >= self.window or conn.broken or conn.closed:
            self.pings += 1
            self.ping(conn)  # raises for a dead connection: the pool replaces it
        else:
            self.skipped += 1
        with self._lock:
            self._lent[conn] = now


def check_recent_only(datastore: Any, window: float = RECENT_SECONDS) -> RecentCheck | None:
    """Make the datastore's pool (if it checks every connection it lends: pre-ping) check only
    those not lent within `window` seconds. Returns the check installed, None if none."""
    pool = getattr(datastore, "pool", None)
    if not isinstance(pool, ConnectionPool) or getattr(pool, "_check", None) is not ConnectionPool.check_connection:
        return None
    check = RecentCheck(window)
    pool._check = check
    return check
