"""A members file imported in parts, each by a worker process of its own
(api/importing/parts.py): it records what one process records, event for event; it stays
all or nothing across the parts; a worker's failure stops the import with its error."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.importing import import_file
from api.importing.columns import Row
from api.importing.importer import PartTask, _decide_part
from api.importing.parts import MAX_WORKERS, PARALLEL_FROM_ROWS, Workers, split, worker_count
from domain.errors import LedgerError, ValidationError
from tests.cli.test_import import MEMBER_HEADINGS_EN, member_row, run, write_csv
from tests.cli.test_import_once import HOLDERS, ON, another_store, recorded_after, tree
from tests.conftest import Store
from tests.projections.test_event_log import WAIT, older_transaction
from tests.projections.test_event_log import run as in_thread

ROWS = 240


def rows_of(codes: list[str | None]) -> list[Row]:
    return [Row(number, {"organization_code": code}) for number, code in enumerate(codes, start=2)]


@given(st.lists(st.sampled_from(["A", "B", "C", "D", "E", None]), max_size=60), st.integers(1, 6))
def test_a_split_keeps_each_organizations_rows_together_in_at_most_the_parts_asked(
        codes: list[str | None], count: int) -> None:
    rows = rows_of(codes)
    parts = split(rows, count)
    assert len(parts) <= count and all(parts)
    assert sorted(row.number for part in parts for row in part) == [row.number for row in rows]
    homes: dict[Any, set[int]] = {}
    for place, part in enumerate(parts):
        for row in part:
            homes.setdefault(row.values["organization_code"], set()).add(place)
    assert all(len(places) == 1 for places in homes.values()), "an organization's rows in two parts"


def test_a_split_of_many_organizations_gives_parts_of_about_the_same_size() -> None:
    rows = rows_of([f"B{n % 400:03d}" for n in range(10_000)])
    sizes = [len(part) for part in split(rows, 3)]
    assert len(sizes) == 3 and max(sizes) - min(sizes) <= 50


def test_how_many_workers_by_store_file_and_request() -> None:
    postgres, sqlite = {"PERSISTENCE_MODULE": "eventsourcing.postgres"}, {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    cores = len(os.sched_getaffinity(0))
    assert worker_count(postgres, "members", PARALLEL_FROM_ROWS, None) == max(1, min(MAX_WORKERS, cores))
    assert worker_count(sqlite, "members", PARALLEL_FROM_ROWS, None) == max(1, min(MAX_WORKERS, cores))
    assert worker_count(postgres, "members", PARALLEL_FROM_ROWS - 1, None) == 1
    assert worker_count(postgres, "organizations", 10 * PARALLEL_FROM_ROWS, None) == 1
    assert worker_count(sqlite, "members", 10, 3) == 3
    assert worker_count(sqlite, "members", 2, 3) == 2
    with pytest.raises(ValidationError, match="1 or more"):
        worker_count(postgres, "members", 10, 0)
    in_memory = {**sqlite, "SQLITE_DBNAME": "file::memory:?cache=shared"}
    assert worker_count(in_memory, "members", 10 * PARALLEL_FROM_ROWS, None) == 1
    with pytest.raises(ValidationError, match="in memory"):
        worker_count(in_memory, "members", 10, 2)


def members_file(tmp_path: Path, name: str = "m.csv", **changed_row: dict[str, str]) -> Path:
    rows = [member_row(n, HOLDERS[n % 3]) for n in range(1, ROWS + 1)]
    for number, changes in changed_row.items():
        n = int(number[1:])
        rows[n - 1] = member_row(n, HOLDERS[n % 3], **changes)
    return write_csv(tmp_path / name, MEMBER_HEADINGS_EN, rows)


def test_a_file_imported_in_parts_records_what_one_process_records(store: Store, tmp_path: Path) -> None:
    """Three workers, each with its own organizations' rows, record event for event and
    field for field what a single process records on another store, and the progress
    they report adds up to the file's rows."""
    ledger = store.ledger()
    tree(ledger)
    path = members_file(tmp_path)
    start = ledger.max_position()
    seen: list[tuple[str, int, int]] = []
    result = import_file(ledger, path, "members", on=ON, workers=3,
                         progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert result.ok and result.recorded == ROWS and result.skipped == 0
    assert result.workers == 3  # one part for each holding organization
    assert result.position == ledger.max_position()
    in_parts = recorded_after(ledger, start)
    assert ("recording", ROWS, ROWS) in seen and ("checking rules", ROWS, ROWS) in seen

    with another_store(store, tmp_path, "alone") as alone:
        start = alone.max_position()
        assert import_file(alone, path, "members", on=ON, workers=1).recorded == ROWS
        by_one = recorded_after(alone, start)
    assert len(in_parts) == len(by_one) == 3 * ROWS
    assert in_parts == by_one
    for code in HOLDERS:
        assert len(ledger.organization(code).members) == ROWS // 3

    again = import_file(ledger, path, "members", on=ON, workers=3)
    assert again.ok and again.recorded == 0 and again.skipped == ROWS
    assert ledger.max_position() == result.position


@pytest.mark.postgres_only
def test_the_importing_process_reads_what_its_workers_recorded(store: Store, tmp_path: Path) -> None:
    """Read-your-writes across the workers: while a transaction of another session, older
    than the workers' saves, holds them back from the log's readers, the importing
    process's reads wait for them, as for its own saves, instead of answering without
    them (the process that asked for the import reads it back whole)."""
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="3600")
    tree(ledger)
    # two rows a worker: each records them in one save, so it never reads the log after
    # its own save (it would wait for it too, held back as it is)
    rows = [member_row(n, HOLDERS[n % 3]) for n in range(1, 7)]
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows)
    with older_transaction(store) as end:
        result = import_file(ledger, path, "members", on=ON, workers=3)
        assert result.ok and result.recorded == len(rows) and result.workers == 3
        reading, found = in_thread(ledger.max_position, "read")
        holding, held = in_thread(lambda: len(ledger.organization("XW-S").members), "roster")
        reading.join(0.5)
        holding.join(0.1)
        assert reading.is_alive(), "read the log without the workers' saves"
        assert holding.is_alive(), "read an organization without the workers' saves"
        end()
        reading.join(WAIT)
        holding.join(WAIT)
    assert found == [result.position]
    assert held == [2]


def test_a_problem_in_one_part_records_nothing_in_any_part(store: Store, tmp_path: Path) -> None:
    """A row the rules refuse in the last part (XW-S's, in code order), and a bad cell:
    the problems are those a single process lists, and no part records anything."""
    ledger = store.ledger()
    tree(ledger)
    path = members_file(tmp_path, n3={"joined_on": "1975-07-01", "birth_date": "1970-01-01"},
                        n7={"gender": "未知"})
    alone = import_file(ledger, path, "members", on=ON, workers=1, dry_run=True)
    before = ledger.max_position()
    checked = import_file(ledger, path, "members", on=ON, workers=3, dry_run=True)
    assert checked.problems == alone.problems and checked.recorded == alone.recorded == 0
    result = import_file(ledger, path, "members", on=ON, workers=3)
    assert [(p.row, p.column, p.code) for p in result.problems] == [
        (4, "birth_date", "validation_error"), (8, "gender", "validation_error")]
    assert result.problems == alone.problems
    assert result.recorded == 0 and ledger.max_position() == before
    assert all(not ledger.organization(code).members for code in HOLDERS)


def test_a_dry_run_in_parts_counts_what_it_would_record_and_records_nothing(store: Store, tmp_path: Path) -> None:
    ledger = store.ledger()
    tree(ledger)
    before = ledger.max_position()
    result = import_file(ledger, members_file(tmp_path), "members", on=ON, workers=2, dry_run=True)
    assert result.ok and result.recorded == ROWS
    assert ledger.max_position() == before


def test_a_worker_that_fails_stops_the_import_with_its_error(store: Store, tmp_path: Path) -> None:
    """A worker whose ledger can't judge its part (here: the day of the import after the
    worker's today) raises its error in the importing process; nothing is recorded."""
    ledger = store.ledger()
    tree(ledger)
    env = dict(ledger.env, CREATE_TABLE="n")
    rows = [Row(2, {"organization_code": HOLDERS[0]})]
    task = PartTask(env, date(2000, 1, 1), "members", "m.csv", "tag", ON, [], {}, rows)
    before = ledger.max_position()
    with Workers(_decide_part, [task], None) as workers, pytest.raises(LedgerError, match="after today"):
        workers.gather("checked")
    assert ledger.max_position() == before


def test_a_worker_that_dies_stops_the_import(store: Store, tmp_path: Path) -> None:
    """A worker killed (out of memory, say) without answering: the importing process says
    so instead of waiting for it."""
    ledger = store.ledger()
    tree(ledger)
    rows = [Row(2, {"organization_code": HOLDERS[0]})]
    task = PartTask(dict(ledger.env, CREATE_TABLE="n"), ON, "members", "m.csv", "tag", ON, [], {}, rows)
    with Workers(_decide_part, [task], None) as workers:
        workers.processes[0].kill()
        with pytest.raises(RuntimeError, match="stopped without an answer"):
            workers.gather("checked")


def test_the_workers_recorded_counts_add_up_with_a_branch_in_each_part(store: Store, tmp_path: Path) -> None:
    """Every branch's members in exactly one part: each branch's roster is whole after
    the import (no roster entry lost to a save of another part)."""
    ledger = store.ledger()
    tree(ledger)
    result = import_file(ledger, members_file(tmp_path), "members", on=ON, workers=len(HOLDERS))
    assert result.ok
    counts = Counter({code: len(ledger.organization(code).members) for code in HOLDERS})
    assert sum(counts.values()) == ROWS and set(counts.values()) == {ROWS // 3}


def test_the_command_takes_its_workers_and_refuses_fewer_than_one(env: Store, tmp_path: Path) -> None:
    """`ledger import members --workers N`; 0 is a usage error that records nothing."""
    ledger = env.ledger()
    tree(ledger)
    path = members_file(tmp_path)
    before = ledger.max_position()
    code, _, err = run("import", "members", path, "--on", ON.isoformat(), "--workers", "0")
    assert code == 2 and "--workers" in err
    assert ledger.max_position() == before
    code, out, err = run("import", "members", path, "--on", ON.isoformat(), "--workers", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["recorded"] == ROWS
    assert sum(len(env.ledger().organization(code).members) for code in HOLDERS) == ROWS
