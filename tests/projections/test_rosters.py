"""Rosters as of any date, paging and search, and the locator (DOMAIN.md §4, §8).

The expected roster of an organization (or its subtree) on a date is computed here by
replaying the ledger's own events effective on or before that date (an event effective
on day D counts as of D): enrolment places a member at its organization, a letter puts
the member in transit (still of the sending organization), a receipt places the member
at the receiving organization, a cancelled or rejected letter brings the member home,
a dissolution moves the member to the successor, death and leaving end membership; the
tree is replayed the same way from registrations and whole-organization moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from domain.errors import NotFound
from domain.ledger import Ledger
from domain.member import Member
from domain.organization import Organization
from projections.queries import Queries
from tests.conftest import TODAY, Store
from tests.factories import TREE, admit, build_tree, person

# Organizations asked for their own roster, and for their subtree's.
HOLDERS = ("XW-C1-B1", "XW-C1-B2", "XW-C1-B3", "XW-C2-B1", "QH-C1-B1", "SC-C1-B1", "XW-S")
SUBTREES = ("JS", "XW", "XW-C1", "XW-C1-G1", "XW-C2", "QH-C1", "ZJ")


@dataclass
class Stay:
    org: str  # holding organization, or the sending one while in transit
    place: str  # held | in_transit | deceased | left
    since: date
    status: str


def replay_as_of(events: list[Any], day: date) -> tuple[dict[str, Stay], dict[str, str | None]]:
    """Every member's place and status, and every organization's parent, as of `day`,
    from the ledger's events (`ledger.read_events()`)."""
    stays: dict[str, Stay] = {}
    parents: dict[str, str | None] = {}
    code_of: dict[str, str] = {}
    number_of: dict[str, str] = {}
    for event in events:
        on = getattr(event, "on", None)
        if on is None or on > day:
            continue
        key = str(event.originator_id)
        if isinstance(event, Organization.Registered):
            parents[event.code], code_of[key] = event.parent_code, event.code
        elif isinstance(event, Organization.Moved):
            parents[code_of[key]] = event.to_parent_code
        elif isinstance(event, Member.Enrolled):
            number_of[key] = event.registration_no
            stays[event.registration_no] = Stay(event.organization_code, "held", on, event.status)
            continue
        if key not in number_of:
            continue
        stay = stays[number_of[key]]
        if isinstance(event, Member.Confirmed):
            stay.status = "full"
        elif isinstance(event, Member.WentInTransit):  # still of record there, since the same day
            stay.place = "in_transit"
        elif isinstance(event, Member.Received | Member.MovedOnDissolution):
            stay.org, stay.place, stay.since = event.organization_code, "held", on
        elif isinstance(event, Member.ReturnedHome):  # the letter void: it never left
            stay.place = "held"
        elif isinstance(event, Member.Died):
            stay.place = "deceased"
        elif isinstance(event, Member.Left):
            stay.place = "left"
    return stays, parents


def expected_roster(
    events: list[Any], code: str, day: date, subtree: bool, include_in_transit: bool
) -> list[tuple[str, str, str, str, str]]:
    """(registration_no, status, organization_code, since, place), in roster order."""
    stays, parents = replay_as_of(events, day)

    def within(org: str) -> bool:
        node: str | None = org
        while node is not None:
            if node == code:
                return True
            node = parents.get(node) if subtree else None
        return False

    places = ("held", "in_transit") if include_in_transit else ("held",)
    rows = [(no, s.status, s.org, s.since.isoformat(), s.place)
            for no, s in stays.items() if s.place in places and within(s.org)]
    return sorted(rows, key=lambda r: (r[2], r[0]))


def actual_roster(queries: Queries, code: str, **options: Any) -> list[tuple[str, str, str, str, str]]:
    rows, total = queries.roster(code, limit=10_000, **options)
    assert total == len(rows)
    return [(r["registration_no"], r["status"], r["organization_code"], r["since"], r["place"]) for r in rows]


@dataclass
class Story:
    ledger: Ledger
    queries: Queries
    m: dict[int, str]  # member n -> registration number
    letters: dict[str, str]  # what -> transfer id
    events: list[Any]  # the ledger's events, in order
    dates: list[date]  # the days to ask about: each effective date and the day before


def letter(ledger: Ledger, no: str, to: str, on: date, **options: Any) -> str:
    transfer_id = ledger.request_transfer(no, to, reason="job_change", basis="household", on=on,
                                          **options).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=on)
    return transfer_id


@pytest.fixture(scope="module")
def story(shared_store: Store) -> Story:
    """Twelve members over 2025-26: transfers received, cancelled, rejected and still open,
    a death, a departure, a whole-organization move, a dissolution, a confirmation, and
    one transfer recorded after later-dated events of other members. Read-only, so built
    once per store for the module."""
    return tell_story(shared_store)


def tell_story(store: Store) -> Story:
    ledger = store.ledger()
    build_tree(ledger)
    m = {n: admit(ledger, n, org) for n, org in (
        (1, "XW-C1-B1"), (2, "XW-C1-B1"), (3, "XW-C1-B1"), (4, "XW-C1-B1"), (5, "XW-C1-B1"),
        (6, "XW-C1-B1"), (7, "XW-C1-B2"), (8, "XW-C1-B2"), (9, "XW-C1-B3"), (10, "XW-C2-B1"),
        (11, "QH-C1-B1"),
    )}
    m[12] = ledger.admit_member("XW-C1-B2", on=date(2025, 1, 10),
                                **person(12, joined_on=date(2025, 1, 10))).registration_no  # type: ignore[assignment]
    t: dict[str, str] = {}
    t["received"] = letter(ledger, m[1], "QH-C1", date(2025, 3, 1))
    ledger.receive_member(t["received"], "QH-C1-B1", on=date(2025, 3, 15))
    t["cancelled"] = letter(ledger, m[2], "XW-C2", date(2025, 4, 1))
    ledger.cancel_transfer(t["cancelled"], "本人放弃", on=date(2025, 4, 20))
    t["rejected"] = letter(ledger, m[3], "SC-C1", date(2025, 5, 1))
    ledger.reject_transfer(t["rejected"], "材料不全", on=date(2025, 5, 10))
    t["internal"] = letter(ledger, m[4], "XW-C1-B3", date(2025, 5, 10))
    ledger.receive_member(t["internal"], "XW-C1-B3", on=date(2025, 6, 5))
    ledger.record_death(m[7], on=date(2025, 6, 30))
    ledger.record_leaving(m[8], "withdrew", on=date(2025, 7, 1))
    ledger.move_organization("XW-C1-G1", "XW-C2", on=date(2025, 8, 1))
    ledger.dissolve_organization("XW-C1-B3", "XW-C1-B1", on=date(2025, 9, 1))
    t["open"] = letter(ledger, m[5], "SC-C1", date(2025, 10, 1))
    ledger.confirm_member(m[12], on=date(2026, 1, 15))
    # recorded last, effective before most of the above
    t["early"] = letter(ledger, m[11], "XW-C2", date(2025, 2, 1))
    ledger.receive_member(t["early"], "XW-C2-B1", on=date(2025, 2, 10))
    store.engine(ledger).catch_up()

    events = [e for _, e in ledger.read_events()]
    days = {e.on for e in events if getattr(e, "on", None) and e.on.year >= 2025}
    dates = sorted({d + timedelta(days=k) for d in days for k in (-1, 0)} | {date(2020, 6, 1), TODAY})
    return Story(ledger, store.queries(), m, t, events, dates)


def test_the_story_has_the_places_it_claims(story: Story) -> None:
    """Guards the replay itself: a few places read straight off the story."""
    stays, parents = replay_as_of(story.events, date(2025, 9, 1))
    m = story.m
    assert (stays[m[1]].org, stays[m[1]].place) == ("QH-C1-B1", "held")
    assert (stays[m[5]].place, stays[m[7]].place, stays[m[8]].place) == ("held", "deceased", "left")
    assert (stays[m[4]].org, stays[m[9]].org) == ("XW-C1-B1", "XW-C1-B1")  # moved on dissolution
    assert parents["XW-C1-G1"] == "XW-C2"
    stays, parents = replay_as_of(story.events, date(2025, 7, 31))
    assert (stays[m[4]].org, stays[m[4]].since, parents["XW-C1-G1"]) == ("XW-C1-B3", date(2025, 6, 5), "XW-C1")


@pytest.mark.parametrize("include_in_transit", [False, True])
def test_roster_of_an_organization_as_of_each_date_matches_the_replay(
    story: Story, include_in_transit: bool
) -> None:
    for day in story.dates:
        for code in HOLDERS:
            expected = expected_roster(story.events, code, day, False, include_in_transit)
            actual = actual_roster(story.queries, code, as_of=day, include_in_transit=include_in_transit)
            assert actual == expected, f"{code} as of {day}"


@pytest.mark.parametrize("include_in_transit", [False, True])
def test_roster_of_a_subtree_as_of_each_date_matches_the_replay(
    story: Story, include_in_transit: bool
) -> None:
    for day in story.dates:
        for code in SUBTREES:
            expected = expected_roster(story.events, code, day, True, include_in_transit)
            actual = actual_roster(
                story.queries, code, as_of=day, subtree=True, include_in_transit=include_in_transit
            )
            assert actual == expected, f"{code} subtree as of {day}"


def test_current_roster_is_the_roster_as_of_today(story: Story) -> None:
    for code in HOLDERS + SUBTREES:
        subtree = code in SUBTREES
        for include_in_transit in (False, True):
            expected = expected_roster(story.events, code, TODAY, subtree, include_in_transit)
            actual = actual_roster(story.queries, code, subtree=subtree, include_in_transit=include_in_transit)
            # `since`: the day the member has been of record there (in transit too)
            assert actual == expected, code


def test_a_few_rosters_by_hand(story: Story) -> None:
    """The replay's answers for the interesting days, written out."""
    m, q = story.m, story.queries

    def numbers(code: str, day: date, **options: Any) -> set[str]:
        return {r[0] for r in actual_roster(q, code, as_of=day, **options)}

    # m1's letter: in transit from B1 on 2025-03-01 (of record there), held in QH on the 15th
    assert m[1] not in numbers("XW-C1-B1", date(2025, 3, 1))
    assert m[1] in numbers("XW-C1-B1", date(2025, 3, 1), include_in_transit=True)
    assert m[1] in numbers("XW-C1-B1", date(2025, 3, 14), include_in_transit=True)
    assert m[1] not in numbers("QH-C1-B1", date(2025, 3, 14), include_in_transit=True)
    assert m[1] in numbers("QH-C1-B1", date(2025, 3, 15))
    assert m[1] not in numbers("XW-C1-B1", date(2025, 3, 15), include_in_transit=True)
    # m2 cancelled on 2025-04-20: back on B1's roster that day
    assert m[2] not in numbers("XW-C1-B1", date(2025, 4, 19))
    assert m[2] in numbers("XW-C1-B1", date(2025, 4, 20))
    # the death on 2025-06-30 and the departure on 2025-07-01 take effect that day
    assert m[7] in numbers("XW-C1-B2", date(2025, 6, 29))
    assert m[7] not in numbers("XW-C1-B2", date(2025, 6, 30), include_in_transit=True)
    assert m[8] not in numbers("XW-C1-B2", date(2025, 7, 1), include_in_transit=True)
    # the general branch moved to XW-C2 on 2025-08-01: its members with it
    assert m[6] in numbers("XW-C1", date(2025, 7, 31), subtree=True)
    assert m[6] not in numbers("XW-C1", date(2025, 8, 1), subtree=True)
    assert m[6] in numbers("XW-C2", date(2025, 8, 1), subtree=True)
    # B3 dissolved into B1 on 2025-09-01
    assert {m[4], m[9]} <= numbers("XW-C1-B3", date(2025, 8, 31))
    assert numbers("XW-C1-B3", date(2025, 9, 1), include_in_transit=True) == set()
    assert {m[4], m[9]} <= numbers("XW-C1-B1", date(2025, 9, 1))
    # recorded last, effective in February: m11 was in XW-C2-B1 before m1 reached QH
    assert m[11] in numbers("XW-C2-B1", date(2025, 2, 10))
    assert m[11] not in numbers("QH-C1-B1", date(2025, 2, 10), include_in_transit=True)
    assert m[11] in numbers("QH-C1-B1", date(2025, 2, 9), include_in_transit=True)
    # m12 joined 2025-01-10, confirmed 2026-01-15: probationary until then
    status = {day: {r[0]: r[1] for r in actual_roster(q, "XW-C1-B2", as_of=day)}[m[12]]
              for day in (date(2025, 1, 10), date(2026, 1, 14), date(2026, 1, 15), TODAY)}
    assert status == {date(2025, 1, 10): "probationary", date(2026, 1, 14): "probationary",
                      date(2026, 1, 15): "full", TODAY: "full"}
    assert m[12] not in numbers("XW-C1-B2", date(2025, 1, 9))


def test_roster_pages_cover_the_roster_once_in_order(story: Story) -> None:
    q = story.queries
    for day in (date(2025, 3, 1), date(2025, 10, 1), None):
        full, total = q.roster("JS", as_of=day, subtree=True, include_in_transit=True, limit=1000)
        assert total == len(full) >= 8
        for size in (1, 3, 5):
            pages = []
            for offset in range(0, total + size, size):
                rows, count = q.roster("JS", as_of=day, subtree=True, include_in_transit=True,
                                       limit=size, offset=offset)
                assert count == total, "the count is of the whole roster, not the page"
                assert len(rows) == max(0, min(size, total - offset))
                pages += rows
            assert pages == full, f"pages of {size} as of {day}"
        keys = [(r["organization_code"], r["registration_no"]) for r in full]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("as_of", [None, date(2025, 5, 1)])
def test_roster_search_by_name_and_registration_number(story: Story, as_of: date | None) -> None:
    q, m = story.queries, story.m
    full, _ = q.roster("JS", as_of=as_of, subtree=True, include_in_transit=True, limit=1000)
    for search in ("党员1", "党员12", "员5", m[9], m[9][:12], m[10][:6], "无此人"):
        expected = [r for r in full if search in r["name"] or r["registration_no"].startswith(search.upper())]
        rows, total = q.roster("JS", as_of=as_of, subtree=True, include_in_transit=True, search=search)
        assert rows == expected, f"search {search!r}"
        assert total == len(expected)
    one, total = q.roster("JS", as_of=as_of, subtree=True, search=m[9])
    assert (total, [r["name"] for r in one]) == (1, ["党员9"])
    found, _ = q.roster("JS", as_of=as_of, subtree=True, include_in_transit=True, search="党员1")
    assert {r["name"] for r in found} == {r["name"] for r in full if r["name"].startswith("党员1")}
    assert "党员2" not in {r["name"] for r in found}


def test_roster_of_an_unknown_organization_is_not_found(story: Story) -> None:
    with pytest.raises(NotFound):
        story.queries.roster("NO-SUCH-ORG")
    with pytest.raises(NotFound):
        story.queries.roster("NO-SUCH-ORG", as_of=date(2025, 1, 1), subtree=True)


def open_letters(q: Queries, no: str) -> list[str]:
    """The member's letters issued and still open (the transfer list, by member)."""
    rows, _ = q.transfers(registration_no=no, status="issued")
    return [r["transfer_id"] for r in rows]


def roster_row(q: Queries, code: str, no: str) -> tuple[str, ...]:
    """The member's place, organization, since and status on the roster of record of `code`
    now (those in transit included), found by number; () when not of record there."""
    rows, _ = q.roster(code, include_in_transit=True, search=no)
    found = [(r["place"], r["organization_code"], r["since"], r["status"]) for r in rows if r["registration_no"] == no]
    assert len(found) <= 1
    return found[0] if found else ()


def test_locator_held_in_transit_and_gone(story: Story) -> None:
    """Where a member is, read as the product reads it: the roster of record (held, and in
    transit from the sending organization), the open letter, and, for those gone, the
    member (GET /v1/members) and the roster as of the day before."""
    q, m, t, ledger = story.queries, story.m, story.letters, story.ledger
    assert roster_row(q, "QH-C1-B1", m[1])[:3] == ("held", "QH-C1-B1", "2025-03-15")
    assert open_letters(q, m[1]) == []
    assert roster_row(q, "XW-C1-B1", m[2])[:2] == ("held", "XW-C1-B1")
    assert open_letters(q, m[2]) == []  # cancelled
    assert roster_row(q, "XW-C1-B1", m[9])[:3] == ("held", "XW-C1-B1", "2025-09-01")
    assert roster_row(q, "XW-C1-B1", m[5])[:2] == ("in_transit", "XW-C1-B1"), \
        "in transit: of record at the sending organization"
    assert open_letters(q, m[5]) == [t["open"]], "on the open letter"
    for no, code, gone_on, place, reason in ((m[7], "XW-C1-B2", date(2025, 6, 30), "deceased", None),
                                             (m[8], "XW-C1-B2", date(2025, 7, 1), "left", "withdrew")):
        assert roster_row(q, code, no) == ()
        assert (ledger.member(no).place, ledger.member(no).left_reason) == (place, reason)
        before = [r["registration_no"] for r in q.roster(code, as_of=gone_on - timedelta(days=1), search=no)[0]]
        assert (before, q.roster(code, as_of=gone_on, search=no)[0]) == ([no], []), no
    assert roster_row(q, "XW-C1-B2", m[12])[3:] == ("full",)
    assert ledger.member(m[12]).origin == "admitted"
    assert [r["registration_no"] for r in q.roster("XW-C1-B1", search=m[3].lower())[0]] == [m[3]]
    with pytest.raises(NotFound):
        ledger.member("110101199001011234")
    assert q.roster("JS", subtree=True, include_in_transit=True, search="110101199001011234") == ([], 0)


def test_locator_agrees_with_the_member_aggregates(story: Story) -> None:
    """The roster of record puts each living member where its aggregate does, with its
    status, and no one gone; every organization it names is in the tree."""
    named = set()
    for no in story.m.values():
        member = story.ledger.member(no)
        assert member.organization_code is not None
        located = roster_row(story.queries, member.organization_code, no)
        if member.is_gone:
            assert located == (), no
            continue
        assert (located[0], located[1], located[3]) == (member.place, member.organization_code, member.status), no
        if member.place == "in_transit":
            assert open_letters(story.queries, no) == [member.transfer_id]
        named.add(located[1])
    assert set(TREE) >= named
