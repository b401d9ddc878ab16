"""The conservation equations of DOMAIN.md §8, under random histories.

Hypothesis draws a history of commands (admissions, imports, letters issued, received on
time or late, cancelled, rejected, receipts returned, confirmations, deaths, departures,
temporary and mobile certificates, whole-organization moves and dissolutions) with
non-decreasing effective dates from 2024-01 to 2026-10, on a fresh ledger. Refused
commands are skipped. After the projection engine has caught up, for every organization
and every month from 2024-01 to 2026-11 the monthly report must satisfy:

- closing = opening + admitted + imported + transferred_in - transferred_out - deceased - left,
  each transfer figure being the sum of its internal, external and whole-organization parts;
- closing = held + in_transit = probationary + full; the next opening is this closing;
- roll-up: an organization's figures are its children's (as the tree stood) plus its own;
- over the whole ledger, transfers out equal transfers in (per part) every month, and the
  roots' closing is every member not deceased or left, each counted once;
- certificates: out at the end = out at the start + issued - returned - closed (+ in - out
  with a whole organization moved), out = temporary + mobile, and each figure as the replay
  counts it; over the ledger, certificates out are members holding one, each counted once.

Expectations that are not equations come from a replay of the domain events written here
(where each member is of record on each month's last day, and the tree then) and from the
domain aggregates themselves, never from the projection's code.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from domain.certificate import Certificate
from domain.errors import BeforeLastEvent, LedgerError
from domain.ledger import Ledger, Recorded
from domain.member import Member
from domain.organization import Organization
from projections.queries import Queries
from tests.conftest import Store, new_store
from tests.factories import TREE, person

START = date(2024, 1, 1)
END = date(2026, 10, 31)
FIRST_MONTH, LAST_MONTH = "2024-01", "2026-11"
HOLDING = ("branch", "service_center")
GONE = ("deceased", "left")
PARTS = ("internal", "external", "whole_org")
ROLLED_UP = ("admitted", "imported", "deceased", "left")
LEAVE_REASONS = ("expelled", "withdrew", "self_withdrawal")
ROOTS = sorted(code for code, (_n, _k, parent, _r) in TREE.items() if parent is None)

GAPS = (0, 0, 1, 2, 5, 10, 20, 31, 45)  # days between two steps
# Steps, weighted by repetition: transfers and their outcomes are what the figures are about.
STEPS = (
    "admit", "admit", "import", "import", "issue", "issue", "issue", "issue",
    "receive", "receive", "receive", "extend", "cancel", "reject", "return_receipt", "return_receipt",
    "confirm", "death", "leave", "temporary", "mobile", "return_certificate",
    "move", "move", "dissolve",
)


# --- months ------------------------------------------------------------------------------


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def months(first: str, last: str) -> list[str]:
    found = [first]
    while found[-1] < last:
        found.append(next_month(found[-1]))
    return found


MONTHS = months(FIRST_MONTH, LAST_MONTH)


# --- a fresh store for each example ------------------------------------------------------


@contextmanager
def fresh_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    """An empty store of the test's kind: a new SQLite file (in memory-backed /dev/shm where
    there is one: the examples are thrown away), or a new PostgreSQL schema."""
    shm = Path("/dev/shm")
    with (tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else tmp_path) as directory,
          new_store(kind, directory, "cons") as store):
        yield store


# --- drawing a history ---------------------------------------------------------------------


class History:
    """Draws and runs commands on one ledger; refused commands are skipped."""

    def __init__(self, ledger: Ledger, data: st.DataObject) -> None:
        self.ledger, self.data = ledger, data
        self.on = START
        self.people = 0
        self.members: list[str] = []
        self.transfers: list[str] = []
        self.certificates: list[str] = []
        self.accepted: list[str] = []
        # Aggregates read back from the ledger, dropped after each accepted command.
        self._orgs: dict[str, Organization] = {}
        self._members: dict[str, Member] = {}
        self._transfers: dict[str, Any] = {}
        for code, (name, kind, parent, region) in TREE.items():
            ledger.register_organization(code, name, kind, parent, region, on=START)
        for org in ("XW-C1-B1", "XW-C1-B1", "XW-C1-B2", "XW-C1-B3", "XW-C2-B1", "XW-S",
                    "QH-C1-B1", "SC-C1-B1"):
            self.run(f"import {org}", lambda org=org: self._import(org))

    # reading the domain to pick plausible arguments

    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def pick(self, candidates: list[str], label: str) -> str | None:
        return self.draw(st.sampled_from(candidates), label) if candidates else None

    def org(self, code: str) -> Organization:
        if code not in self._orgs:
            self._orgs[code] = self.ledger.organization(code)
        return self._orgs[code]

    def member(self, no: str) -> Member:
        if no not in self._members:
            self._members[no] = self.ledger.member(no)
        return self._members[no]

    def transfer(self, transfer_id: str) -> Any:
        if transfer_id not in self._transfers:
            self._transfers[transfer_id] = self.ledger.transfer(transfer_id)
        return self._transfers[transfer_id]

    def active(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        return [code for code in TREE
                if self.org(code).status == "active" and (kinds is None or self.org(code).kind in kinds)]

    def subtree(self, code: str) -> list[str]:
        found, pending = [], [code]
        while pending:
            node = pending.pop()
            found.append(node)
            pending.extend(sorted(self.org(node).children))
        return found

    def members_where(self, good: Callable[[Member], bool]) -> list[str]:
        return [no for no in self.members if good(self.member(no))]

    def transfers_in(self, status: str) -> list[str]:
        return [t for t in self.transfers if self.transfer(t).status == status]

    # running

    def run(
        self, label: str, action: Callable[[], Recorded | None], *, tree: bool = False,
        member: str | None = None, transfer: str | None = None,
    ) -> None:
        """Run a command; if accepted, forget what it changed (the whole tree and every
        member after a restructuring)."""
        try:
            action()
        except LedgerError:
            return
        if tree:
            self._orgs.clear()
            self._members.clear()
        self._members.pop(member or "", None)
        self._transfers.pop(transfer or "", None)
        self.accepted.append(f"{self.on} {label}")
        note(f"{self.on} {label}")

    def step(self) -> None:
        self.on = min(self.on + timedelta(days=self.draw(st.sampled_from(GAPS), "days later")), END)
        getattr(self, "step_" + self.draw(st.sampled_from(STEPS), "step"))()

    def _import(self, org: str) -> Recorded:
        self.people += 1
        recorded = self.ledger.import_member(
            org, registration_no=None, status="full", on=self.on, **person(self.people)
        )
        assert recorded.registration_no is not None
        self.members.append(recorded.registration_no)
        return recorded

    def step_import(self) -> None:
        org = self.pick(self.active(HOLDING), "import into")
        if org:
            self.run(f"import into {org}", lambda: self._import(org))

    def step_admit(self) -> None:
        org = self.pick(self.active(HOLDING), "admit into")
        if not org:
            return

        def admit() -> Recorded:
            self.people += 1
            fields = person(self.people, joined_on=self.on)
            recorded = self.ledger.admit_member(org, on=self.on, **fields)
            assert recorded.registration_no is not None
            self.members.append(recorded.registration_no)
            return recorded

        self.run(f"admit into {org}", admit)

    def step_issue(self) -> None:
        no = self.pick(self.members_where(lambda m: m.place == "held" and m.transfer_id is None), "member")
        targets = [c for c in self.active() if TREE[c][1] != "department"]
        target = self.pick(targets, "target")
        if not no or not target:
            return
        valid_days = self.draw(st.integers(1, 90), "valid days")
        override = self.draw(st.booleans(), "probation override")

        def issue() -> Recorded:
            transfer_id = self.ledger.request_transfer(
                no, target, reason="job_change", basis="household", performance_record="表现良好",
                probation_override_reason="组织需要" if override else None, on=self.on,
            ).transfer_id
            assert transfer_id is not None
            try:
                recorded = self.ledger.issue_letter(transfer_id, valid_days, on=self.on)
            except LedgerError:
                self.ledger.decline_transfer(transfer_id, "未开具", on=self.on)
                raise
            self.transfers.append(transfer_id)
            return recorded

        self.run(f"letter for {no} to {target}, valid {valid_days} days", issue, member=no)

    def step_receive(self) -> None:
        transfer_id = self.pick(self.transfers_in("issued"), "transfer")
        if not transfer_id:
            return
        transfer = self.transfer(transfer_id)
        holding = self.active(HOLDING)
        into = self.pick([c for c in self.subtree(transfer.to_organization_code) if c in holding], "into")
        if not into:
            return
        late = self.on > transfer.valid_until if transfer.valid_until else False
        with_certificate = late and self.draw(st.sampled_from([True, True, True, False]), "late certificate")
        certificate = "支部证明：因病延期" if with_certificate else None
        self.run(
            f"receive {transfer.registration_no} into {into}{' late' if late else ''}",
            lambda: self.ledger.receive_member(transfer_id, into, certificate, on=self.on),
            member=transfer.registration_no, transfer=transfer_id,
        )

    def step_extend(self) -> None:
        transfer_id = self.pick(self.transfers_in("issued"), "transfer")
        if not transfer_id:
            return
        transfer = self.transfer(transfer_id)
        until = min(transfer.valid_until + timedelta(days=self.draw(st.integers(1, 60), "extended by")),
                    transfer.issued_on + timedelta(days=90))
        self.run(f"extend {transfer_id[:8]} to {until}",
                 lambda: self.ledger.extend_letter(transfer_id, until, on=self.on), transfer=transfer_id)

    def step_cancel(self) -> None:
        transfer_id = self.pick(self.transfers_in("issued"), "transfer")
        if transfer_id:
            self.run(f"cancel {transfer_id[:8]}",
                     lambda: self.ledger.cancel_transfer(transfer_id, "本人放弃", on=self.on),
                     member=self.transfer(transfer_id).registration_no, transfer=transfer_id)

    def step_reject(self) -> None:
        transfer_id = self.pick(self.transfers_in("issued"), "transfer")
        if transfer_id:
            self.run(f"reject {transfer_id[:8]}",
                     lambda: self.ledger.reject_transfer(transfer_id, "信息有误", on=self.on),
                     member=self.transfer(transfer_id).registration_no, transfer=transfer_id)

    def step_return_receipt(self) -> None:
        transfer_id = self.pick(self.transfers_in("received"), "transfer")
        if transfer_id:
            self.run(f"return receipt {transfer_id[:8]}",
                     lambda: self.ledger.return_receipt(transfer_id, on=self.on), transfer=transfer_id)

    def step_confirm(self) -> None:
        no = self.pick(self.members_where(
            lambda m: m.status == "probationary" and m.place == "held"
            and m.probation_ends_on is not None and m.probation_ends_on <= self.on
        ), "member")
        if no:
            self.run(f"confirm {no}", lambda: self.ledger.confirm_member(no, on=self.on), member=no)

    def step_death(self) -> None:
        no = self.pick(self.members_where(lambda m: m.place == "held" and m.transfer_id is None), "member")
        if no:
            self.run(f"death of {no}", lambda: self.ledger.record_death(no, on=self.on), member=no)

    def step_leave(self) -> None:
        no = self.pick(self.members_where(lambda m: m.place == "held" and m.transfer_id is None), "member")
        reason = self.draw(st.sampled_from(LEAVE_REASONS), "reason")
        if no:
            self.run(f"{no} left ({reason})", lambda: self.ledger.record_leaving(no, reason, on=self.on),
                     member=no)

    def step_temporary(self) -> None:
        no = self.pick(self.members_where(lambda m: m.place == "held"), "member")
        days = self.draw(st.integers(1, 180), "certificate days")
        if no:
            self.run(f"temporary certificate for {no}", lambda: self._certificate(
                no, kind="temporary", purpose="党校培训", valid_until=self.on + timedelta(days=days),
                host_description="省委党校",
            ))

    def step_mobile(self) -> None:
        no = self.pick(self.members_where(lambda m: m.place == "held"), "member")
        host = self.pick([c for c in self.active() if TREE[c][1] != "department"], "host")
        if no and host:
            self.run(f"mobile certificate for {no} hosted by {host}", lambda: self._certificate(
                no, kind="mobile", purpose="外出务工", valid_until=self.on + timedelta(days=365),
                host_organization_code=host, contact_person="王联络",
            ))

    def _certificate(self, no: str, **fields: Any) -> Recorded:
        recorded = self.ledger.issue_certificate(no, on=self.on, **fields)
        assert recorded.certificate_no is not None
        self.certificates.append(recorded.certificate_no)
        return recorded

    def step_return_certificate(self) -> None:
        issued = [c for c in self.certificates if self.ledger.certificate(c).status == "issued"]
        number = self.pick(issued, "certificate")
        if number:
            self.run(f"return certificate {number}",
                     lambda: self.ledger.return_certificate(number, on=self.on))

    def step_move(self) -> None:
        org = self.pick([c for c in self.active() if TREE[c][2] is not None], "organization")
        parent = self.pick([c for c in self.active() if TREE[c][1] != "branch"], "new parent")
        if org and parent:
            self.run(f"move {org} under {parent}",
                     lambda: self.ledger.move_organization(org, parent, on=self.on), tree=True)

    def step_dissolve(self) -> None:
        org = self.pick(self.active(), "organization")
        if not org:
            return
        holds = TREE[org][1] in HOLDING
        successor = self.pick(
            [c for c in self.active(HOLDING if holds else None)
             if c != org and (holds or TREE[c][1] != "branch")], "successor",
        )
        if successor:
            self.run(f"dissolve {org} into {successor}",
                     lambda: self.ledger.dissolve_organization(org, successor, on=self.on), tree=True)


# --- replaying the domain events -------------------------------------------------------------


@dataclass
class Place:
    org: str  # organization of record: the holding one, or the sending one while in transit
    place: str  # held | in_transit | deceased | left
    status: str  # probationary | full


@dataclass
class Replay:
    """Where every member was of record on each month's last day, the tree then, and the
    month's flows per organization (counted at the organization and its ancestors as the
    tree stood when the event took effect)."""

    parents: dict[str, dict[str, str | None]] = field(default_factory=dict)  # month -> code -> parent
    places: dict[str, dict[str, Place]] = field(default_factory=dict)  # month -> member -> place
    flows: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    own_flows: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    children_changed: set[tuple[str, str]] = field(default_factory=set)  # (parent, month)
    # month -> certificate -> (home, kind, host, member) of the certificates open at its end
    open_certificates: dict[str, dict[str, tuple[str, str, str | None, str]]] = field(default_factory=dict)

    def certificates_out(self, month: str, code: str, kind: str | None = None) -> list[str]:
        """The members of the certificates open at the month's end whose home was in the
        subtree as it stood then."""
        parents = self.parents.get(month, {})
        return [member for home, k, _host, member in self.open_certificates.get(month, {}).values()
                if code in self.chain(parents, home) and kind in (None, k)]

    @staticmethod
    def chain(parents: dict[str, str | None], code: str) -> list[str]:
        found = [code]
        while parents.get(found[-1]) is not None:
            found.append(parents[found[-1]])  # type: ignore[arg-type]
        return found

    def children(self, month: str, code: str) -> list[str]:
        return [c for c, p in self.parents.get(month, {}).items() if p == code]

    def of_record(self, month: str, code: str, subtree: bool = True) -> list[Place]:
        """Members of record at `code` (or in its subtree) on the month's last day."""
        parents = self.parents.get(month, {})
        return [
            p for p in self.places.get(month, {}).values()
            if p.place not in GONE and (code in self.chain(parents, p.org) if subtree else p.org == code)
        ]


def replay(ledger: Ledger) -> Replay:
    result = Replay()
    parents: dict[str, str | None] = {}
    code_of: dict[str, str] = {}
    places: dict[str, Place] = {}
    number_of: dict[str, str] = {}
    certificates: dict[str, tuple[str, str, str | None, str]] = {}  # by aggregate id, while open
    current = FIRST_MONTH
    last_on = START

    def close_months_before(month: str) -> None:
        nonlocal current
        while current < month:
            result.parents[current] = dict(parents)
            result.places[current] = {no: Place(p.org, p.place, p.status) for no, p in places.items()}
            result.open_certificates[current] = dict(certificates)
            current = next_month(current)

    def count(org: str, month: str, figure: str, delta: int = 1) -> None:
        for node in Replay.chain(parents, org):
            result.flows[(node, month, figure)] += delta
        result.own_flows[(org, month, figure)] += delta

    def transfer(source: str, target: str, month: str, part: str) -> None:
        before, after = Replay.chain(parents, source), Replay.chain(parents, target)
        for node in before:
            if node in after:
                if part != "whole_org":  # an organization moving inside is no transfer there
                    result.flows[(node, month, "transferred_out_internal")] += 1
                    result.flows[(node, month, "transferred_in_internal")] += 1
            else:
                result.flows[(node, month, f"transferred_out_{part}")] += 1
        for node in after:
            if node not in before:
                result.flows[(node, month, f"transferred_in_{part}")] += 1

    for _, event in ledger.read_events():
        on = getattr(event, "on", None)
        if on is None:
            continue
        assert on >= last_on, "the drawn histories have non-decreasing effective dates"
        last_on, month = on, month_of(on)
        close_months_before(month)
        key = str(event.originator_id)
        if isinstance(event, Organization.Registered):
            parents[event.code], code_of[key] = event.parent_code, event.code
        elif isinstance(event, Organization.Moved):
            code = code_of[key]
            moving = [p for p in places.values()
                      if p.place not in GONE and code in Replay.chain(parents, p.org)]
            before, after = Replay.chain(parents, event.from_parent_code), Replay.chain(parents, event.to_parent_code)
            for node in before:
                if node not in after:
                    result.flows[(node, month, "transferred_out_whole_org")] += len(moving)
            for node in after:
                if node not in before:
                    result.flows[(node, month, "transferred_in_whole_org")] += len(moving)
            result.children_changed |= {(event.from_parent_code, month), (event.to_parent_code, month)}
            parents[code] = event.to_parent_code
        elif isinstance(event, Member.Enrolled):
            number_of[key] = event.registration_no
            places[event.registration_no] = Place(event.organization_code, "held", event.status)
            count(event.organization_code, month, "imported" if isinstance(event, Member.Imported) else "admitted")
        elif isinstance(event, Member.Confirmed):
            places[number_of[key]].status = "full"
        elif isinstance(event, Member.WentInTransit):
            places[number_of[key]].place = "in_transit"
        elif isinstance(event, Member.ReturnedHome):
            places[number_of[key]].place = "held"
        elif isinstance(event, Member.Received | Member.MovedOnDissolution):
            member = places[number_of[key]]
            part = "external" if isinstance(event, Member.Received) else "whole_org"
            transfer(member.org, event.organization_code, month, part)
            member.org, member.place = event.organization_code, "held"
        elif isinstance(event, Certificate.Issued):
            certificates[key] = (event.home_organization_code, event.kind, event.host_organization_code,
                                 event.registration_no)
            count(event.home_organization_code, month, "certificates_issued")
        elif isinstance(event, Certificate.Returned | Certificate.Closed):
            home = certificates.pop(key)[0]
            ended = "returned" if isinstance(event, Certificate.Returned) else "closed"
            count(home, month, f"certificates_{ended}")
        elif isinstance(event, Member.Died | Member.Left):
            member = places[number_of[key]]
            count(member.org, month, "deceased" if isinstance(event, Member.Died) else "left")
            member.place = "deceased" if isinstance(event, Member.Died) else "left"
    close_months_before(next_month(LAST_MONTH))
    return result


# --- the checks ------------------------------------------------------------------------------


def check_conservation(ledger: Ledger, queries: Queries, history: History) -> None:
    expected = replay(ledger)
    reports = {(code, month): queries.monthly_report(code, month) for code in TREE for month in MONTHS}

    for (code, month), r in reports.items():
        where = f"{code} {month}"
        for side in ("in", "out"):
            parts = sum(r[f"transferred_{side}_{part}"] for part in PARTS)
            assert r[f"transferred_{side}"] == parts, f"{where}: transferred_{side} is not the sum of its parts"
        assert r["closing"] == (
            r["opening"] + r["admitted"] + r["imported"] + r["transferred_in"] - r["transferred_out"]
            - r["deceased"] - r["left"]
        ), f"{where}: closing doesn't follow from opening and the month's flows: {r}"
        assert r["closing"] == r["held"] + r["in_transit"], f"{where}: closing != held + in_transit"
        assert r["closing"] == r["probationary"] + r["full"], f"{where}: closing != probationary + full"
        assert r["left"] == sum(r["left_by_reason"].values()), f"{where}: left != sum by reason"
        if month != LAST_MONTH:
            following = reports[(code, next_month(month))]
            assert following["opening"] == r["closing"], f"{where}: next month's opening != closing"
        if month == FIRST_MONTH:
            assert r["opening"] == 0, f"{where}: the ledger starts empty"

        # against the replay of the domain events
        of_record = expected.of_record(month, code)
        in_transit = sum(p.place == "in_transit" for p in of_record)
        probationary = sum(p.status == "probationary" for p in of_record)
        assert (r["closing"], r["in_transit"], r["probationary"]) == (
            len(of_record), in_transit, probationary
        ), f"{where}: (closing, in_transit, probationary) differ from the replay"
        # certificates: the equation, and the figures as the replay counts them
        assert r["certificates_out"] == (
            r["certificates_out_opening"] + r["certificates_issued"] - r["certificates_returned"]
            - r["certificates_closed"] + r["certificates_transferred_in_whole_org"]
            - r["certificates_transferred_out_whole_org"]
        ), f"{where}: certificates out don't follow from the start and the month's flows: {r}"
        assert r["certificates_out"] == r["temporary_out"] + r["mobile_out"], f"{where}: out != by kind"
        if month != LAST_MONTH:
            following = reports[(code, next_month(month))]
            assert following["certificates_out_opening"] == r["certificates_out"], f"{where}: certificates"
        if month == FIRST_MONTH:
            assert r["certificates_out_opening"] == 0, f"{where}: the ledger starts with no certificate out"
        assert (r["certificates_out"], r["mobile_out"]) == (
            len(expected.certificates_out(month, code)), len(expected.certificates_out(month, code, "mobile"))
        ), f"{where}: (certificates_out, mobile_out) differ from the replay"
        for figure in ("certificates_issued", "certificates_returned", "certificates_closed"):
            assert r[figure] == expected.flows.get((code, month, figure), 0), (
                f"{where}: {figure} is {r[figure]}, the replay says {expected.flows.get((code, month, figure), 0)}"
            )

        for figure in (*ROLLED_UP, *(f"transferred_{s}_{p}" for s in ("in", "out") for p in PARTS)):
            assert r[figure] == expected.flows.get((code, month, figure), 0), (
                f"{where}: {figure} is {r[figure]}, the replay says "
                f"{expected.flows.get((code, month, figure), 0)}"
            )

        # roll-up: children (as the tree stood) plus the organization's own members
        previous = MONTHS[MONTHS.index(month) - 1] if month != FIRST_MONTH else None
        children_end = expected.children(month, code)
        own_closing = len(expected.of_record(month, code, subtree=False))
        assert r["closing"] == sum(reports[(c, month)]["closing"] for c in children_end) + own_closing, (
            f"{where}: closing is not the children's ({children_end}) plus its own {own_closing}"
        )
        if previous is not None:
            children_start = expected.children(previous, code)
            own_opening = len(expected.of_record(previous, code, subtree=False))
            assert r["opening"] == sum(
                reports[(c, month)]["opening"] for c in children_start
            ) + own_opening, f"{where}: opening is not the children's ({children_start}) plus its own"
        if (code, month) not in expected.children_changed:
            for figure in ROLLED_UP:
                assert r[figure] == sum(reports[(c, month)][figure] for c in children_end) + (
                    expected.own_flows.get((code, month, figure), 0)
                ), f"{where}: {figure} is not the children's ({children_end}) plus its own"

    # the whole ledger: what leaves one organization lands in another, in the same month
    for month in MONTHS:
        for part in PARTS:
            out = sum(reports[(root, month)][f"transferred_out_{part}"] for root in ROOTS)
            into = sum(reports[(root, month)][f"transferred_in_{part}"] for root in ROOTS)
            assert out == into, f"{month}: over the ledger {out} transferred out ({part}) but {into} in"

    # certificates counted once: over the ledger, each certificate out is a member holding one
    for month in MONTHS:
        holders = [member for root in ROOTS for member in expected.certificates_out(month, root)]
        assert len(holders) == len(set(holders)), f"{month}: a member holds two open certificates"
        assert sum(reports[(root, month)]["certificates_out"] for root in ROOTS) == len(holders)

    # every member not deceased or left, each counted once, from the member aggregates
    members = {no: ledger.member(no) for no in history.members}
    living = {no for no, m in members.items() if m.place not in GONE}
    assert sum(reports[(root, LAST_MONTH)]["closing"] for root in ROOTS) == len(living)
    seen: list[str] = []
    for root in ROOTS:
        rows, total = queries.roster(root, subtree=True, include_in_transit=True, limit=10_000)
        assert total == len(rows)
        seen += [row["registration_no"] for row in rows]
    assert sorted(seen) == sorted(living), "each living member is on exactly one root's roster"

    # the last month's closing of each organization, from the domain aggregates
    for code in TREE:
        subtree = set(history.subtree(code))
        mine = [m for m in members.values() if m.place not in GONE and m.organization_code in subtree]
        r = reports[(code, LAST_MONTH)]
        assert (r["closing"], r["in_transit"], r["full"]) == (
            len(mine), sum(m.place == "in_transit" for m in mine), sum(m.status == "full" for m in mine)
        ), f"{code} {LAST_MONTH}: the figures differ from the member aggregates"


def test_monthly_figures_are_conserved_in_random_histories(store: Store, tmp_path: Path) -> None:
    """The memo line overdue_letters is left to the tests below: with moves and extensions
    in the histories it would only rediscover the bugs they pin down."""
    @settings(
        max_examples=18 if store.kind == "sqlite" else 5, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large],
    )
    @given(data=st.data(), steps=st.integers(5, 50))
    def history_conserves(data: st.DataObject, steps: int) -> None:
        with fresh_store(store.kind, tmp_path) as example:
            ledger = example.ledger()
            history = History(ledger, data)
            for _ in range(steps):
                history.step()
            engine = example.engine(ledger)
            engine.catch_up()
            check_conservation(ledger, example.queries(), history)
            verified = engine.verify()
            assert verified["ok"], verified["mismatches"]

    history_conserves()


# --- figures of a month are those of the tree as it stood then ---------------------------------
#
# A whole-organization move may be effective before events already recorded elsewhere, as
# long as none concerns a member of the moved subtree (ledger: `_check_after_subtree_activity`).
# Certificates and receipts are not member events, so they can be recorded after a move and
# be effective before it; and a memo line can be asked of a month long after the tree changed.
# In each case the month's figures must be those of the tree as it stood in that month.


def register_tree(ledger: Ledger) -> None:
    for code, (name, kind, parent, region) in TREE.items():
        ledger.register_organization(code, name, kind, parent, region, on=START)


def import_one(ledger: Ledger, org: str, n: int = 1) -> str:
    number = ledger.import_member(org, registration_no=None, status="full", on=START, **person(n)).registration_no
    assert number is not None
    return number


@pytest.mark.parametrize("kind", ["temporary", "mobile"])
def test_a_move_back_dated_before_a_certificate_is_refused(store: Store, kind: str) -> None:
    """Certificates out are counted on the tree of their date: the ledger refuses a move
    back-dated before a certificate already recorded for one of the members it moves."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "XW-C1-B3")
    host = {"host_organization_code": "QH-C1-B1"} if kind == "mobile" else {"host_description": "省委党校"}
    ledger.issue_certificate(number, kind=kind, purpose="培训",
                             valid_until=date(2024, 5, 1) if kind == "temporary" else date(2025, 3, 1),
                             on=date(2024, 3, 10), **host)
    position = ledger.max_position()
    with pytest.raises(BeforeLastEvent):
        ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2024, 2, 15))
    assert ledger.max_position() == position
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2024, 3, 10))
    store.engine(ledger).catch_up()
    queries = store.queries()
    figures = {(code, month): queries.monthly_report(code, month)["certificates_out"]
               for code in ("XW-C1", "XW-C2", "XW") for month in ("2024-02", "2024-03")}
    assert figures == {("XW-C1", "2024-02"): 0, ("XW-C1", "2024-03"): 0,
                       ("XW-C2", "2024-02"): 0, ("XW-C2", "2024-03"): 1,
                       ("XW", "2024-02"): 0, ("XW", "2024-03"): 1}


def test_a_move_back_dated_before_a_certificate_its_subtree_hosts_is_refused(store: Store) -> None:
    """The hosted figure is counted on the tree of its date: a move of the host back-dated
    before a certificate it hosts was issued or returned is refused (the host's `hosted`
    went below 0 in the months between); on the day of the return it is recorded."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "QH-C1-B1")
    certificate_no = ledger.issue_certificate(
        number, kind="mobile", purpose="外出务工", host_organization_code="XW-C1-B3",
        valid_until=date(2025, 6, 1), on=date(2024, 5, 1)).certificate_no
    assert certificate_no is not None
    ledger.return_certificate(certificate_no, on=date(2024, 6, 1))
    position = ledger.max_position()
    for day in (date(2024, 3, 10), date(2024, 5, 20)):
        with pytest.raises(BeforeLastEvent):
            ledger.move_organization("XW-C1-B3", "XW-C2", on=day)
    assert ledger.max_position() == position
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2024, 6, 1))
    store.engine(ledger).catch_up()
    queries = store.queries()
    hosted = {(code, month): queries.monthly_report(code, month)["hosted"]
              for code in ("XW-C1", "XW-C2") for month in ("2024-04", "2024-05", "2024-06")}
    assert hosted == {("XW-C1", "2024-04"): 0, ("XW-C1", "2024-05"): 1, ("XW-C1", "2024-06"): 0,
                      ("XW-C2", "2024-04"): 0, ("XW-C2", "2024-05"): 0, ("XW-C2", "2024-06"): 0}


def test_a_receipt_back_dated_before_the_receivers_move_is_refused(store: Store) -> None:
    """A receipt counts where the receiver was on its date: returning it back-dated before
    the receiving branch's later move is refused."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "XW-C1-B1")
    transfer_id = ledger.request_transfer(number, "XW-C1-B3", reason="job_change", basis="household",
                                          on=date(2025, 1, 5)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2025, 1, 5))
    ledger.receive_member(transfer_id, "XW-C1-B3", on=date(2025, 1, 10))
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2025, 3, 1))
    position = ledger.max_position()
    with pytest.raises(BeforeLastEvent):
        ledger.return_receipt(transfer_id, on=date(2025, 2, 5))
    assert ledger.max_position() == position
    ledger.return_receipt(transfer_id, on=date(2025, 3, 2))
    store.engine(ledger).catch_up()
    queries = store.queries()
    figures = {code: (queries.monthly_report(code, "2025-03")["receipts_returned"],
                      queries.monthly_report(code, "2025-03")["receipt_days_total"])
               for code in ("XW-C1", "XW-C2")}
    assert figures == {"XW-C1": (0, 0), "XW-C2": (1, 51)}


def test_a_move_carries_the_in_transit_member_from_its_month(store: Store) -> None:
    """The in-transit stock of a moved branch moves in the month of the move."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "XW-C1-B3")
    transfer_id = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                          on=date(2025, 9, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2025, 9, 1))  # valid until 2025-10-01
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2025, 12, 1))
    store.engine(ledger).catch_up()
    queries = store.queries()
    in_transit = {(code, month): queries.monthly_report(code, month)["in_transit"]
                  for code in ("XW-C1", "XW-C2") for month in ("2025-10", "2025-12")}
    assert in_transit == {("XW-C1", "2025-10"): 1, ("XW-C1", "2025-12"): 0,
                          ("XW-C2", "2025-10"): 0, ("XW-C2", "2025-12"): 1}


def test_overdue_letters_are_of_the_in_transit_of_the_same_month(store: Store) -> None:
    """DOMAIN §8: in transit, "of those overdue": counted on the same tree."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "XW-C1-B3")
    transfer_id = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                          on=date(2025, 9, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2025, 9, 1))  # valid until 2025-10-01
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2025, 12, 1))
    store.engine(ledger).catch_up()
    queries = store.queries()
    overdue = {(code, month): queries.monthly_report(code, month)["overdue_letters"]
               for code in ("XW-C1", "XW-C2") for month in ("2025-10", "2025-12")}
    assert overdue == {("XW-C1", "2025-10"): 1, ("XW-C1", "2025-12"): 0,
                       ("XW-C2", "2025-10"): 0, ("XW-C2", "2025-12"): 1}


def test_the_annual_composition_is_of_the_tree_at_year_end(store: Store) -> None:
    """DOMAIN §8: the annual report's composition at year end counts the members the
    subtree held at year end, on the tree as it stood then, as its closing does: a branch
    moved to another committee the next year still counts under its old one."""
    ledger = store.ledger()
    register_tree(ledger)
    for n in (1, 2, 3):
        import_one(ledger, "XW-C1-B3", n)
    ledger.move_organization("XW-C1-B3", "XW-C2", on=date(2025, 3, 10))
    store.engine(ledger).catch_up()
    queries = store.queries()
    for code, held in (("XW-C1", 3), ("XW-C2", 0)):
        annual = queries.annual_report(code, 2024)
        composition = annual["composition"]
        assert annual["closing"] == composition["held"] == held, code
        assert sum(composition["gender"].values()) == sum(composition["category"].values()) == held, code


def test_a_dissolution_leaves_no_certificate_out_at_a_home_that_holds_no_one(store: Store) -> None:
    """The dissolved branch's member moves to the successor and the certificate it issued
    is closed in the same save: in the month of the dissolution neither the old committee
    nor the successor's counts a certificate out or a mobile member, the closing is
    counted, and the overdue list never shows it."""
    ledger = store.ledger()
    register_tree(ledger)
    number = import_one(ledger, "XW-C1-B3")
    ledger.issue_certificate(number, kind="mobile", purpose="外出务工", host_organization_code="SC-C1-B1",
                             valid_until=date(2025, 6, 1), on=date(2024, 2, 1))
    ledger.dissolve_organization("XW-C1-B3", "QH-C1-B1", on=date(2024, 3, 1))
    store.engine(ledger).catch_up()
    queries = store.queries()
    figures = {code: {k: queries.monthly_report(code, "2024-03")[k]
                      for k in ("closing", "certificates_out", "mobile_out", "certificates_closed")}
               for code in ("XW-C1", "QH-C1")}
    assert figures == {"XW-C1": {"closing": 0, "certificates_out": 0, "mobile_out": 0, "certificates_closed": 1},
                       "QH-C1": {"closing": 1, "certificates_out": 0, "mobile_out": 0, "certificates_closed": 0}}
    for code in ("XW", "QH"):
        rows, _ = queries.overdue(code, date(2025, 7, 1))
        assert not [row for row in rows if row["kind"] == "unreturned_certificate"], code
