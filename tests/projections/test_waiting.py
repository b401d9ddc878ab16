"""Nothing waits unseen (issue 23): the receiving side's overdue list shows the letters
addressed to it, with the sending committee that chases them; a request neither issued nor
declined within 30 days is a `stale_request` row; and the timely rate's breakdowns of seed
001 (by category, by route, inside versus outside the subtree)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.base import Actor
from projections.queries import Queries
from tests.conftest import Store
from tests.factories import admit, build_tree

REQUESTED = date(2026, 6, 1)


def rows_of(queries: Queries, code: str, on: date, kind: str | None = None) -> list[tuple[Any, ...]]:
    rows, count = queries.overdue(code, on, kind=kind)
    assert count == len(rows)
    return [(r["kind"], r["registration_no"], r["organization_code"], r["reference"], r["due_on"],
             r["days_overdue"], r["responsible_organization_code"]) for r in rows]


def test_the_receiving_side_sees_the_letters_addressed_to_it(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1, org="XW-C1-B1")
    transfer_id = ledger.request_transfer(number, "QH-C1-B1", reason="job_change", basis="household",
                                          on=REQUESTED).transfer_id
    assert transfer_id is not None
    letter_no = ledger.issue_letter(transfer_id, on=REQUESTED).letter_no
    store.engine(ledger).catch_up()
    queries = store.queries()
    row = ("overdue_letter", number, "XW-C1-B1", letter_no, "2026-07-01", 31, "XW-C1")
    for code in ("XW-C1", "XW", "QH-C1", "QH-C1-B1", "QH", "NJ"):  # narrow and wide paths, both sides
        assert rows_of(queries, code, date(2026, 8, 1), "overdue_letter") == [row], code
    assert rows_of(queries, "QH", date(2026, 8, 1)) == [row]  # every kind
    assert rows_of(queries, "SC-C1", date(2026, 8, 1)) == []  # neither side
    assert rows_of(queries, "QH-C1", date(2026, 7, 1), "overdue_letter") == []  # due that day


def test_a_request_waiting_over_30_days_is_a_stale_request(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    waiting, issued, declined = (admit(ledger, n, org="XW-C1-B1") for n in (1, 2, 3))
    ids = {}
    for number in (waiting, issued, declined):
        ids[number] = ledger.request_transfer(number, "QH-C1-B1", reason="job_change", basis="household",
                                              on=REQUESTED).transfer_id
    due = REQUESTED + timedelta(days=30)
    ledger.issue_letter(ids[issued], on=date(2026, 7, 10))
    ledger.decline_transfer(ids[declined], "材料不全", on=date(2026, 7, 12))
    store.engine(ledger).catch_up()
    queries = store.queries()

    def stale(code: str, on: date) -> list[tuple[Any, ...]]:
        return rows_of(queries, code, on, "stale_request")

    assert stale("XW-C1", due) == []
    assert stale("XW-C1", due + timedelta(days=1)) == [
        ("stale_request", n, "XW-C1-B1", ids[n], due.isoformat(), 1, "XW-C1") for n in sorted(ids)]
    later = [("stale_request", waiting, "XW-C1-B1", ids[waiting], due.isoformat(), 50, "XW-C1")]
    for code in ("XW-C1-B1", "XW-C1", "XW", "JS"):
        assert stale(code, date(2026, 8, 20)) == later, code
    assert stale("QH-C1", date(2026, 8, 20)) == []  # the sender acts on a request
    # once, merged in the list's order with the other kinds, and paged with them
    everything = rows_of(queries, "XW", date(2026, 8, 20))
    assert everything.count(later[0]) == 1
    assert [r[0] for r in everything if r[0] != "inactive_6m"] == ["stale_request", "overdue_letter"]
    for offset in range(len(everything)):
        page, total = queries.overdue("XW", date(2026, 8, 20), limit=1, offset=offset)
        assert total == len(everything)
        assert [(r["kind"], r["reference"]) for r in page] == [everything[offset][0:4:3]]


def test_the_timely_rate_by_category_route_and_side(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    veteran = admit(ledger, 1, org="XW-C1-B1", category="military_transferee")
    cadre = admit(ledger, 2, org="QH-C1-B1", category="cadre")
    student = admit(ledger, 3, org="XW-C1-B2", category="student")
    clerk = Actor("clerk", None)

    def move(number: str, to: str, received: date) -> None:
        transfer_id = ledger.request_transfer(number, to, reason="job_change", basis="household",
                                              on=date(2026, 5, 1)).transfer_id
        assert transfer_id is not None
        ledger.issue_letter(transfer_id, on=date(2026, 5, 1), actor=clerk)
        ledger.receive_member(transfer_id, to, on=received, late_certificate="单位出具的延期证明")

    move(veteran, "XW-C2-B1", date(2026, 5, 20))  # on time, across committees in 玄武, inside XW
    move(cadre, "XW-S", date(2026, 6, 5))  # late (valid until 5-31), from 秦淮: outside XW
    move(student, "XW-C1-B3", date(2026, 5, 25))  # on time, within the committee
    store.engine(ledger).catch_up()
    queries = store.queries()
    may, june = queries.monthly_report("XW", "2026-05"), queries.monthly_report("XW", "2026-06")
    assert may["timely_by_category"]["military_transferee"] == {"received": 1, "on_time": 1, "timely_rate": 1.0}
    assert may["timely_by_category"]["cadre"] == {"received": 0, "on_time": 0, "timely_rate": None}
    assert june["timely_by_category"]["cadre"] == {"received": 1, "on_time": 0, "timely_rate": 0.0}
    assert may["timely_by_route"]["within_county"] == {"received": 1, "on_time": 1, "timely_rate": 1.0}
    assert may["timely_by_route"]["within_committee"]["received"] == 1
    assert may["timely_by_side"] == {"internal": {"received": 2, "on_time": 2, "timely_rate": 1.0},
                                     "external": {"received": 0, "on_time": 0, "timely_rate": None}}
    assert june["timely_by_side"]["external"] == {"received": 1, "on_time": 0, "timely_rate": 0.0}
    assert june["timely_by_route"]["cross_county"] == {"received": 1, "on_time": 0, "timely_rate": 0.0}
    # Seen from the city (NJ), the cadre's move from 秦淮 to 玄武 is inside its subtree.
    assert queries.monthly_report("NJ", "2026-06")["timely_by_side"]["internal"]["received"] == 1
    year = queries.annual_report("XW", 2026)
    assert year["timely_by_side"] == {"internal": {"received": 2, "on_time": 2, "timely_rate": 1.0},
                                      "external": {"received": 1, "on_time": 0, "timely_rate": 0.0}}
    assert year["timely_by_category"]["student"] == {"received": 1, "on_time": 1, "timely_rate": 1.0}
    assert year["totals"]["letters_received"] == sum(g["received"] for g in year["timely_by_side"].values())

