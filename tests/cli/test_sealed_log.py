"""The sealed log from the command line, on both stores: `ledger verify` exits 1 naming
where the chain breaks, `ledger rebuild` refuses such a log, `ledger checkpoint` signs the
root with a key from the settings (exit 2 naming it when absent), and an exported file is
checked on its own against a checkpoint."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from domain.personal import new_key_entry
from projections.db import ViewDatabase
from projections.sealer import Sealer
from tests.cli.audit_story import tell_story
from tests.conftest import TEST_ID_KEY, Store
from tests.factories import admit, build_tree

runner = CliRunner()
KEY = "checkpoint-key-for-tests-" + "c" * 16


@pytest.fixture
def told(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", KEY)
    ledger = store.ledger()
    build_tree(ledger)
    tell_story(ledger)
    yield store


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def line_changed(tmp_path: Path, lines: list[bytes], nth: int, record: dict[str, Any]) -> tuple[Any, Any]:
    """`ledger verify --file` of the export with its `nth` line replaced by `record`: it
    exits 1; the chain's first bad position and reason."""
    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(b"\n".join(json.dumps(record, ensure_ascii=False).encode() if i == nth else line
                                   for i, line in enumerate(lines)))
    result = run("verify", "--file", str(changed))
    assert result.exit_code == 1, result.output
    chain = json.loads(result.stdout)["chain"]
    return chain["first_bad_position"], chain["reason"]


def change_state(store: Store, nth: int) -> int:
    """Change one byte of the nth stored event's state with SQL; its position."""
    db = ViewDatabase(store.url)
    try:
        sealer = Sealer(store.ledger(), db)
        table, column = sealer.events_table, sealer.column
        position, state = db.query(f"SELECT {column}, state FROM {table} ORDER BY {column} LIMIT 1 OFFSET ?",
                                   (nth,))[0]
        state = bytes(state)
        with db.transaction():
            db.execute(f"UPDATE {table} SET state = ? WHERE {column} = ?",
                       (state[:3] + bytes([state[3] ^ 2]) + state[4:], position))
        return int(position)
    finally:
        db.close()


def test_verify_reports_the_chain_and_exits_1_where_it_breaks(told: Store) -> None:
    result = run("verify")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["ok"] and answer["chain"]["ok"] and answer["chain"]["events"] > 30

    position = change_state(told, 20)
    result = run("verify")
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert not answer["ok"]
    assert answer["chain"] == {"ok": False, "events": 20, "unsealed": 0, "first_bad_position": position,
                               "reason": "changed"}
    assert f"sealed log broken at position {position}: changed" in result.stderr


def test_rebuild_refuses_a_broken_log_naming_the_position(told: Store) -> None:
    assert run("rebuild").exit_code == 0
    position = change_state(told, 12)
    result = run("rebuild")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["chain"]["first_bad_position"] == position
    assert "rebuild refused" in result.stderr and f"at position {position}" in result.stderr
    assert run("verify").exit_code == 1  # and the break is still reported afterwards


def test_checkpoint_needs_its_key(told: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEDGER_CHECKPOINT_KEY")
    monkeypatch.chdir(tmp_path)  # no .env here
    result = run("checkpoint")
    assert result.exit_code == 2 and "LEDGER_CHECKPOINT_KEY" in result.stderr and result.stdout == ""
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", "short")
    result = run("checkpoint")
    assert result.exit_code == 2 and "LEDGER_CHECKPOINT_KEY" in result.stderr


def test_a_checkpoint_catches_a_rewritten_tail_and_an_altered_checkpoint(told: Store, tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    result = run("checkpoint", "--output", str(path))
    assert result.exit_code == 0, result.output
    checkpoint = json.loads(path.read_text())
    assert set(checkpoint) == {"position", "root", "signature"}
    assert checkpoint["position"] == told.ledger().max_position()
    assert run("verify", "--checkpoint", str(path)).exit_code == 0

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**checkpoint, "position": checkpoint["position"] - 1}))
    result = run("verify", "--checkpoint", str(forged))
    assert result.exit_code == 1 and json.loads(result.stdout)["chain"]["reason"] == "signature"

    from tests.projections.test_sealed_log import Sealed, rewrite_tail

    sealed = Sealed.__new__(Sealed)  # the store as it is, without new events
    sealed.store, sealed.ledger, sealed.db = told, told.ledger(), ViewDatabase(told.url)
    sealed.sealer = Sealer(sealed.ledger, sealed.db)
    sealed.table, sealed.column = sealed.sealer.events_table, sealed.sealer.column
    try:
        rewrite_tail(sealed, sealed.positions()[15])
    finally:
        sealed.close()
    assert run("verify").exit_code == 0  # the seals agree with the rewritten events
    result = run("verify", "--checkpoint", str(path))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["chain"]["reason"] == "checkpoint"


def test_an_exported_file_is_checked_on_its_own(told: Store, tmp_path: Path) -> None:
    checkpoint, export = tmp_path / "checkpoint.json", tmp_path / "export.jsonl"
    assert run("checkpoint", "--output", str(checkpoint)).exit_code == 0
    admit(told.ledger(), 30, "XW-C1-B2")  # the log grows after the checkpoint
    result = run("export", "--output", str(export))
    assert result.exit_code == 0, result.output
    lines = export.read_bytes().splitlines()
    assert len(lines) == told.ledger().max_position() or len(lines) > 30
    first = json.loads(lines[0])
    assert {"position", "type", "data", "sealed"} <= set(first)

    result = run("verify", "--file", str(export), "--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chain"]["events"] == len(lines)
    # the personal fields are in plain text there: readable by its owner only, as .env is
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    export.chmod(0o644)
    assert run("export", "--output", str(export)).exit_code == 0
    assert stat.S_IMODE(export.stat().st_mode) == 0o600 and len(export.read_bytes().splitlines()) == len(lines)

    def check(changed: list[bytes]) -> dict[str, Any]:
        path = tmp_path / "changed.jsonl"
        path.write_bytes(b"\n".join(changed) + b"\n")
        result = run("verify", "--file", str(path), "--checkpoint", str(checkpoint))
        assert result.exit_code == 1, result.output
        return dict(json.loads(result.stdout)["chain"])

    # a readable field changed, its stored bytes left alone
    line = json.loads(lines[10])
    line["recorded_at"] = "2020-01-01T00:00:00+00:00"
    found = check([*lines[:10], json.dumps(line).encode(), *lines[11:]])
    assert (found["first_bad_position"], found["reason"]) == (line["position"], "changed")
    # a line removed: the position after the last good line, the removed line's
    found = check([*lines[:10], *lines[11:]])
    assert (found["first_bad_position"], found["reason"]) == (json.loads(lines[10])["position"], "missing")
    # a line that can't be read: its own position when that is readable, else the one after the last good line
    position = json.loads(lines[10])["position"]
    assert json.loads(lines[9])["position"] == position - 1
    garbage_state, os_topic, no_position = (json.loads(lines[10]) for _ in range(3))
    garbage_state["sealed"]["state"] = base64.b64encode(b"\xff\xfe").decode()
    os_topic["sealed"]["topic"] = "os:system"
    no_position["position"] = None
    for bad in (b"\xff\x00{{garbage", *(json.dumps(x).encode() for x in (garbage_state, os_topic, no_position))):
        found = check([*lines[:10], bad, *lines[11:]])
        assert (found["first_bad_position"], found["reason"], found["events"]) == (position, "changed", 10), bad
    # the tail cut off before the checkpoint's position
    found = check(lines[:5])
    assert (found["first_bad_position"], found["reason"]) == (json.loads(checkpoint.read_text())["position"],
                                                              "missing")
    # two lines swapped
    found = check([*lines[:10], lines[11], lines[10], *lines[12:]])
    assert (found["first_bad_position"], found["reason"]) == (json.loads(lines[11])["position"], "reordered")
    # exported in parts: a later part checks on its own from its first line
    part = tmp_path / "part.jsonl"
    middle = json.loads(lines[20])["position"]
    assert run("export", "--after", str(middle), "--output", str(part)).exit_code == 0
    assert run("verify", "--file", str(part)).exit_code == 0


def test_an_exported_file_is_checked_with_its_personal_fields_only_given_the_data_keys(
        told: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The personal fields are sealed in the stored bytes: with LEDGER_DATA_KEYS a line whose
    readable name was changed is caught; without the keys the rest of the file is still
    checked (and passes), the personal fields being compared as sealed bytes only."""
    export = tmp_path / "export.jsonl"
    assert run("export", "--output", str(export)).exit_code == 0
    lines = export.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    nth = next(i for i, r in enumerate(records) if r["type"] in ("Member.Admitted", "Member.Imported"))
    records[nth]["data"]["name"] += "改"
    assert line_changed(tmp_path, lines, nth, records[nth]) == (records[nth]["position"], "changed")

    monkeypatch.delenv("LEDGER_DATA_KEYS")
    result = run("verify", "--file", str(export))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chain"]["events"] == len(lines)
    result = run("verify", "--file", str(tmp_path / "changed.jsonl"))  # the name can't be opened: not compared
    assert result.exit_code == 0, result.output
    bad = json.loads(lines[nth])
    bad["data"]["version_note"] = "added"  # any other readable field still is
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"\n".join(json.dumps(bad, ensure_ascii=False).encode() if i == nth else line
                                 for i, line in enumerate(lines)))
    result = run("verify", "--file", str(other))
    assert result.exit_code == 1, result.output


def test_an_exported_file_checked_with_keys_that_do_not_open_it_is_a_configuration_error(
        told: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data keys that don't open the file's personal fields (another key under the same id,
    or only a newer key after a rotation) are a configuration error, exit 2, as against the
    store: not the file's break (an audit's false alarm); bytes changed are still the break."""
    export = tmp_path / "export.jsonl"
    assert run("export", "--output", str(export)).exit_code == 0
    for wrong in (new_key_entry("test1"), new_key_entry("test2")):
        monkeypatch.setenv("LEDGER_DATA_KEYS", wrong)
        result = run("verify", "--file", str(export))
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        said = result.stderr.strip()
        assert said.startswith("configuration error:") and "'test1'" in said and "LEDGER_DATA_KEYS" in said
        assert "broken" not in result.stderr and "Traceback" not in result.output
        assert wrong.split(":")[1] not in result.output

    # with the same wrong key, a member's stored bytes changed in the file are still the break
    lines = export.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    nth = next(i for i, r in enumerate(records) if r["type"] in ("Member.Admitted", "Member.Imported"))
    state = bytearray(base64.b64decode(records[nth]["sealed"]["state"]))
    state[-3] ^= 1
    records[nth]["sealed"]["state"] = base64.b64encode(bytes(state)).decode()
    assert line_changed(tmp_path, lines, nth, records[nth]) == (records[nth]["position"], "changed")


def set_garbage(store: Store, nth: int) -> int:
    """Garbage bytes for the state of the nth stored event of a member (sealed before: one
    that the views read); its position."""
    db = ViewDatabase(store.url)
    try:
        sealer = Sealer(store.ledger(), db)
        sealer.seal()
        table, column = sealer.events_table, sealer.column
        position = db.query(f"SELECT {column} FROM {table} WHERE topic LIKE ? ORDER BY {column} "
                            "LIMIT 1 OFFSET ?", ("%:Member.%", nth))[0][0]
        with db.transaction():
            db.execute(f"UPDATE {table} SET state = ? WHERE {column} = ?", (b"\xff\xfe\x00garbage{{", position))
        return int(position)
    finally:
        db.close()


def test_an_event_that_no_longer_decodes_is_the_chain_break_and_is_exported_flagged(told: Store,
                                                                                   tmp_path: Path) -> None:
    """Garbage bytes in one stored event: `ledger verify` names the chain's break and does not
    re-derive the views from that log (no traceback); `ledger export` writes every event, that
    one flagged `undecodable` with its stored bytes, and the file's check names its position."""
    position = set_garbage(told, 5)
    result = run("verify")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    answer = json.loads(result.stdout)
    assert (answer["ok"], answer["chain"]["first_bad_position"], answer["chain"]["reason"]) == (
        False, position, "changed")
    assert answer["views"] == {"checked": False, "reason": "chain_broken", "first_bad_position": position,
                               "detail": f"the sealed log breaks at position {position} (changed): the views "
                                         "are not re-derived from a log that is not the one sealed"}
    assert "views not checked" in result.stderr

    export = tmp_path / "export.jsonl"
    result = run("export", "--output", str(export))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in export.read_bytes().splitlines()]
    assert len(lines) == len({line["position"] for line in lines}) > 30
    flagged = [line for line in lines if line.get("undecodable")]
    assert [line["position"] for line in flagged] == [position]
    assert flagged[0]["data"] is None and flagged[0]["sealed"]["state"]
    assert all(line["data"] is not None for line in lines if line["position"] != position)
    result = run("verify", "--file", str(export))  # the file's own check names the same position
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["chain"]["first_bad_position"] == position
