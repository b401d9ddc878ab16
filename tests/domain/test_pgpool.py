"""The event store's pool checks a connection as it lends it only when the connection may
have died unseen (domain/pgpool.py): not one lent a moment ago; and a connection that died
either way still never fails a command."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from domain.pgpool import RecentCheck
from tests.conftest import POSTGRES_URL, Store
from tests.factories import admit, build_tree


class FakeConnection:
    broken = False
    closed = False


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_connection_is_pinged_when_first_lent_idle_past_the_window_or_broken_and_not_otherwise() -> None:
    clock, pinged = Clock(), []
    check = RecentCheck(window=1.0, clock=clock, ping=pinged.append)
    conn, other = FakeConnection(), FakeConnection()
    check(conn)  # never lent through this check: pinged
    clock.now += 0.5
    check(conn)  # lent half a second ago: not
    check(other)
    clock.now += 0.9
    check(conn)  # 0.9 s after its last lend: not
    clock.now += 1.0
    check(conn)  # a second idle: pinged
    conn.broken = True
    check(conn)  # known broken: pinged at once
    assert pinged == [conn, other, conn, conn]
    assert (check.pings, check.skipped) == (4, 2)


def test_a_failed_ping_raises_so_that_the_pool_replaces_the_connection() -> None:
    def dead(_: Any) -> None:
        raise psycopg.OperationalError("server closed the connection")

    check = RecentCheck(window=1.0, ping=dead)
    with pytest.raises(psycopg.OperationalError):
        check(FakeConnection())


@pytest.mark.postgres_only
def test_commands_lend_connections_mostly_unpinged_and_survive_connections_killed_in_or_past_the_window(
    store: Store,
) -> None:
    ledger = store.ledger()
    check = ledger.pool_check
    assert isinstance(check, RecentCheck)
    build_tree(ledger)
    before = check.pings
    numbers = [admit(ledger, n) for n in range(10)]
    assert check.skipped > 10 * (check.pings - before)  # lent again at once: not pinged
    for window in (60.0, 0.0):  # killed within the window (not pinged), then past it (pinged)
        check.window = window
        pool = ledger.recorder.datastore.pool  # type: ignore[attr-defined]
        pids = [conn.info.backend_pid for conn in list(pool._pool)]
        assert pids
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        recorded = ledger.record_dues(numbers[0], "2026-01", "10.00")
        assert recorded.position == ledger.max_position()
