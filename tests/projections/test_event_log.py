"""The event log on PostgreSQL (domain/pglog.py): saves run at the same time, without a
table lock, and whoever follows the log by position (the projection engine's reader, the
library's `select_notifications`, `max_notification_id`) never passes over an event that
commits after a later one, nor sees it twice. Ids that never commit stay gaps.

PostgreSQL only: SQLite has one writer at a time, so its ids commit in order anyway.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from psycopg import sql

from domain.ledger import Ledger
from domain.pglog import PostgresLogRecorder
from projections.reading import NotificationReader
from tests.conftest import POSTGRES_URL, Store
from tests.factories import build_tree

pytestmark = pytest.mark.postgres_only

WRITERS = 4
SAVES_PER_WRITER = 30
READ, SKIPPED = "tests.log:Read", "tests.log:Skipped"  # topics; the engine's reader passes over SKIPPED
PAUSE = "tests.log:Pause"  # the INSERT of an event of this topic waits (see pause_inserts)
PAGE = 7  # small pages: many page boundaries fall among saves in flight
WAIT = 30.0  # seconds: the bound on every wait below (only a hang reaches it)
# Saves that a test holds open stay open: eventsourcing ends a session idle in a transaction
# after 5 s by default.
PATIENT = "60"  # POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT


def recorder_of(ledger: Ledger) -> PostgresLogRecorder:
    recorder = ledger.recorder
    assert isinstance(recorder, PostgresLogRecorder)
    return recorder


def events(count: int, topic: str = READ, originator_id: uuid.UUID | None = None) -> list[StoredEvent]:
    """`count` events of one new aggregate (versions 1, 2, ...)."""
    originator = originator_id or uuid.uuid4()
    return [StoredEvent(originator, version, topic, b"{}") for version in range(1, count + 1)]


@contextmanager
def raw(store: Store) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own to the store's schema, outside the ledger's pool."""
    schema = store.url.split("schema=")[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        yield conn


def committed_ids(store: Store) -> list[int]:
    """Every id in the events table, read directly (no horizon)."""
    with raw(store) as conn:
        return [row[0] for row in conn.execute("SELECT notification_id FROM ledger_events ORDER BY notification_id")]


def advisory_key(conn: psycopg.Connection[Any], key: int, *, granted: bool) -> bool:
    """Whether a session holds (or waits for) the advisory lock `key` (a bigint) in this database."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = %s AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::text::numeric * 4294967296 + objid::text::numeric = %s",
        (granted, key & 0xFFFF_FFFF_FFFF_FFFF),
    ).fetchone()
    return row is not None and row[0] > 0


@contextmanager
def pause_inserts(store: Store) -> Iterator[tuple[Callable[[], bool], Callable[[], None]]]:
    """The INSERT of an event of topic PAUSE waits (after that event has drawn its id and
    its transaction id), as a save's statement preempted in the middle would, until
    `resume()`; `paused()` waits until an INSERT is paused."""
    key = random.randrange(1, 2**31)
    with raw(store) as conn:
        conn.execute(sql.SQL(
            "CREATE FUNCTION pause_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.topic = {topic} THEN PERFORM set_config('lock_timeout', '0', true); "
            "PERFORM pg_advisory_lock_shared({key}); PERFORM pg_advisory_unlock_shared({key}); END IF; "
            "RETURN NEW; END $$").format(topic=sql.Literal(PAUSE), key=sql.Literal(key)))
        conn.execute("CREATE TRIGGER pause_insert BEFORE INSERT ON ledger_events "
                     "FOR EACH ROW EXECUTE FUNCTION pause_insert()")
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        released = False

        def paused() -> bool:
            return wait_until(lambda: advisory_key(conn, key, granted=False))

        def resume() -> None:
            nonlocal released
            if not released:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                released = True

        try:
            yield paused, resume
        finally:
            resume()


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def run(target: Callable[[], Any], name: str) -> tuple[threading.Thread, list[Any]]:
    """`target` on a thread; its result or error lands in the returned list."""
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(target())
        except BaseException as error:  # the test inspects it (a failed assertion too)
            outcome.append(error)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread, outcome


def test_a_tail_reads_every_committed_event_once_in_order_while_saves_commit_out_of_order(store: Store) -> None:
    ledger = store.ledger()
    recorder = recorder_of(ledger)
    # Each save stays open a random short time after its INSERT: saves that drew later ids
    # often commit first.
    recorder._inserted = lambda conn: time.sleep(random.uniform(0, 0.015))  # type: ignore[method-assign]
    saved: list[int] = []
    refused: list[int] = []
    # The last committed id, once the writers are done: the tails read on until they reach
    # it (another transaction of the database server may hold them back a while).
    target: list[int] = []
    deadline = time.monotonic() + 120

    def caught_up(position: int) -> bool:
        return bool(target) and position >= target[0]

    def write(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[StoredEvent] = []
        for n in range(SAVES_PER_WRITER):
            if mine and n % 8 == 7:  # a save the store refuses (the version exists): its ids are gaps
                taken = rng.choice(mine)
                batch = [*events(rng.randint(0, 2)), StoredEvent(taken.originator_id, 1, READ, b"{}")]
                with pytest.raises(IntegrityError):
                    recorder.insert_events(batch)
                refused.append(len(batch))
                continue
            batch = events(rng.randint(1, 4), rng.choice((READ, SKIPPED)))
            ids = recorder.insert_events(batch)
            assert ids is not None and len(ids) == len(batch)
            saved.extend(ids)
            mine.extend(batch)

    def tail_notifications() -> list[int]:
        """`select_notifications` after the last id read, as the library's followers do."""
        seen: list[int] = []
        while time.monotonic() < deadline and not caught_up(seen[-1] if seen else 0):
            page = recorder.select_notifications(start=seen[-1] if seen else 0, limit=PAGE, inclusive_of_start=False)
            seen.extend(n.id for n in page)
            if not page:
                time.sleep(0.001)
        return seen

    def tail_ranges() -> tuple[list[int], int]:
        """The projection engine's reader: pages past SKIPPED events, counting them."""
        reader = NotificationReader(recorder, [SKIPPED])
        read: list[int] = []
        position = counted = 0
        while time.monotonic() < deadline and not caught_up(position):
            page, position, count = reader.select_range(position, PAGE)
            read.extend(reader.position(row) for row in page)
            counted += count
            if not count:
                time.sleep(0.001)
        return read, counted

    tails = [run(tail_notifications, "tail-notifications"), run(tail_ranges, "tail-ranges")]
    writers = [run(functools.partial(write, seed), f"writer-{seed}") for seed in range(WRITERS)]
    for thread, outcome in writers:
        thread.join(WAIT * 4)
        assert not thread.is_alive(), "a writer hung"
        assert outcome == [None], outcome
    target.append(committed_ids(store)[-1])
    for thread, _ in tails:
        thread.join(WAIT)
        assert not thread.is_alive(), "a tail hung"

    stored = committed_ids(store)
    assert sorted(saved) == stored
    assert refused, "no save was refused: no gap was tested"
    assert stored[-1] - stored[0] + 1 > len(stored), "the refused saves left no gap"
    notifications = tails[0][1][0]
    assert notifications == stored  # each once, in order, none passed over
    (read, counted) = tails[1][1][0]
    topics = {row[0]: row[3] for row in NotificationReader(recorder).select(0, len(stored))}
    assert read == [i for i in stored if topics[i] == READ]
    assert counted == len(stored)


def test_a_save_that_starts_while_another_is_inside_its_insert_draws_its_ids_after_it(store: Store) -> None:
    """The first save's INSERT is paused after its first row has drawn its id (and its
    transaction id); a second save starts and is held open once it has inserted; the first
    then commits. Had the second drawn ids in between, readers would read the first's ids
    on either side of them and pass over the second's when it commits."""
    ledger = store.ledger(POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT=PATIENT)
    recorder = recorder_of(ledger)
    second_inserted, release_second = threading.Event(), threading.Event()

    def hold(conn: object) -> None:
        if threading.current_thread().name == "second":
            second_inserted.set()
            release_second.wait(WAIT)

    recorder._inserted = hold  # type: ignore[method-assign]
    aggregate = uuid.uuid4()
    with pause_inserts(store) as (paused, resume), raw(store) as conn:
        first, first_ids = run(lambda: recorder.insert_events(
            [StoredEvent(aggregate, 1, PAUSE, b"{}"), StoredEvent(aggregate, 2, READ, b"{}")]), "first")
        try:
            assert paused(), "the first save's INSERT did not reach its pause"
            second, second_ids = run(lambda: recorder.insert_events(events(2)), "second")
            # The second save has inserted, or waits for the first's INSERT to end.
            assert wait_until(lambda: second_inserted.is_set()
                              or advisory_key(conn, recorder.insert_lock_key, granted=False))
            resume()
            first.join(WAIT)
            read = [n.id for n in recorder.select_notifications(start=0, limit=10, inclusive_of_start=False)]
        finally:
            resume()
            release_second.set()
        second.join(WAIT)
    read += [n.id for n in recorder.select_notifications(start=read[-1], limit=10, inclusive_of_start=False)]
    assert read == committed_ids(store)  # none passed over
    assert isinstance(first_ids[0], list) and isinstance(second_ids[0], list), (first_ids, second_ids)
    assert read == first_ids[0] + second_ids[0]


def test_two_saves_are_inserted_and_uncommitted_at_the_same_time(store: Store) -> None:
    """No table lock: a second save inserts while the first is still open; readers stop
    before the first's ids until it commits, then read both in id order. (Reads of this
    process wait for its own saves held back, a second here, then read as they stand.)"""
    ledger = store.ledger(POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT=PATIENT, POSTGRES_LOCK_TIMEOUT="1")
    recorder = recorder_of(ledger)
    first_inserted, second_inserted, release_first = threading.Event(), threading.Event(), threading.Event()

    def hold(conn: object) -> None:
        if threading.current_thread().name == "first":
            first_inserted.set()
            release_first.wait(WAIT)
        else:
            second_inserted.set()

    recorder._inserted = hold  # type: ignore[method-assign]
    first_events, second_events = events(2), events(3)
    first, first_ids = run(lambda: recorder.insert_events(first_events), "first")
    try:
        assert first_inserted.wait(WAIT)
        second, second_ids = run(lambda: recorder.insert_events(second_events), "second")
        # With a table lock the second save would wait here for the first's commit.
        assert second_inserted.wait(WAIT), "the second save could not insert while the first was open"
        assert wait_until(lambda: len(committed_ids(store)) == len(second_events))  # the second committed
        # The first, lower ids are in flight: readers see nothing yet, not the second's ids.
        assert recorder.max_notification_id() is None
        assert recorder.select_notifications(start=1, limit=10) == []
        assert NotificationReader(recorder, [SKIPPED]).select_range(0, 10) == ([], 0, 0)
    finally:
        release_first.set()
    first.join(WAIT)
    second.join(WAIT)
    assert isinstance(first_ids[0], list) and isinstance(second_ids[0], list), (first_ids, second_ids)
    assert max(first_ids[0]) < min(second_ids[0])
    # (read-your-writes is the next test's: here another transaction of the database
    # server may hold the horizon back a while)
    assert wait_until(lambda: recorder.max_notification_id() == max(second_ids[0]))
    assert [n.id for n in recorder.select_notifications(start=1, limit=10)] == first_ids[0] + second_ids[0]


@contextmanager
def older_transaction(store: Store) -> Iterator[Callable[[], None]]:
    """A transaction of another session that has written (it has a transaction id) and
    stays open until the yielded function ends it (or the block does)."""
    with raw(store) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_current_xact_id()")
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                conn.execute("COMMIT")
                ended = True

        try:
            yield end
        finally:
            end()


def test_a_save_returns_once_an_older_transaction_has_ended_and_its_events_are_readable(store: Store) -> None:
    """Read-your-writes: the inline views' catch-up right after a command sees the command,
    even when a transaction older than the command's was still running at its commit."""
    # A longer bound than the 5 s default: other jobs' transactions on the database server
    # hold the command back too, and this test asserts it came back only once readable.
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="30")
    engine = store.engine(ledger)
    def bring_views_up_to_date(_: int) -> None:  # as the API's inline views do
        engine.catch_up()

    ledger.on_saved.append(bring_views_up_to_date)
    build_tree(ledger)
    before = len(committed_ids(store))
    with older_transaction(store) as end:
        command, outcome = run(
            lambda: (ledger.register_organization("XW-C1-B9", "第九党支部", "branch", "XW-C1", "320102"),
                     engine.position), "command")
        assert wait_until(lambda: len(committed_ids(store)) > before)  # the command's events are committed
        command.join(0.5)  # a save that did not wait would be back already, its views behind it
        end()
        command.join(WAIT)
    assert not command.is_alive()
    recorded, applied = outcome[0]
    assert applied >= recorded.position
    assert ledger.max_position() >= recorded.position
    assert store.queries().organization("XW-C1-B9")["name"] == "第九党支部"


def test_a_save_held_back_by_an_older_transaction_returns_at_once_and_readers_are_told_when_it_passes(
    store: Store,
) -> None:
    """The save doesn't wait for an older transaction (its caller's answer doesn't either);
    this process's own reads of the log's end wait for the save (read-your-writes), and a
    reader in another process, listening on the channel, is woken once the older
    transaction has ended and the save's events can be read."""
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="30")
    recorder = recorder_of(ledger)
    recorder.insert_events(events(1))  # the composite type and the pool, made before timing
    recorder.max_notification_id()  # (other jobs' transactions on the server may hold it back)
    assert wait_until(lambda: recorder._announcer is None)
    held_back = recorder.held_back
    pool = recorder.datastore.pool

    def ours(notifications: Any) -> list[Any]:
        """Those sent by this recorder's connections (the channel is the database's: other
        stores' saves notify it too)."""
        pids = {conn.info.backend_pid for conn in list(pool._pool)}
        return [n for n in notifications if n.pid in pids]

    with raw(store) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))
        with older_transaction(store) as end:
            save, ids = run(lambda: recorder.insert_events(events(2)), "save")
            save.join(WAIT)
            assert not save.is_alive()
            assert isinstance(ids[0], list), ids
            assert recorder.held_back == held_back + 1
            list(listener.notifies(timeout=0.5))  # the commit's notification (the rows held back)
            after, beyond = run(lambda: recorder.select_notifications(max(ids[0]), 10, inclusive_of_start=False),
                                "read after it")
            after.join(5.0)  # (the save is held back for 30 s at most)
            assert not after.is_alive() and beyond == [[]]  # a range past the save doesn't wait for it
            reading, found = run(recorder.max_notification_id, "read")
            listing, listed = run(lambda: recorder.select_notifications(1, 10), "read from the start")
            reading.join(0.5)
            assert reading.is_alive() and listing.is_alive()  # this process waits for its own save
            assert not ours(listener.notifies(timeout=0.2))  # nothing new to read yet
            end()
            reading.join(WAIT)
            listing.join(WAIT)
        assert found == [max(ids[0])]
        assert [n.id for n in listed[0]][-2:] == ids[0]
        deadline = time.monotonic() + WAIT
        received: list[Any] = []
        while not ours(received) and time.monotonic() < deadline:  # (its connection back in the pool)
            received += listener.notifies(timeout=0.2)
        assert ours(received)  # told: now readable
    assert [n.id for n in recorder.select_notifications(start=1, limit=10)][-2:] == ids[0]


def test_every_recorder_of_the_store_in_this_process_waits_for_a_save_of_another_held_back(store: Store) -> None:
    """Two ledgers of one store in one process (as the tests and the CLI have): what one
    saved is waited for by the other's reads of the log's end, as by its own."""
    first = recorder_of(store.ledger(POSTGRES_LOCK_TIMEOUT="30"))
    second = recorder_of(store.ledger(POSTGRES_LOCK_TIMEOUT="30", CREATE_TABLE="n"))
    first.insert_events(events(1))
    second.insert_events(events(1))
    first.max_notification_id()  # (other jobs' transactions on the server may hold them back)
    with older_transaction(store) as end:
        ids = second.insert_events(events(2))
        assert ids is not None
        reading, found = run(first.max_notification_id, "read")
        reading.join(0.5)
        assert reading.is_alive()
        end()
        reading.join(WAIT)
    assert found == [max(ids)]


def test_a_save_held_back_longer_than_the_lock_timeout_returns_and_is_read_once_the_older_one_ends(
    store: Store,
) -> None:
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="1")
    recorder = recorder_of(ledger)
    with older_transaction(store) as end:
        save, ids = run(lambda: recorder.insert_events(events(2)), "save")
        save.join(WAIT)
        assert not save.is_alive(), "the save waited past its bound"
        assert isinstance(ids[0], list), ids
        assert committed_ids(store) == ids[0]  # saved,
        assert recorder.max_notification_id() is None  # but held back from readers
        end()
    assert wait_until(lambda: recorder.max_notification_id() == max(ids[0]))  # (others may hold it a while)
    assert [n.id for n in recorder.select_notifications(start=1, limit=10)] == ids[0]


def test_a_save_no_longer_in_the_log_is_not_waited_for_and_the_next_one_is(
    store: Store, caplog: pytest.LogCaptureFixture,
) -> None:
    """The store replaced (its rows gone, its ids started again) or rows deleted behind the
    ledger's back take this process's last save out of the log: the reads of the log don't
    wait for it (they would, in vain, for their whole bound), a warning says so, and a save
    made afterwards, with a lower id than the one forgotten, is waited for again while an
    older transaction holds it back (read-your-writes)."""
    recorder = recorder_of(store.ledger(POSTGRES_LOCK_TIMEOUT="3600"))
    recorder.insert_events(events(3))
    assert wait_until(lambda: recorder.max_notification_id() == 3)  # (others may hold it a while)
    with raw(store) as conn:
        conn.execute("DELETE FROM ledger_events")
        conn.execute("SELECT setval(pg_get_serial_sequence('ledger_events', 'notification_id'), 1, false)")
    reading, found = run(recorder.max_notification_id, "read")
    reading.join(WAIT)
    assert not reading.is_alive(), "the read waited for a save that is no longer in the log"
    assert found == [None]
    assert any("no longer in the log" in record.getMessage() for record in caplog.records)
    with older_transaction(store) as end:
        ids = recorder.insert_events(events(1))
        assert ids == [1]
        reading, read = run(lambda: [n.id for n in recorder.select_notifications(start=1, limit=10)], "read")
        reading.join(0.5)
        assert reading.is_alive()  # waits for the save held back, though its id is below the one forgotten
        end()
        reading.join(WAIT)
    assert read == [[1]]


def test_a_refused_save_leaves_no_insert_lock_behind(store: Store) -> None:
    ledger = store.ledger()
    recorder = recorder_of(ledger)
    taken = events(1)
    recorder.insert_events(taken)
    with pytest.raises(IntegrityError):
        recorder.insert_events([*events(2), taken[0]])
    with raw(store) as conn:
        assert not advisory_key(conn, recorder.insert_lock_key, granted=True)
    # Another save takes the lock at once (a leaked one would make it wait, then fail).
    assert recorder.insert_events(events(1)) is not None
    assert len(recorder.select_notifications(start=1, limit=10)) == 2


def test_a_save_that_wrote_before_drawing_its_ids_is_refused(store: Store) -> None:
    """Its transaction id would be older than ids drawn meanwhile by others: refused, so
    transaction ids and notification ids stay in one order."""
    ledger = store.ledger()
    recorder = recorder_of(ledger)

    def write_first(curs: Any, stored_events: Any, **_: Any) -> None:
        curs.execute("SELECT pg_current_xact_id()")

    recorder._insert_events = write_first  # type: ignore[method-assign]
    with pytest.raises(ProgrammingError):
        recorder.insert_events(events(1))
    assert committed_ids(store) == []


def test_a_table_of_the_librarys_recorder_gains_the_transaction_column_at_set_up(store: Store) -> None:
    old = store.ledger(APPLICATION_RECORDER_TOPIC="eventsourcing.postgres:PostgresApplicationRecorder")
    assert not isinstance(old.recorder, PostgresLogRecorder)
    build_tree(old)
    before = [n.id for n in old.recorder.select_notifications(start=1, limit=1000)]
    old.close()

    ledger = store.ledger()  # set-up with this recorder
    recorder = recorder_of(ledger)
    with raw(store) as conn:
        (default,) = conn.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'ledger_events' AND column_name = 'transaction_id'").fetchone() or (None,)
        old_rows = conn.execute("SELECT DISTINCT transaction_id::text FROM ledger_events").fetchall()
    assert default == "pg_current_xact_id()"
    assert old_rows == [("0",)]
    assert [n.id for n in recorder.select_notifications(start=1, limit=1000)] == before
    assert ledger.max_position() == before[-1]
    recorded = ledger.register_organization("XW-C1-B9", "第九党支部", "branch", "XW-C1", "320102")
    assert ledger.max_position() == recorded.position > before[-1]
    engine = store.engine(ledger)
    assert engine.catch_up() == recorded.position
    store.ledger(CREATE_TABLE="y")  # set-up again: nothing to change
