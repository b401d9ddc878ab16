"""`ledger simulate` through typer's runner, on both stores: its summary against the stored
events and the views, determinism by seed, refusals, and `ledger verify` afterwards."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from domain.transfer import REASONS
from tests.conftest import Store

runner = CliRunner()
DATES = ("--start", "2025-01-01", "--end", "2025-12-31")
END = date(2025, 12, 31)
ROUTES = {"within_committee", "within_county", "cross_county", "cross_province"}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # unwrapped


def simulate(*args: str) -> dict[str, Any]:
    code, out, err = run("simulate", "--scale", "small", *DATES, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def stored_events(store: Store) -> list[tuple[str, str, int, dict[str, Any]]]:
    """Every stored event as (topic, originator, version, state without the recording time),
    its personal fields opened (sealed afresh, with a new nonce, each time they are recorded)."""
    ledger = store.ledger()
    events, after = [], 0
    while True:
        page = ledger.recorder.select_notifications(start=after, limit=1000, inclusive_of_start=False)
        for n in page:
            state = dict(vars(ledger.mapper.to_domain_event(n)))
            for envelope in ("timestamp", "originator_id", "originator_version"):
                state.pop(envelope)
            events.append((n.topic, str(n.originator_id), n.originator_version, state))
        if len(page) < 1000:
            break
        after = page[-1].id
    ledger.close()
    return events


def named(events: list[tuple[str, str, int, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    return [state for topic, _, _, state in events if topic.endswith(":" + name)]


def test_the_summary_matches_the_stored_history_and_every_kind_of_case_appears(env: Store) -> None:
    summary = simulate("--seed", "3")
    events = stored_events(env)
    assert summary["events"] == len(events) > 3000
    assert (summary["start"], summary["end"]) == ("2025-01-01", "2025-12-31")
    transfers = summary["transfers"]

    requested = named(events, "Transfer.Requested")
    assert transfers["requested"] == len(requested) > 50
    assert set(summary["routes"]) == {r["route"] for r in requested} == ROUTES
    assert Counter(r["route"] for r in requested) == Counter(summary["routes"])
    assert set(summary["reasons"]) == {r["reason"] for r in requested} == set(REASONS)

    received = named(events, "Transfer.MemberReceived")
    late = [r for r in received if not r["on_time"]]
    assert transfers["received_late"] == len(late) > 0
    assert all(r["late_certificate"] for r in late)
    assert transfers["received_on_time"] == len(received) - len(late) > 0
    assert transfers["extended"] == len(named(events, "Transfer.LetterExtended")) > 0
    assert transfers["cancelled"] == len(named(events, "Transfer.Cancelled")) > 0
    assert transfers["rejected"] == len(named(events, "Transfer.Rejected")) > 0
    assert transfers["declined"] == len(named(events, "Transfer.Declined")) > 0
    assert transfers["receipts_returned"] == len(named(events, "Transfer.ReceiptReturned")) > 0

    # Overdue: letters still issued at the end, past their validity (replayed from the events).
    last: dict[str, tuple[str, dict[str, Any]]] = {}
    for topic, originator, _, state in events:
        if ":Transfer." in topic:
            last[originator] = (topic.rsplit(".", 1)[1], {**last.get(originator, ("", {}))[1], **state})
    overdue = [s for kind, s in last.values() if kind in ("LetterIssued", "LetterExtended")
               and s["valid_until"] < END]
    assert transfers["overdue"] == len(overdue) > 0

    issued = Counter(c["kind"] for c in named(events, "Certificate.Issued"))
    returned = len(named(events, "Certificate.Returned"))
    assert (summary["certificates"]["temporary_issued"], summary["certificates"]["mobile_issued"]) == (
        issued["temporary"], issued["mobile"])
    assert issued["temporary"] > 0 and issued["mobile"] > 0
    assert 0 < returned < 0.5 * sum(issued.values())  # seed 001: many never come back
    assert summary["certificates"]["return_rate"] == round(returned / sum(issued.values()), 3)

    # Inactive members: living, held and never at org life nor paying dues all year.
    active = {o for t, o, _, _ in events if t.endswith(("Member.OrgLifeAttended", "Member.DuesPaid"))}
    gone = {o for t, o, _, _ in events if t.endswith(("Member.Died", "Member.Left"))}
    enrolled = {o for t, o, _, _ in events if t.endswith(("Member.Imported", "Member.Admitted"))}
    assert 0 < summary["members_inactive"] <= len(enrolled - active - gone)

    # The views tell the same story: the overdue list of the root has every kind of row.
    queries = env.queries()
    rows, _ = queries.overdue(summary["samples"]["root"], on=END)
    kinds = Counter(r["kind"] for r in rows)
    assert kinds["overdue_letter"] > 0 and kinds["unreturned_certificate"] > 0 and kinds["inactive_6m"] > 0

    code, out, _ = run("verify")
    assert code == 0, out
    assert json.loads(out[out.index("{"):])["ok"] is True


def test_the_text_summary_names_every_kind(env: Store) -> None:
    code, out, err = run("simulate", "--scale", "small", *DATES, "--seed", "3")
    assert code == 0, err
    for words in ("received on time", "late", "overdue", "cancelled", "rejected", "cross_province",
                  "temporary issued", "return rate", "inactive", "views: built"):
        assert words in out
    assert "simulating" in err and "day 365/365" in err  # the progress bar, on stderr


def test_the_same_seed_records_the_same_events_and_another_seed_differs(env: Store) -> None:
    simulate("--seed", "5")
    first = stored_events(env)
    simulate("--seed", "5", "--replace")
    again = stored_events(env)
    assert again == first
    transfer_ids = {o for t, o, _, _ in first if t.endswith("Transfer.Requested")}
    assert transfer_ids and transfer_ids == {o for t, o, _, _ in again if t.endswith("Transfer.Requested")}
    simulate("--seed", "6", "--replace")
    other = stored_events(env)
    assert other != first
    assert not transfer_ids & {o for t, o, _, _ in other if t.endswith("Transfer.Requested")}


def test_a_store_with_records_of_its_own_is_refused_even_with_replace(env: Store) -> None:
    code, _, _ = run("org", "add-root", "--code", "XW", "--name", "玄武区委组织部", "--region", "320102",
                     "--on", "2020-01-01")
    assert code == 0
    before = stored_events(env)
    code, out, err = run("simulate", "--scale", "small", *DATES)
    assert code == 1 and "not empty" in err and "--replace" in err
    assert out == ""
    code, _, err = run("simulate", "--scale", "small", *DATES, "--replace")
    assert code == 1 and "no simulation wrote" in err
    assert stored_events(env) == before


def test_replace_refuses_a_simulation_with_real_records_added(env: Store) -> None:
    simulate("--seed", "1")
    code, _, _ = run("operator", "add", "--role", "admin", "--organization", "NJ", "--name", "管理员")
    assert code == 0
    before = stored_events(env)
    code, _, err = run("simulate", "--scale", "small", *DATES, "--replace")
    assert code == 1 and "no simulation wrote" in err
    assert stored_events(env) == before


@pytest.mark.parametrize(("args", "message"), [
    (("--scale", "country"), "--scale"),
    (("--scale", "small", "--end", "2999-01-01"), "after today"),
    (("--scale", "small", "--start", "2025-01-01", "--years", "2"), "not both"),
    (("--scale", "small", "--start", "2025-13-01"), "YYYY-MM-DD"),
    (("--scale", "small", "--start", "2025-12-01", "--end", "2025-12-31"), "needs more than"),
    (("--scale", "small", "--years", "0"), "1 to 10"),
    (("--scale", "small", "--format", "xml"), "--format"),
])
def test_bad_options_are_refused_and_record_nothing(env: Store, args: tuple[str, ...], message: str) -> None:
    code, out, err = run("simulate", *args)
    assert code in (1, 2) and message in err and out == ""
    assert stored_events(env) == []
