"""Personal data at rest, on both stores: the stored events and snapshots hold no member's
name, birth date, workplace, residence or free text in plain bytes (searched with SQL),
everything reads back through the commands as it was recorded, events sealed under an
older data key still read after a rotation, and a missing or wrong key is a one-line
configuration error naming LEDGER_DATA_KEYS."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from api.cli import app
from domain.identifiers import member_id
from domain.personal import DataKeys, new_key_entry
from tests.cli.audit_story import Story, tell_story
from tests.conftest import POSTGRES_URL, TEST_DATA_KEYS, TEST_ID_KEY, Store
from tests.factories import admit, build_tree, person

runner = CliRunner()
WORKPLACE, RESIDENCE = "南京某某科技有限公司", "玄武区某某小区十二栋"
DECLINED = "档案材料不全，待补充后再申请"


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


@contextmanager
def events_sql(store: Store) -> Iterator[Any]:
    """`count(table, needle)`: how many rows of the store's events ('events') or snapshots
    ('snapshots') table hold the bytes `needle` in their stored state, by SQL."""
    if store.kind == "sqlite":
        with closing(sqlite3.connect(store.url.removeprefix("sqlite:///"))) as conn:
            tables = {"events": "stored_events", "snapshots": "stored_snapshots"}
            yield lambda table, needle: conn.execute(
                f"SELECT count(*) FROM {tables[table]} WHERE instr(state, ?) > 0", (needle,)).fetchone()[0]
        return
    schema = store.url.split("schema=")[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as pg:
        pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        yield lambda table, needle: pg.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE position(%s::bytea IN state) > 0").format(
                sql.Identifier(f"ledger_{table}")), (needle,)).fetchone()[0]


@pytest.fixture
def told(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Story]]:
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    monkeypatch.setenv("LEDGER_DATA_KEYS", TEST_DATA_KEYS)
    ledger = store.ledger()
    build_tree(ledger)
    yield store, tell_story(ledger)


def test_no_plain_personal_data_in_the_stored_events_or_snapshots(told: tuple[Store, Story]) -> None:
    store, _ = told
    ledger = store.ledger()
    number = admit(ledger, 7, workplace=WORKPLACE, residence=RESIDENCE)
    transfer = ledger.request_transfer(number, "QH-C1-B1", reason="job_change", basis="household",
                                       on=date(2026, 11, 2))
    assert transfer.transfer_id is not None
    ledger.decline_transfer(transfer.transfer_id, DECLINED, on=date(2026, 11, 3))
    ledger.take_snapshot(member_id(number))  # a member's state as a whole, in the snapshots table
    people = [person(n) for n in (1, 2, 3, 4, 5, 7)]
    secrets = [p["name"] for p in people] + [p["birth_date"].isoformat() for p in people]
    secrets += [WORKPLACE, RESIDENCE, DECLINED, "外地培训班"]  # the certificate's host, in free text
    secrets += [p["id_card_no"] for p in people]  # never stored: a keyed digest only
    with events_sql(store) as count:
        # The search finds what is stored in plain: an organization's name, a registration number.
        assert count("events", "玄武街道党工委".encode()) >= 1
        assert count("events", number.encode()) >= 1 and count("snapshots", number.encode()) == 1
        for secret in secrets:
            assert count("events", secret.encode()) == 0, secret
            assert count("snapshots", secret.encode()) == 0, secret
        assert count("events", b'"_personal_":"test1:') >= 6
    # ... and the aggregates read back whole, from the snapshot too.
    member = store.ledger().member(number)
    assert (member.name, member.workplace, member.residence) == (person(7)["name"], WORKPLACE, RESIDENCE)


def test_every_reading_command_gives_back_what_was_recorded(told: tuple[Store, Story]) -> None:
    store, story = told
    assert run("rebuild").exit_code == 0
    verified = run("verify")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True

    exported = run("export")
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    enrolled = {line["data"]["registration_no"]: line["data"] for line in lines
                if line["type"] in ("Member.Imported", "Member.Admitted")}
    for n, number in ((1, story.moved), (5, story.admitted)):
        expected = person(n)
        data = enrolled[number]
        assert (data["name"], data["birth_date"], data["gender"]) == (
            expected["name"], expected["birth_date"].isoformat(), expected["gender"])
        assert "_personal_" not in data
        # the fields in the order the event has them, as before: the envelope, then the member's own
        assert list(data)[:3] == ["registration_no", "name", "gender"]
    certificate = next(line["data"] for line in lines if line["type"] == "Certificate.Issued")
    assert certificate["host_description"] == "外地培训班" and certificate["purpose"] == "study"

    history = run("history", story.moved, "--format", "json")
    assert history.exit_code == 0, history.output
    assert json.loads(history.stdout)["data"][0]["data"]["name"] == person(1)["name"]
    rows, _ = store.queries().roster("XW-C1", subtree=True)
    assert {row["registration_no"]: row["name"] for row in rows}[story.imported] == person(4)["name"]


def test_events_sealed_under_an_older_key_still_read_after_a_rotation(
    told: tuple[Store, Story], monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, story = told
    rotated = f"{new_key_entry('test2')},{TEST_DATA_KEYS}"
    monkeypatch.setenv("LEDGER_DATA_KEYS", rotated)
    ledger = store.ledger(LEDGER_DATA_KEYS=rotated)
    number = admit(ledger, 8, workplace=WORKPLACE)
    with events_sql(store) as count:
        assert count("events", b'"_personal_":"test2:') == 1  # the new one, under the current key
        assert count("events", b'"_personal_":"test1:') >= 5  # the older ones as they were
        assert count("events", WORKPLACE.encode()) == 0
    assert run("rebuild").exit_code == 0
    verified = run("verify")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True
    exported = run("export")
    assert exported.exit_code == 0, exported.output
    names = {line["data"].get("registration_no"): line["data"].get("name") for line in
             map(json.loads, exported.stdout.splitlines()) if line["type"] == "Member.Imported"}
    assert names[number] == person(8)["name"] and names[story.moved] == person(1)["name"]

    # Without the older key, what it sealed can't be read: said in one line, no traceback.
    monkeypatch.setenv("LEDGER_DATA_KEYS", rotated.split(",")[0])
    refused = run("export")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("configuration error:") and "'test1'" in refused.stderr
    assert "LEDGER_DATA_KEYS" in refused.stderr and "Traceback" not in refused.output


def test_a_wrong_or_missing_data_key_is_a_configuration_error_naming_the_setting(
    told: tuple[Store, Story], monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = new_key_entry("test1")  # the same id, another key
    monkeypatch.setenv("LEDGER_DATA_KEYS", wrong)
    for args in (("export",), ("rebuild",)):
        result = run(*args)
        assert result.exit_code == 2, args
        said = result.stderr.splitlines()[-1]  # after the progress bar, for a rebuild
        assert said.startswith("configuration error:") and "do not decrypt" in said
        assert "LEDGER_DATA_KEYS" in said and "Traceback" not in result.output
        assert wrong.split(":")[1] not in result.output  # the key itself is never shown

    monkeypatch.delenv("LEDGER_DATA_KEYS")
    missing = run("status")
    assert missing.exit_code == 2 and "LEDGER_DATA_KEYS" in missing.stderr and "Traceback" not in missing.output
    monkeypatch.setenv("LEDGER_DATA_KEYS", "test1:short")
    malformed = run("status")
    assert malformed.exit_code == 2 and "LEDGER_DATA_KEYS" in malformed.stderr
    assert "32 bytes" in malformed.stderr and "short" not in malformed.stderr


def test_a_rebuild_with_keys_that_do_not_open_the_log_leaves_the_views_as_they_were(
    told: tuple[Store, Story], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong key under the same id, or only a newer key after a rotation: the rebuild is
    refused before anything is dropped (exit 2), the views keep their rows and position, and
    `ledger verify` with that key is refused as well, not answered from empty views."""
    store, _ = told
    assert run("rebuild").exit_code == 0
    db = store.queries().db
    before = {table: db.query(f"SELECT * FROM {table} ORDER BY 1, 2")
              for table in ("proj_members", "proj_transfers", "proj_organizations")}
    assert before["proj_members"] and before["proj_transfers"]
    position = json.loads(run("status", "--field", "lag").stdout)["views_position"]
    assert position > 0
    for wrong in (new_key_entry("test1"), new_key_entry("test2")):
        monkeypatch.setenv("LEDGER_DATA_KEYS", wrong)
        result = run("rebuild")
        assert result.exit_code == 2, result.output
        said = result.stderr.splitlines()[-1]
        assert said.startswith("configuration error:") and "'test1'" in said and "LEDGER_DATA_KEYS" in said
        assert "rebuilt" not in result.stdout
        assert {table: db.query(f"SELECT * FROM {table} ORDER BY 1, 2") for table in before} == before
        assert json.loads(run("status", "--field", "lag").stdout)["views_position"] == position
        assert run("verify").exit_code == 2
    monkeypatch.setenv("LEDGER_DATA_KEYS", TEST_DATA_KEYS)
    assert run("verify").exit_code == 0


def test_views_of_an_older_version_are_not_dropped_under_keys_that_do_not_open_the_log(
    told: tuple[Store, Story], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Views written by other table definitions (an upgrade) are rebuilt at the first start,
    once the data keys are known to open the log: under a wrong key the start is refused
    (exit 2) and the views stay as they were, to be rebuilt under the right key."""
    store, _ = told
    assert run("rebuild").exit_code == 0
    db = store.queries().db
    db.execute("UPDATE proj_tracking SET position = position + 1 WHERE name = 'schema'")  # as an older version
    before = db.query("SELECT * FROM proj_members ORDER BY 1")
    assert before
    monkeypatch.setenv("LEDGER_DATA_KEYS", new_key_entry("test1"))
    result = run("overdue", "--organization", "XW")  # a command that opens the views
    assert result.exit_code == 2 and result.stderr.splitlines()[-1].startswith("configuration error:"), result.output
    assert db.query("SELECT * FROM proj_members ORDER BY 1") == before
    monkeypatch.setenv("LEDGER_DATA_KEYS", TEST_DATA_KEYS)
    assert run("overdue", "--organization", "XW").exit_code == 0
    assert db.query("SELECT * FROM proj_members ORDER BY 1") == before  # rebuilt: the same rows


def test_new_data_key_prints_an_entry_the_setting_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_DATA_KEYS")  # needs no store and no key
    first, second = run("new-data-key"), run("new-data-key", "--id", "2027a")
    assert first.exit_code == second.exit_code == 0
    assert second.stdout.startswith("2027a:")
    keys = DataKeys(f"{second.stdout.strip()},{first.stdout.strip()}")
    assert keys.current == "2027a" and len(keys.ids) == 2
    refused = run("new-data-key", "--id", "two words")
    assert refused.exit_code == 2 and "LEDGER_DATA_KEYS" in refused.stderr and refused.stdout == ""
    refused = run("new-data-key", "--id", "")  # not the default id in silence
    assert refused.exit_code == 2 and "--id is empty" in refused.stderr and refused.stdout == ""
