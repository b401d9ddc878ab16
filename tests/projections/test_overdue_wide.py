"""The overdue list has two paths: from the subtree's organizations, members and letters
(a committee, a branch, one member), and, for a department's subtree, from the open cases'
indexes with each kind counted, sorted and cut to the page in SQL and the names read for
the page alone. Over a simulated history with transfers, extensions, dissolutions,
certificates and inactive members, both give the same rows in the same order for every
department, on days through the year (so members who moved after the day asked about
come from their stints), with the ledger's only root seen as the whole ledger or through
its subtree, and paging adds up to the whole list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta

import psycopg
import pytest

from api.services import ViewPool
from api.simulation import SCALES, generate
from projections.db import ViewDatabase
from projections.queries import Queries
from projections.queries.overdue_kinds import OVERDUE_KINDS as ALL_KINDS
from projections.queries.overdue_kinds import WAITING_KINDS, overdue_order
from tests.conftest import Store
from tests.factories import admit, build_tree

# The kinds the two paths read (the waiting kinds, few, are read apart for any subtree and
# merged: tests/projections/test_waiting.py).
OVERDUE_KINDS = tuple(kind for kind in ALL_KINDS if kind not in WAITING_KINDS)
SCALE = replace(SCALES["small"], start=date(2025, 1, 1), end=date(2025, 12, 31))
DAYS = [date(2025, 3, 1), date(2025, 6, 15), date(2025, 8, 31), date(2025, 10, 10), date(2025, 12, 31),
        date(2026, 2, 1)]




def narrow(queries: Queries, code: str, on: date, kinds: list[str]) -> list[dict[str, object]]:
    rows = queries._overdue_narrow(code, on, kinds, None)
    rows.sort(key=overdue_order)
    return rows


@pytest.mark.parametrize("whole", [True, False], ids=["sole-root", "subtree"])
def test_both_paths_give_the_same_overdue_list(store: Store, monkeypatch: pytest.MonkeyPatch, whole: bool) -> None:
    ledger = store.ledger(today=lambda: SCALE.end + timedelta(days=60))
    stats = generate(ledger, SCALE, seed=5)
    assert stats["cases"]["letter.overdue"] > 0
    store.engine(ledger).catch_up()
    queries: Queries = store.queries()
    if not whole:
        monkeypatch.setattr(Queries, "_sole_root", lambda self, organization: False)
    departments = [row[0] for row in queries.db.query(
        "SELECT code FROM proj_organizations WHERE kind = 'department' ORDER BY code")]
    seen: dict[str, int] = dict.fromkeys(OVERDUE_KINDS, 0)
    for code in departments:
        organization = queries.organization(code)
        for on in DAYS:
            expected = narrow(queries, code, on, list(OVERDUE_KINDS))
            rows, total = queries._overdue_wide(organization, on, list(OVERDUE_KINDS), 10**6, 0)
            assert total == len(expected), (code, on)
            assert rows == expected, (code, on)
            for row in rows:
                seen[str(row["kind"])] += 1
            for kind in OVERDUE_KINDS:  # one kind at a time
                only, count = queries._overdue_wide(organization, on, [kind], 10**6, 0)
                assert only == [r for r in expected if r["kind"] == kind]
                assert count == len(only)
    assert all(seen.values()), f"every kind should appear somewhere: {seen}"


def test_pages_of_a_department_add_up_to_its_whole_list(store: Store) -> None:
    ledger = store.ledger(today=lambda: SCALE.end)
    generate(ledger, SCALE, seed=7)
    store.engine(ledger).catch_up()
    queries: Queries = store.queries()
    on = date(2026, 2, 1)
    roots = [row[0] for row in queries.db.query("SELECT code FROM proj_organizations WHERE parent_code IS NULL")]
    root = max(roots, key=lambda code: queries.overdue(code, on, limit=0)[1])
    whole, total = queries.overdue(root, on, limit=10**6)
    assert total == len(whole) > 10
    assert whole == narrow(queries, root, on, list(OVERDUE_KINDS))
    assert all(row["name"] for row in whole)
    paged: list[dict[str, object]] = []
    for offset in range(0, total, 7):
        page, count = queries.overdue(root, on, limit=7, offset=offset)
        assert count == total
        paged += page
    assert paged == whole


def test_inactive_members_who_moved_after_the_day_are_listed_where_they_were(store: Store) -> None:
    """Four members of XW-C1-B1 with no org life and no dues since they were imported in
    2020, and a fifth imported in November 2025. After 4 January 2026 one is received in
    QH-C1-B1, one dies and one goes in transit on a letter: on 4 January all four were held
    in XW-C1-B1 and inactive; on 20 January the one received is inactive in QH-C1-B1 and the
    one in transit and the one deceased are not listed as inactive. The department's path
    (JS, XW: the ledger has two roots) and the committee's agree."""
    ledger = store.ledger(today=lambda: date(2026, 1, 20))
    build_tree(ledger)
    members = [admit(ledger, n) for n in range(4)]
    late = admit(ledger, 4, on=date(2025, 11, 3))
    moved = ledger.request_transfer(members[0], "QH-C1", reason="job_change", basis="household",
                                    on=date(2026, 1, 5)).transfer_id or ""
    ledger.issue_letter(moved, valid_days=30, on=date(2026, 1, 5))
    ledger.receive_member(moved, "QH-C1-B1", on=date(2026, 1, 10))
    ledger.record_death(members[1], on=date(2026, 1, 6))
    away = ledger.request_transfer(members[2], "QH-C1", reason="job_change", basis="household",
                                   on=date(2026, 1, 7)).transfer_id or ""
    ledger.issue_letter(away, valid_days=30, on=date(2026, 1, 7))
    store.engine(ledger).catch_up()
    queries: Queries = store.queries()

    def inactive(code: str, on: date) -> list[tuple[object, ...]]:
        rows, total = queries.overdue(code, on, kind="inactive_6m")
        assert total == len(rows)
        return [(r["registration_no"], r["organization_code"], r["due_on"]) for r in rows]

    before = sorted((number, "XW-C1-B1", "2026-01-01") for number in members)
    after = sorted([(members[0], "QH-C1-B1", "2026-01-01"), (members[3], "XW-C1-B1", "2026-01-01")])
    for code in ("JS", "NJ", "XW-C1"):
        assert inactive(code, date(2026, 1, 4)) == before, code
        assert late not in {row[0] for row in inactive(code, date(2026, 1, 4))}
    assert inactive("JS", date(2026, 1, 20)) == after
    assert inactive("XW", date(2026, 1, 20)) == [after[1]]
    assert inactive("QH", date(2026, 1, 20)) == [after[0]]
    for code in ("JS", "NJ", "XW", "QH"):
        for on in (date(2026, 1, 4), date(2026, 1, 6), date(2026, 1, 8), date(2026, 1, 20)):
            organization = queries.organization(code)
            assert queries._overdue_wide(organization, on, list(OVERDUE_KINDS), 10**6, 0)[0] == narrow(
                queries, code, on, list(OVERDUE_KINDS)), (code, on)


def test_members_active_again_after_a_quiet_spell_are_inactive_over_it(store: Store) -> None:
    """On 20 January 2026 the window is July to December 2025. Of four members of XW-C1-B1:
    one attended org life in May 2025 and again on 5 January 2026 (quiet over the window:
    listed); one paid dues in May and September 2025 (active in the window); one attended
    only on 5 January 2026 (never before: listed); one attended in June 2025 and on 5
    January (a spell of 6 months is not quiet over the window: June is before it, so the
    window itself has no activity: listed). Both paths agree, at JS and at XW-C1."""
    ledger = store.ledger(today=lambda: date(2026, 1, 20))
    build_tree(ledger)
    members = [admit(ledger, n) for n in range(4)]
    ledger.record_org_life(members[0], "XW-C1-B1", on=date(2025, 5, 10))
    ledger.record_org_life(members[0], "XW-C1-B1", on=date(2026, 1, 5))
    ledger.record_dues(members[1], "2025-05", "10.00", on=date(2025, 5, 10))
    ledger.record_dues(members[1], "2025-09", "10.00", on=date(2025, 9, 10))
    ledger.record_org_life(members[2], "XW-C1-B1", on=date(2026, 1, 5))
    ledger.record_org_life(members[3], "XW-C1-B1", on=date(2025, 6, 10))
    ledger.record_org_life(members[3], "XW-C1-B1", on=date(2026, 1, 5))
    store.engine(ledger).catch_up()
    queries: Queries = store.queries()
    on = date(2026, 1, 20)
    for code in ("JS", "XW-C1"):
        rows, total = queries.overdue(code, on, kind="inactive_6m")
        assert sorted(r["registration_no"] for r in rows) == sorted([members[0], members[2], members[3]]), code
        assert total == 3
    for code in ("JS", "XW"):
        assert queries._overdue_wide(queries.organization(code), on, list(OVERDUE_KINDS), 10**6, 0)[0] == narrow(
            queries, code, on, list(OVERDUE_KINDS))


def test_a_department_list_read_partly_on_a_spare_connection_is_of_one_snapshot(store: Store) -> None:
    """Within a snapshot, with spare connections to hand, a department's list reads the
    certificates, the inactive members and the responsible committees on a spare one on
    PostgreSQL (SQLite reads on its own), from the same snapshot: the certificates and the
    inactive members deleted from the views by another connection meanwhile are still
    listed, as the list read before, and are gone from the next snapshot's."""
    ledger = store.ledger(today=lambda: SCALE.end + timedelta(days=60))
    generate(ledger, SCALE, seed=5)
    store.engine(ledger).catch_up()
    on = date(2025, 12, 31)
    pool = ViewPool(store.url, size=3)
    leases: list[bool] = []

    @contextmanager
    def spare() -> Iterator[ViewDatabase | None]:
        with pool.spare() as db:
            leases.append(db is not None)
            yield db

    writer: Queries = store.queries()
    try:
        with pool.connection() as db:
            queries = Queries(db, spare=spare)
            roots = [row[0] for row in db.query("SELECT code FROM proj_organizations WHERE parent_code IS NULL")]
            with db.snapshot():
                expected, total = queries.overdue(roots[0], on, limit=10**6)
                assert {"unreturned_certificate", "inactive_6m"} <= {str(row["kind"]) for row in expected}
                assert expected == narrow(queries, roots[0], on, list(OVERDUE_KINDS))
                writer.db.execute("DELETE FROM proj_certificates")
                writer.db.execute("DELETE FROM proj_last_activity")
                assert queries.overdue(roots[0], on, limit=10**6) == (expected, total)
                assert queries.overdue(roots[0], on, limit=5, offset=3) == (expected[3:8], total)
            with db.snapshot():
                after, _ = queries.overdue(roots[0], on, limit=10**6)
            assert after and not {"unreturned_certificate", "inactive_6m"} & {str(row["kind"]) for row in after}
    finally:
        pool.close()
    # On PostgreSQL each of the 4 lists leased a spare for the kinds beside, and again for
    # the responsible committees when its page had certificates; SQLite never asks.
    if store.kind == "postgres":
        assert len(leases) >= 4 and all(leases)
    else:
        assert leases == []


@pytest.mark.postgres_only
def test_a_spare_connection_that_fails_leaves_the_list_whole(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """No spare connection to be had (the server's connection limit), or one whose reads
    fail: the list is read on the request's own connection, whole, and a warning says so."""
    ledger = store.ledger(today=lambda: SCALE.end + timedelta(days=60))
    generate(ledger, SCALE, seed=5)
    store.engine(ledger).catch_up()
    on = date(2025, 12, 31)
    db: ViewDatabase = store.queries().db
    roots = [row[0] for row in db.query("SELECT code FROM proj_organizations WHERE parent_code IS NULL")]
    expected = Queries(db).overdue(roots[0], on, limit=10**6)
    assert {"unreturned_certificate", "inactive_6m"} <= {str(row["kind"]) for row in expected[0]}

    @contextmanager
    def unreachable() -> Iterator[ViewDatabase | None]:
        raise psycopg.OperationalError("sorry, too many clients already")
        yield None

    @contextmanager
    def closed() -> Iterator[ViewDatabase | None]:
        spare = ViewDatabase(store.url)
        spare.close()
        yield spare

    for spare in (unreachable, closed):
        caplog.clear()
        with db.snapshot():
            assert Queries(db, spare=spare).overdue(roots[0], on, limit=10**6) == expected
        assert any("spare view connection" in record.getMessage() for record in caplog.records), spare
