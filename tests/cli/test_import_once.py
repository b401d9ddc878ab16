"""An import judges each row once: the check's accepted results are what is recorded, in
bounded saves; a file with a row the domain's rules refuse records nothing, however many
chunks were accepted before it; organizations in later chunks see their parents checked in
earlier ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import domain.ledger.members as members
import domain.ledger.organizations as organizations
from api.importing import MAX_AGGREGATES, import_file
from api.importing.job import _Import
from domain.commandkey import CommandKey
from domain.errors import LedgerError
from domain.identifiers import organization_id
from domain.ledger import Ledger
from domain.ledger.checked import Checked
from tests.cli.test_import import MEMBER_HEADINGS_EN, ORG_HEADINGS_EN, member_row, write_csv
from tests.conftest import Store, new_store
from tests.domain.test_write_path import count_calls
from tests.factories import TREE

ON = date(2024, 1, 2)
HOLDERS = ("XW-C1-B1", "XW-C1-B2", "XW-S")


def tree(ledger: Ledger) -> None:
    for code in ("JS", "NJ", "XW", "XW-C1", "XW-C1-G1", *HOLDERS):
        name, kind, parent, region = TREE[code]
        ledger.register_organization(code, name, kind, parent, region, on=date(2020, 1, 1))


@contextmanager
def another_store(store: Store, tmp_path: Path, name: str) -> Iterator[Ledger]:
    """A ledger on a new, empty store of `store`'s kind, holding `tree`."""
    (tmp_path / name).mkdir()
    with new_store(store.kind, tmp_path / name, prefix=name) as other:
        ledger = other.ledger()
        tree(ledger)
        yield ledger


def counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """Every call of the use case `module.name`, by the key of what it was asked to record."""
    calls: list[str] = []
    use_case = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("registration_no") or args[2])
        return use_case(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def saves(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    save = ledger.save

    def counting_save(*aggregates: Any, **kwargs: Any) -> Any:
        sizes.append(len(aggregates))
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(ledger, "save", counting_save)
    return sizes


def test_each_member_row_is_judged_once_and_recorded_in_bounded_saves(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    tree(ledger)
    rows = [member_row(n, HOLDERS[n % 3]) for n in range(1, 241)]
    judged = counted(monkeypatch, members, "enroll")
    sizes = saves(ledger, monkeypatch)
    result = import_file(ledger, write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows), "members", on=ON)
    assert result.ok and result.recorded == 240
    assert sorted(judged) == sorted(row[0] for row in rows)  # each row once: no second judging
    assert len(sizes) >= 4 and max(sizes) <= MAX_AGGREGATES
    held = {no for code in HOLDERS for no in ledger.organization(code).members}
    assert held == {row[0] for row in rows}
    assert ledger.member(rows[-1][0]).name == rows[-1][1]


def test_a_row_refused_by_the_rules_after_many_accepted_chunks_records_nothing(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    tree(ledger)
    rows = [member_row(n, "XW-S") for n in range(1, 201)]
    rows[-1] = member_row(200, "XW-S", joined_on="1975-07-01", birth_date="1970-01-01")  # joined at 5
    before = ledger.max_position()
    judged = counted(monkeypatch, members, "enroll")
    result = import_file(ledger, write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows), "members", on=ON)
    assert [(p.row, p.column, p.code) for p in result.problems] == [(201, "birth_date", "validation_error")]
    assert result.recorded == 0 and ledger.max_position() == before
    assert not ledger.organization("XW-S").members
    assert sorted(judged) == sorted(row[0] for row in rows)


def test_organizations_in_later_chunks_see_their_parents_and_are_judged_once(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    tree(ledger)
    # committees and their branches, children first in the file, over more than one save
    rows = [[f"XW-K{n}", f"委员会{n}", "committee", "XW", "320102"] for n in range(1, 11)]
    rows += [[f"XW-K{n}-B{m}", f"支部{n}-{m}", "branch", f"XW-K{n}", "320102"]
             for n in range(1, 11) for m in range(1, 13)]
    judged = counted(monkeypatch, organizations, "register")
    sizes = saves(ledger, monkeypatch)
    path = write_csv(tmp_path / "o.csv", ORG_HEADINGS_EN, list(reversed(rows)))
    result = import_file(ledger, path, "organizations", on=ON)
    assert result.ok and result.recorded == len(rows)
    assert sorted(judged) == sorted(row[0] for row in rows)
    assert len(sizes) >= 2
    assert ledger.ancestors(rows[-1][0]) == [rows[-1][0], "XW-K10", *ledger.ancestors("XW")]
    assert len(ledger.organization("XW-K10").children) == 12


def test_checked_chunks_with_a_refusal_can_not_be_recorded(ledger: Ledger) -> None:
    checked = Checked()
    refused: list[tuple[int, int, str]] = []
    ledger.check([[lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1))],
                  [lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1))]],
                 keep=checked, on_error=lambda chunk, index, error: refused.append((chunk, index, error.code)))
    assert refused == [(1, 0, "conflict")]  # the second chunk sees the first's root
    before = ledger.max_position()
    with pytest.raises(ValueError):
        ledger.record_checked(checked, 0, list)
    assert ledger.max_position() == before
    with pytest.raises(LedgerError):
        ledger.organization("R1")


def test_an_imports_events_are_those_its_rows_commands_record_one_by_one(store: Store, tmp_path: Path) -> None:
    """What the import's fast paths record (rows judged once in chunks and saved as judged,
    organizations read in bulk, aggregates created directly, rows inserted in bulk) is,
    event for event and field for field (but the time of recording),
    what `Ledger.import_member` records for each row on its own, one command at a time, on
    another store; read back from both stores through the mapper."""
    ledger = store.ledger()
    tree(ledger)
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, [member_row(n, HOLDERS[n % 3]) for n in range(1, 241)])
    start = ledger.max_position()
    result = import_file(ledger, path, "members", on=ON)
    assert result.ok and result.recorded == 240
    imported = recorded_after(ledger, start)

    with another_store(store, tmp_path, "alone") as alone:
        start = alone.max_position()
        job = _Import(alone, path, "members", encoding=None, sheet=None, on=ON, progress=None)
        for row in sorted(job.read(), key=lambda row: (row.values["organization_code"], row.number)):
            job.command(row)()  # Ledger.import_member, one command and one save a row
        by_one = recorded_after(alone, start)
    assert len(imported) == len(by_one) == 3 * 240
    assert imported == by_one


def recorded_after(ledger: Ledger, start: int) -> dict[tuple[Any, int], dict[str, Any]]:
    """Every event recorded after `start` but the command keys' markers, decoded, by
    (aggregate, version): its type and fields but the time it was recorded."""
    found: dict[tuple[Any, int], dict[str, Any]] = {}
    for _, event in ledger.read_events(after=start):
        if isinstance(event, CommandKey.Recorded):
            continue
        fields = {k: v for k, v in vars(event).items() if k != "timestamp"}
        found[(event.originator_id, event.originator_version)] = {"type": type(event).__qualname__, **fields}
    return found


def test_a_file_naming_more_organizations_than_the_cache_holds_loads_each_of_them_once(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows' organizations are loaded to check that each holds members, then the rows
    are judged on them: while the import decides, the cache makes room for the file's
    organizations (else, with more of them than its bound, each would be loaded twice,
    and near a million members a file's 37,000 organizations cost a third of its time);
    once done, it is back to its bound."""
    ledger = store.ledger(LEDGER_AGGREGATE_CACHE="4")
    tree(ledger)
    branches = [f"XW-C1-B{n}" for n in range(3, 23)]
    for code in branches:
        ledger.register_organization(code, f"第{code[7:]}党支部", "branch", "XW-C1-G1", "320102",
                                     on=date(2020, 1, 1))
    ledger.cache.clear()
    singly = count_calls(monkeypatch, ledger.cache, "_load")
    in_bulk = count_calls(monkeypatch, ledger.cache, "_load_many")
    rows = [member_row(n, branches[n % len(branches)]) for n in range(1, 61)]
    result = import_file(ledger, write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows), "members", on=ON)
    assert result.ok and result.recorded == 60
    loaded = [*singly, *(i for ids in in_bulk for i in ids)]
    organizations_loaded = [i for i in loaded if i in {organization_id(code) for code in [*TREE, *branches]}]
    assert len(organizations_loaded) >= len(branches)
    assert len(organizations_loaded) == len(set(organizations_loaded)), "an organization was loaded twice"
    info = ledger.cache_info()
    assert info["maxsize"] == 4 and info["size"] <= 4
    assert {no for code in branches for no in ledger.organization(code).members} == {row[0] for row in rows}
