"""The sealed log on both stores: every kind of tampering with the stored events, done with
SQL on the store's own tables, is found and located by recomputing the chain; a tail
rewritten with every seal recomputed is caught by a checkpoint taken before."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from domain.ledger import Ledger
from domain.sealing import GENESIS, chain, digest, sign
from projections import sealer as sealer_module
from projections.db import ViewDatabase
from projections.sealer import TABLE, Sealer, last_seal
from tests.conftest import Store
from tests.factories import admit, build_tree

KEY = b"checkpoint-test-key-" + b"k" * 32


class Sealed:
    """A small sealed history on one store, and SQL on its tables."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ledger: Ledger = store.ledger()
        build_tree(self.ledger)
        for n in range(1, 4):
            admit(self.ledger, n, "XW-C1-B1")
        self.db = ViewDatabase(store.url)
        self.sealer = Sealer(self.ledger, self.db)
        self.sealer.seal()
        self.table = self.sealer.events_table
        self.column = self.sealer.column

    def positions(self) -> list[int]:
        return [r[0] for r in self.db.query(f"SELECT {self.column} FROM {self.table} ORDER BY {self.column}")]

    def row(self, position: int) -> tuple[Any, ...]:
        return self.db.query(f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
                             f"WHERE {self.column} = ?", (position,))[0]

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with self.db.transaction():
            self.db.execute(statement, params)

    def move(self, old: int, new: int) -> None:
        self.sql(f"UPDATE {self.table} SET {self.column} = ? WHERE {self.column} = ?", (new, old))

    def insert(self, position: int, row: tuple[Any, ...]) -> None:
        self.sql(f"INSERT INTO {self.table} ({self.column}, originator_id, originator_version, topic, state) "
                 "VALUES (?, ?, ?, ?, ?)", (position, *row))

    def verify(self, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.sealer.verify(checkpoint).as_dict()

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def sealed(store: Store) -> Iterator[Sealed]:
    s = Sealed(store)
    yield s
    s.close()


def test_an_untouched_log_verifies_and_every_event_is_sealed_once(sealed: Sealed) -> None:
    positions = sealed.positions()
    assert len(positions) > 20
    result = sealed.verify()
    assert result == {"ok": True, "events": len(positions), "unsealed": 0, "first_bad_position": None,
                      "reason": None}
    # the seals are the chain over the stored bytes, in position order
    expected, previous = [], GENESIS
    for position in positions:
        previous = chain(previous, position, digest(*sealed.row(position)))
        expected.append((position, previous))
    stored = [(p, bytes(s)) for p, s in sealed.db.query(f"SELECT position, seal FROM {TABLE} ORDER BY position")]
    assert stored == expected
    # sealing again, from another sealer too, adds nothing
    assert Sealer(sealed.ledger, sealed.db).seal() == positions[-1]
    assert sealed.db.scalar(f"SELECT count(*) FROM {TABLE}") == len(positions)


def test_events_saved_later_are_sealed_after_the_others(sealed: Sealed) -> None:
    before = sealed.positions()[-1]
    admit(sealed.ledger, 9, "XW-C1-B2")
    assert sealed.verify()["unsealed"] == 0
    assert sealed.sealer.seal() == sealed.positions()[-1] > before
    assert sealed.verify()["ok"]


def test_one_byte_of_one_events_state_changed(sealed: Sealed) -> None:
    position = sealed.positions()[10]
    state = sealed.row(position)[3]
    changed = bytes(state[:5]) + bytes([state[5] ^ 1]) + bytes(state[6:])
    sealed.sql(f"UPDATE {sealed.table} SET state = ? WHERE {sealed.column} = ?", (changed, position))
    assert sealed.verify() == {"ok": False, "events": 10, "unsealed": 0, "first_bad_position": position,
                               "reason": "changed"}


@pytest.mark.parametrize("where", ["middle", "end"])
def test_an_event_deleted(sealed: Sealed, where: str) -> None:
    positions = sealed.positions()
    position = positions[7] if where == "middle" else positions[-1]
    sealed.sql(f"DELETE FROM {sealed.table} WHERE {sealed.column} = ?", (position,))
    result = sealed.verify()
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "missing")


def test_an_event_deleted_and_the_rest_moved_up(sealed: Sealed) -> None:
    positions = sealed.positions()
    position = positions[7]
    sealed.sql(f"DELETE FROM {sealed.table} WHERE {sealed.column} = ?", (position,))
    for old, new in zip(positions[8:], positions[7:], strict=False):
        sealed.move(old, new)
    result = sealed.verify()
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "missing")


def test_an_event_inserted(sealed: Sealed) -> None:
    positions = sealed.positions()
    position = positions[5]
    originator_id, version, topic, state = sealed.row(positions[4])
    for old in reversed(positions[5:]):  # make room, as an insertion in the middle must
        sealed.move(old, old + 1)
    sealed.insert(position, (originator_id, version + 1000, topic, state))
    result = sealed.verify()
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "inserted")


def test_an_event_inserted_where_the_log_has_a_gap(sealed: Sealed) -> None:
    positions = sealed.positions()
    gap = positions[-1] + 1
    sealed.move(positions[-1], positions[-1] + 2)  # a gap, as a rolled-back save leaves
    sealed.sql(f"UPDATE {TABLE} SET position = ? WHERE position = ?", (positions[-1] + 2, positions[-1]))
    originator_id, version, topic, state = sealed.row(positions[3])
    sealed.insert(gap, (originator_id, version + 1000, topic, state))
    result = sealed.verify()
    assert (result["first_bad_position"], result["reason"]) == (gap, "inserted")


@pytest.mark.parametrize("below", [0, -7])
def test_an_event_inserted_below_the_first_position_is_found_and_never_sealed(sealed: Sealed, below: int) -> None:
    """No save writes a row at position 0 or below, and no seal covers one, but the domain
    reads it like any other (an operator's grant put there gave a working token): verifying
    names it, and the sealer seals nothing more after it, without failing."""
    positions = sealed.positions()
    originator_id, version, topic, state = sealed.row(positions[4])
    for at in (below, below - 3):  # events of an aggregate of their own: the ledger still works
        stranger = uuid.uuid4()
        sealed.insert(at, (stranger if isinstance(originator_id, uuid.UUID) else stranger.hex, version, topic, state))
    result = sealed.verify()
    assert result == {"ok": False, "events": 0, "unsealed": 0, "first_bad_position": below - 3,
                      "reason": "inserted"}
    checkpoint = sign(positions[-1], last_seal(sealed.db)[1], KEY)
    assert sealed.verify(checkpoint)["reason"] == "inserted"  # an untouched checkpoint does not hide it
    admit(sealed.ledger, 9, "XW-C1-B2")  # the log grows: nothing more is sealed
    assert sealed.ledger.max_position() > positions[-1]
    assert sealed.sealer.seal() == positions[-1]
    assert last_seal(sealed.db)[0] == positions[-1]
    assert sealed.db.scalar(f"SELECT min(position) FROM {TABLE}") == positions[0]


def test_two_events_swapped(sealed: Sealed) -> None:
    positions = sealed.positions()
    a, b = positions[6], positions[12]
    spare = positions[-1] + 100
    sealed.move(a, spare)
    sealed.move(b, a)
    sealed.move(spare, b)
    result = sealed.verify()
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, a, "reordered")


def test_a_seal_row_altered(sealed: Sealed) -> None:
    position = sealed.positions()[4]
    sealed.sql(f"UPDATE {TABLE} SET seal = ? WHERE position = ?", (b"\x00" * 32, position))
    result = sealed.verify()
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "seal_changed")


def rewrite_tail(sealed: Sealed, start: int) -> None:
    """Change the event at `start` and recompute every seal from there, as someone who knows
    the scheme but not the checkpoint key would."""
    state = sealed.row(start)[3]
    sealed.sql(f"UPDATE {sealed.table} SET state = ? WHERE {sealed.column} = ?",
               (bytes(state).replace(b"1", b"2", 1), start))
    previous = bytes(sealed.db.query(f"SELECT seal FROM {TABLE} WHERE position < ? ORDER BY position DESC "
                                     "LIMIT 1", (start,))[0][0])
    with sealed.db.transaction():
        for position in [p for p in sealed.positions() if p >= start]:
            event_digest = digest(*sealed.row(position))
            previous = chain(previous, position, event_digest)
            sealed.db.execute(f"UPDATE {TABLE} SET digest = ?, seal = ? WHERE position = ?",
                              (event_digest, previous, position))


def test_a_tail_rewritten_with_its_seals_is_caught_by_the_checkpoint(sealed: Sealed) -> None:
    position, root = sealed.sealer.checkpoint()
    checkpoint = sign(position, root, KEY)
    assert position == sealed.positions()[-1]
    assert sealed.verify(checkpoint)["ok"]
    admit(sealed.ledger, 7, "XW-C1-B2")  # the log grows: it still extends the checkpoint
    assert sealed.verify(checkpoint)["ok"]

    rewrite_tail(sealed, sealed.positions()[9])
    assert sealed.verify()["ok"]  # the seals alone were rewritten to agree
    result = sealed.verify(checkpoint)
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "checkpoint")


def test_a_tail_cut_off_with_its_seals_is_caught_by_the_checkpoint(sealed: Sealed) -> None:
    position, root = sealed.sealer.checkpoint()
    checkpoint = sign(position, root, KEY)
    cut = sealed.positions()[-3]
    sealed.sql(f"DELETE FROM {sealed.table} WHERE {sealed.column} >= ?", (cut,))
    sealed.sql(f"DELETE FROM {TABLE} WHERE position >= ?", (cut,))
    assert sealed.verify()["ok"]
    result = sealed.verify(checkpoint)
    assert (result["ok"], result["first_bad_position"], result["reason"]) == (False, position, "missing")


def free_for_another_thread(lock: Any) -> bool:
    """Whether another thread could take `lock` now."""
    taken: list[bool] = []

    def attempt() -> None:
        taken.append(lock.acquire(blocking=False))
        if taken[0]:
            lock.release()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return taken[0]


def test_the_background_thread_seals_a_backlog_in_small_batches_that_saves_can_pass(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log recorded and not yet sealed (an import by another process): the serving process's
    sealer thread seals it BACKGROUND_BATCH events a transaction, and on SQLite (one writer for
    the database) each of them holds the process's writing lock, so a save of the process waits
    for one small batch at most, not behind the whole backlog in SQLite's busy handler."""
    ledger = store.ledger()
    build_tree(ledger)
    for n in range(1, 4):
        admit(ledger, n, "XW-C1-B1")
    last = ledger.max_position()
    monkeypatch.setattr(sealer_module, "BACKGROUND_BATCH", 4, raising=False)
    monkeypatch.setattr(sealer_module, "GIVE_WAY_SECONDS", 0.0, raising=False)
    db, watch = ViewDatabase(store.url), ViewDatabase(store.url)
    sealer = Sealer(ledger, db)
    batches: list[tuple[int, bool]] = []  # (events sealed, the writing lock free meanwhile)
    seal_batch = sealer._seal_batch

    def watched(*args: Any) -> tuple[int, int]:
        free = free_for_another_thread(ledger.writing)
        count, position = seal_batch(*args)
        batches.append((count, free))
        return count, position

    monkeypatch.setattr(sealer, "_seal_batch", watched)
    try:
        sealer.start()
        sealer.poke()
        deadline = time.monotonic() + 60
        while last_seal(watch)[0] < last and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sealer.stop()
        watch.close()
    try:
        background = list(batches)
        events = db.scalar(f"SELECT count(*) FROM {sealer.events_table}")
        assert last_seal(db)[0] == last and db.scalar(f"SELECT count(*) FROM {TABLE}") == events > 20
        assert max(count for count, _free in background) == 4  # never more in one transaction
        if store.kind == "sqlite":
            assert not any(free for _count, free in background)
        assert sealer.verify().as_dict()["ok"]
    finally:
        db.close()
