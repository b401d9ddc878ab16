"""The sealed log through the API, on both stores: GET /v1/audit/verify recomputes the chain
and names where it breaks; GET /v1/audit/checkpoint signs the root with the key from the
settings, and answers 503 naming the setting when there is none."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domain.sealing import chain, digest, signed_by
from projections.db import ViewDatabase
from projections.sealer import TABLE
from tests.api.conftest import Api
from tests.conftest import Store
from tests.factories import admit

KEY = "api-checkpoint-key-for-tests-" + "a" * 8


@pytest.fixture
def keyed(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", KEY)
    api = Api(store)
    yield api
    api.close()


def test_verify_recomputes_the_chain(keyed: Api, store: Store) -> None:
    for n in range(1, 4):
        admit(keyed.ledger, n, "XW-C1-B1")
    auditor = keyed.client("auditor")
    answer = auditor.get("/v1/audit/verify").json()
    assert answer["ok"] and answer["chain"]["ok"] and answer["chain"]["events"] > 20

    sealer = keyed.services.sealer
    db = ViewDatabase(store.url)
    try:
        position = db.query(f"SELECT {sealer.column} FROM {sealer.events_table} ORDER BY {sealer.column} "
                            "LIMIT 1 OFFSET 8")[0][0]
        with db.transaction():
            db.execute(f"DELETE FROM {sealer.events_table} WHERE {sealer.column} = ?", (position,))
    finally:
        db.close()
    answer = auditor.get("/v1/audit/verify").json()
    assert not answer["ok"]
    assert answer["chain"] == {"ok": False, "events": 8, "unsealed": 0, "first_bad_position": position,
                               "reason": "missing"}


def test_checkpoint_is_signed_with_the_settings_key(keyed: Api) -> None:
    response = keyed.client("auditor").get("/v1/audit/checkpoint")
    assert response.status_code == 200, response.text
    checkpoint = response.json()
    assert set(checkpoint) == {"position", "root", "signature"}
    assert checkpoint["position"] == keyed.ledger.max_position()
    assert signed_by(checkpoint, KEY.encode()) and not signed_by(checkpoint, b"another key of enough length!!!!")
    assert keyed.client("xw_auditor").get("/v1/audit/checkpoint").status_code == 403
    assert keyed.client("xw_clerk").get("/v1/audit/checkpoint").status_code == 403


def test_checkpoint_without_a_key_is_503_naming_the_setting(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: object) -> None:
    monkeypatch.delenv("LEDGER_CHECKPOINT_KEY", raising=False)
    monkeypatch.chdir(str(tmp_path))  # no .env
    api = Api(store)
    try:
        response = api.client("auditor").get("/v1/audit/checkpoint")
        assert response.status_code == 503
        assert response.json()["code"] == "not_ready" and "LEDGER_CHECKPOINT_KEY" in response.json()["detail"]
    finally:
        api.close()


class Stored:
    """SQL on one store's event log and seals, as someone with the database's password would."""

    def __init__(self, api: Api, store: Store) -> None:
        self.sealer = api.services.sealer
        self.sealer.seal()  # every event saved so far sealed before it is changed
        self.table, self.column = self.sealer.events_table, self.sealer.column
        self.db = ViewDatabase(store.url)

    def position(self, topic: str, nth: int = 0) -> int:
        return int(self.db.query(f"SELECT {self.column} FROM {self.table} WHERE topic LIKE ? "
                                 f"ORDER BY {self.column} LIMIT 1 OFFSET ?", (f"%{topic}", nth))[0][0])

    def state(self, position: int) -> bytes:
        return bytes(self.db.query(f"SELECT state FROM {self.table} WHERE {self.column} = ?", (position,))[0][0])

    def sql(self, statement: str, params: tuple[Any, ...]) -> None:
        with self.db.transaction():
            self.db.execute(statement, params)

    def set_state(self, position: int, state: bytes) -> None:
        self.sql(f"UPDATE {self.table} SET state = ? WHERE {self.column} = ?", (state, position))

    def reseal(self, start: int) -> None:
        """Every seal from `start` on recomputed, as one who knows the scheme would."""
        previous = bytes(self.db.query(f"SELECT seal FROM {TABLE} WHERE position < ? ORDER BY position DESC "
                                       "LIMIT 1", (start,))[0][0])
        rows = self.db.query(f"SELECT {self.column}, originator_id, originator_version, topic, state "
                             f"FROM {self.table} WHERE {self.column} >= ? ORDER BY {self.column}", (start,))
        with self.db.transaction():
            for position, *fields in rows:
                event_digest = digest(*fields)
                previous = chain(previous, position, event_digest)
                self.db.execute(f"UPDATE {TABLE} SET digest = ?, seal = ? WHERE position = ?",
                                (event_digest, previous, position))


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


TAMPERS: dict[str, Callable[[Stored, int], None]] = {
    "garbage state": lambda s, at: s.set_state(at, b"\xff\xfe\x00garbage{{"),
    "topic renamed": lambda s, at: s.sql(f"UPDATE {s.table} SET topic = topic || 'X' WHERE {s.column} = ?", (at,)),
    "a byte of the _data_ key": lambda s, at: s.set_state(at, flip(s.state(at), s.state(at).index(b'"_data_"') + 2)),
    "a byte of the personal fields": lambda s, at: s.set_state(
        at, flip(s.state(at), s.state(at).index(b'"_personal_":"') + 30)),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_an_event_that_no_longer_decodes_is_reported_as_the_chain_break(keyed: Api, store: Store, tamper: str) -> None:
    """An event changed into bytes the domain can't read: verify answers the chain's break,
    not a 500 (nor a 503 for a sealed personal field that no longer opens), and does not
    re-derive the views from such a log; the audit stream gives that event flagged."""
    for n in range(1, 4):
        admit(keyed.ledger, n, "XW-C1-B1")
    stored = Stored(keyed, store)
    try:
        position = stored.position("Member.Imported", 1)
        TAMPERS[tamper](stored, position)
    finally:
        stored.db.close()
    auditor = keyed.client("auditor")
    response = auditor.get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not answer["ok"]
    assert (answer["chain"]["first_bad_position"], answer["chain"]["reason"]) == (position, "changed")
    assert answer["views"]["checked"] is False and answer["views"]["reason"] == "chain_broken"
    assert answer["views"]["first_bad_position"] == position and answer["mismatches"] == []
    page = auditor.get("/v1/audit/events", after=position - 2, limit=3)
    if tamper == "a byte of the personal fields":  # as every read of it: the data keys are suspected first
        assert page.status_code == 503
        return
    assert page.status_code == 200, page.text
    rows = page.json()["data"]
    assert [row["position"] for row in rows] == [position - 1, position, position + 1]
    assert [row.get("undecodable", False) for row in rows] == [False, True, False]
    assert rows[1]["data"] is None and rows[1]["type"].startswith("Member.Imported")
    assert rows[0]["data"] is not None and rows[2]["data"] is not None


def test_events_deleted_with_their_seals_are_a_chain_break_not_a_failed_rederivation(keyed: Api,
                                                                                   store: Store) -> None:
    for n in range(1, 4):
        admit(keyed.ledger, n, "XW-C1-B1")
    stored = Stored(keyed, store)
    try:
        first = stored.position("Member.Imported", 1)
        gone = [p for p in range(first, first + 3)]
        for position in gone:
            stored.sql(f"DELETE FROM {stored.table} WHERE {stored.column} = ?", (position,))
            stored.sql(f"DELETE FROM {TABLE} WHERE position = ?", (position,))
    finally:
        stored.db.close()
    response = keyed.client("auditor").get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["ok"], answer["chain"]["first_bad_position"], answer["chain"]["reason"]) == (
        False, first + 3, "seal_changed")
    assert answer["views"]["reason"] == "chain_broken"


def test_resealed_garbage_is_reported_as_views_not_rederivable_at_its_position(keyed: Api, store: Store) -> None:
    """Garbage written with every seal recomputed (the chain checks out without a checkpoint):
    the re-derivation fails on it, and verify says where instead of answering 500."""
    for n in range(1, 4):
        admit(keyed.ledger, n, "XW-C1-B1")
    stored = Stored(keyed, store)
    try:
        position = stored.position("Member.Imported", 1)
        stored.set_state(position, b"\xff\xfe\x00garbage{{")
        stored.reseal(position)
    finally:
        stored.db.close()
    response = keyed.client("auditor").get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["chain"]["ok"] and not answer["ok"]
    assert answer["views"]["checked"] is False and answer["views"]["reason"] == "underivable"
    assert answer["views"]["first_bad_position"] == position


def test_verify_names_the_rows_and_columns_that_differ_never_their_values(keyed: Api, store: Store) -> None:
    """A view row changed with SQL: the mismatch says which table, row and columns, and
    carries none of the row's values (a member's name, ID number, birth date...), which
    would be a read of a personal record that the access log does not show."""
    numbers = [admit(keyed.ledger, n, "XW-C1-B1") for n in range(1, 4)]
    stored = Stored(keyed, store)
    try:
        key, name, birth = stored.db.query("SELECT * FROM proj_members WHERE registration_no = ?",
                                           (numbers[1],))[0][:1] + stored.db.query(
            "SELECT name, birth_date FROM proj_members WHERE registration_no = ?", (numbers[1],))[0]
        stored.sql("UPDATE proj_members SET status = ? WHERE registration_no = ?", ("probationary", numbers[1]))
    finally:
        stored.db.close()
    response = keyed.client("auditor").get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not answer["ok"] and answer["chain"]["ok"] and answer["views"]["checked"]
    assert answer["mismatch_count"] == 1
    assert answer["mismatches"] == [{"table": "proj_members", "key": [str(key)], "difference": "changed",
                                     "columns": ["status"]}]
    assert name not in response.text and str(birth) not in response.text
