"""The ledger's invariants under random sequences of every command (DOMAIN.md §4, §5, §8).

A hypothesis state machine drives admissions, imports, requests, letters, receipts,
rejections, cancellations, extensions, confirmations, deaths, departures, certificates,
org life, dues, new organizations, dissolutions and whole-organization moves, on one
non-decreasing effective date that starts on 2024-01-01 and never passes the ledger's
today. It keeps its own model of the world, written from DOMAIN.md, predicts for each
command whether it must be accepted or refused (and with which codes), and after every
step reads the real state back and checks:

(a) one place only: each living member is held by exactly one active member-holding
    organization, whose `members` names it and no other's does, or is in transit on
    exactly one issued transfer sent from its organization of record; the gone are in
    no organization's `members`;
(b) of record: `len(org.members)` is the members held there plus those in transit sent
    from there, computed from the member aggregates;
(c) a refused command records nothing (`max_position()` unchanged);
(d) at most one open transfer per member, and every received transfer was received
    exactly once (counted from the event stream), the others never;
(e) first-responder cases: each is closed at most once (counted from the event stream),
    with the model's status and outcome; `placed` only when its member was held and had
    attended org life since the case was opened.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from domain.base import Actor
from domain.case import Case
from domain.errors import LedgerError
from domain.ledger import Ledger, Recorded
from domain.member import Member
from domain.transfer import Transfer
from tests.conftest import POSTGRES_URL, TODAY, Store
from tests.factories import SETUP_DAY, TREE, person

START = date(2024, 1, 1)
HOLDING = ("branch", "service_center")
# Organizations that issue and receive letters (the glossary's committees, service
# centers for the members they hold, departments above them).
LETTER_KINDS = ("committee", "work_committee", "service_center", "department")
GONE = ("deceased", "left")
OPEN = ("requested", "issued")
# Who acts: the system, the side's own letter office, its root department, the other
# side's letter office, or the member's branch (see `LedgerMachine.actor`).
WHO = st.sampled_from(["system", "system", "system", "own", "root", "other", "branch"])

Expected = frozenset[str] | None  # None: DOMAIN.md leaves it open; empty: must be accepted


def mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2, written here independently of domain.identifiers."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@dataclass
class OrgM:
    code: str
    kind: str
    parent: str | None
    region: str
    status: str = "active"
    successor: str | None = None


@dataclass
class MemberM:
    registration_no: str
    id_card_no: str
    place: str  # held | in_transit | deceased | left
    org: str  # holding organization, or the sending one while in transit
    status: str  # probationary | full
    joined_on: date
    probation_ends_on: date | None
    transfer: str | None = None


@dataclass
class TransferM:
    transfer_id: str
    registration_no: str
    from_org: str
    to_org: str
    status: str = "requested"
    letter_no: str | None = None
    issued_on: date | None = None
    valid_until: date | None = None
    received_in: str | None = None
    received_on: date | None = None
    receipt_returned_on: date | None = None


@dataclass
class CaseM:
    case_id: str
    org: str
    registration_no: str | None
    opened_on: date
    status: str = "open"
    outcome: str | None = None


class Stores:
    """A fresh, empty ledger for every hypothesis example, on the test's store kind."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store, self.tmp_path = store, tmp_path
        self.schemas: dict[int, str] = {}
        self.files: dict[int, Path] = {}

    def open(self) -> Ledger:
        if self.store.kind == "sqlite":
            path = self.tmp_path / f"example-{uuid.uuid4().hex[:12]}.db"
            ledger = Ledger(self.store.env(SQLITE_DBNAME=str(path)), today=lambda: TODAY)
            self.files[id(ledger)] = path
            return ledger
        schema = f"sm_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        ledger = Ledger(self.store.env(POSTGRES_SCHEMA=schema), today=lambda: TODAY)
        self.schemas[id(ledger)] = schema
        return ledger

    def close(self, ledger: Ledger) -> None:
        ledger.close()
        path = self.files.pop(id(ledger), None)
        if path is not None:
            path.unlink(missing_ok=True)
        schema = self.schemas.pop(id(ledger), None)
        if schema is not None:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def machine_for(stores: Stores) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        orgs = Bundle("orgs")
        members = Bundle("members")
        transfers = Bundle("transfers")
        certificates = Bundle("certificates")
        cases = Bundle("cases")

        def __init__(self) -> None:
            super().__init__()
            self.ledger = stores.open()
            self.on = START
            self.org_m: dict[str, OrgM] = {}
            self.member_m: dict[str, MemberM] = {}
            self.transfer_m: dict[str, TransferM] = {}
            self.certificate_m: dict[str, str] = {}  # certificate_no -> issued | returned | closed
            self.certificate_of: dict[str, str] = {}  # certificate_no -> its member
            self.case_m: dict[str, CaseM] = {}
            self.org_life_on: dict[str, list[date]] = defaultdict(list)  # org life recorded, by member
            self.closings_by_case: Counter[str] = Counter()
            self.letters: set[str] = set()
            self.people = 0
            self.new_orgs = 0
            self.cursor = 0
            self.checks = 0
            self.cache: dict[str, Any] = {}
            self.cache_keys: dict[uuid.UUID, str] = {}
            self.received_by_transfer: Counter[str] = Counter()
            self.arrivals_by_transfer: Counter[str] = Counter()
            for code, (name, kind, parent, region) in TREE.items():
                self.ledger.register_organization(code, name, kind, parent, region, on=SETUP_DAY)
                self.org_m[code] = OrgM(code, kind, parent, region)
            self.initial_members = [
                self._enroll_ok(org, status, joined)
                for org, status, joined in (
                    ("XW-C1-B1", "full", date(2015, 7, 1)),
                    ("XW-C1-B2", "full", date(2010, 7, 1)),
                    ("XW-C2-B1", "probationary", date(2023, 9, 1)),
                    ("QH-C1-B1", "full", date(2001, 7, 1)),
                    ("SC-C1-B1", "probationary", date(2023, 4, 1)),
                )
            ]

            # two transfers under way from the start: one requested, one letter issued
            self.initial_transfers: list[str] = []
            for member, to, issue in ((self.initial_members[0], "QH-C1", False),
                                      (self.initial_members[3], "SC-C1", True)):
                tid = self.ledger.request_transfer(
                    member, to, reason="job_change", basis="household", on=self.on
                ).transfer_id
                assert tid is not None
                self.transfer_m[tid] = TransferM(tid, member, self.member_m[member].org, to)
                self.member_m[member].transfer = tid
                self.initial_transfers.append(tid)
                if issue:
                    letter_no = self.ledger.issue_letter(tid, on=self.on).letter_no
                    assert letter_no is not None
                    self.letters.add(letter_no)
                    t = self.transfer_m[tid]
                    t.status, t.letter_no, t.issued_on = "issued", letter_no, self.on
                    t.valid_until = self.on + timedelta(days=30)  # the default validity (§5)
                    self.member_m[member].place = "in_transit"

        def teardown(self) -> None:
            stores.close(self.ledger)

        # --- the model's view of the tree ---------------------------------------------

        def chain(self, code: str) -> list[str]:
            out = [code]
            while self.org_m[out[-1]].parent is not None:
                out.append(self.org_m[out[-1]].parent)  # type: ignore[arg-type]
            return out

        def within(self, code: str, ancestor: str) -> bool:
            return ancestor in self.chain(code)

        def letter_office(self, code: str) -> str:
            """The organization that issues and receives letters for `code`."""
            for node in self.chain(code):
                if self.org_m[node].kind in LETTER_KINDS:
                    return node
            return self.chain(code)[-1]

        def receiving(self, code: str) -> str:
            """A letter's target, or, if it was dissolved since, its successor (in turn):
            the side that receives, rejects and returns the receipt."""
            while self.org_m[code].status != "active" and self.org_m[code].successor is not None:
                code = self.org_m[code].successor  # type: ignore[assignment]
            return code

        def route(self, from_org: str, to_org: str) -> str:
            a, b = self.org_m[from_org], self.org_m[to_org]
            if self.letter_office(from_org) == self.letter_office(to_org):
                return "within_committee"
            if a.region == b.region:
                return "within_county"
            if a.region[:2] == b.region[:2]:
                return "cross_county"
            return "cross_province"

        def can_hold(self, code: str) -> bool:
            org = self.org_m[code]
            return org.status == "active" and org.kind in HOLDING

        def _pick(self, pick: int, good: Callable[[str], bool], fallback: str) -> str:
            candidates = sorted(c for c in self.org_m if good(c))
            return candidates[pick % len(candidates)] if candidates else fallback

        def of_record(self, code: str) -> list[MemberM]:
            return [m for m in self.member_m.values() if m.place not in GONE and m.org == code]

        def actor(self, choice: str, side_org: str, other_org: str) -> tuple[Actor, bool]:
            """An operator, and whether it may act for `side_org`'s letter office."""
            office = self.letter_office(side_org)
            scope = {
                "system": None,
                "own": office,
                "root": self.chain(side_org)[-1],
                "other": self.letter_office(other_org),
                "branch": side_org,
            }[choice]
            if scope is None:
                return Actor(), True
            return Actor(f"clerk-{choice}", scope), scope in self.chain(office)

        # --- running a command --------------------------------------------------------

        def attempt(self, label: str, expected: Expected, action: Callable[[], Recorded]) -> Recorded | None:
            before = self.ledger.max_position()
            try:
                result = action()
            except LedgerError as error:
                after = self.ledger.max_position()
                assert after == before, (
                    f"{label}: refused ({error.code}) yet the store moved from {before} to {after}"
                )
                if expected is not None:
                    assert expected, (
                        f"{label}: refused with {error.code} ({error.detail}); the rules accept it"
                    )
                    assert error.code in expected, (
                        f"{label}: refused with {error.code} ({error.detail}); "
                        f"expected one of {sorted(expected)}"
                    )
                return None
            after = self.ledger.max_position()
            assert after > before, f"{label}: accepted but recorded nothing"
            assert result.position == after, f"{label}: reported position {result.position}, store at {after}"
            assert not expected, f"{label}: accepted; the rules refuse it with one of {sorted(expected)}"
            return result

        def _enroll_ok(self, org: str, status: str, joined: date) -> str:
            self.people += 1
            fields = person(self.people, joined_on=joined)
            number = self.ledger.import_member(
                org, registration_no=None, status=status, on=self.on, **fields
            ).registration_no
            assert number is not None
            self.member_m[number] = MemberM(
                number, fields["id_card_no"], "held", org, status, joined,
                self._year_after(joined) if status == "probationary" else None,
            )
            return number

        @staticmethod
        def _year_after(day: date) -> date:
            return day.replace(year=day.year + 1)

        def _joined(self, back: int) -> date:
            joined = self.on - timedelta(days=back)
            return joined - timedelta(days=1) if (joined.month, joined.day) == (2, 29) else joined

        # --- set-up bundles -------------------------------------------------------------

        @initialize(target=orgs)
        def the_tree(self) -> Any:
            return multiple(*self.org_m)

        @initialize(target=members)
        def the_first_members(self) -> Any:
            return multiple(*self.initial_members)

        @initialize(target=transfers)
        def the_first_transfers(self) -> Any:
            return multiple(*self.initial_transfers)

        # --- time -----------------------------------------------------------------------

        @rule(days=st.sampled_from([1, 5, 20, 31, 45, 60, 95, 150, 200]))
        def time_passes(self, days: int) -> None:
            self.on = min(self.on + timedelta(days=days), TODAY)

        # --- members ----------------------------------------------------------------------

        @rule(
            target=members, org=orgs, pick=st.integers(0, 50),
            aim=st.sampled_from(["holding", "holding", "holding", "any"]),
            how=st.sampled_from(["admit", "admit", "import", "import", "import_numbered", "import_taken",
                                 "import_bad"]),
            status=st.sampled_from(["probationary", "full"]),
            back=st.sampled_from([0, 30, 120, 170, 185, 200, 260, 280, 300, 364, 365, 400, 3000]),
            reuse_id=st.sampled_from([False, False, False, True]), other=members,
        )
        def enroll(self, org: str, pick: int, aim: str, how: str, status: str, back: int,
                   reuse_id: bool, other: str) -> Any:
            """Admission or import; `reuse_id` gives the person `other`'s resident ID number."""
            if aim == "holding":
                org = self._pick(pick, self.can_hold, org)
            joined = self._joined(back)
            if how == "admit":
                status = "probationary"
            self.people += 1
            fields = person(self.people, joined_on=joined)
            expected: set[str] = set()
            if self.org_m[org].status != "active":
                expected |= {"organization_dissolved", "cannot_hold_members"}
            if self.org_m[org].kind not in HOLDING:
                expected.add("cannot_hold_members")
            if reuse_id:
                fields["id_card_no"] = self.member_m[other].id_card_no
                if self.member_m[other].place not in GONE:
                    expected.add("duplicate_registration")  # unique among living members
            given: str | None = None
            region = self.org_m[org].region
            if how == "import_numbered":
                first17 = f"{region}{joined:%Y%m%d}{500 + self.people % 500:03d}"
                given = first17 + mod11_2(first17)
                if given in self.member_m:
                    expected.add("duplicate_registration")
            elif how == "import_taken":
                given = next(iter(self.member_m))
                expected.add("duplicate_registration")  # never reused, even of the gone
            elif how == "import_bad":
                first17 = f"{region}{joined:%Y%m%d}777"
                wrong = "0" if mod11_2(first17) != "0" else "1"
                given = first17 + wrong
                expected = {"invalid_registration_no"}
            label = f"{how} {status} joined {joined} into {org}"

            def action() -> Recorded:
                if how == "admit":
                    return self.ledger.admit_member(org, on=self.on, **fields)
                return self.ledger.import_member(
                    org, registration_no=given, status=status, on=self.on, **fields
                )

            result = self.attempt(label, frozenset(expected), action)
            if result is None:
                return multiple()
            number = result.registration_no
            assert number is not None and len(number) == 18
            if given is not None:
                assert number == given
            else:
                # region where the member joined, date joined, sequence, check character (§4)
                assert number[:6] == region and number[6:14] == f"{joined:%Y%m%d}", number
                assert number[17] == mod11_2(number[:17]), number
            assert number not in self.member_m, f"registration number {number} given twice"
            self.member_m[number] = MemberM(
                number, fields["id_card_no"], "held", org, status, joined,
                self._year_after(joined) if status == "probationary" else None,
            )
            return number

        @rule(member=members,
              how=st.sampled_from(["confirm", "confirm", "death", "expelled", "withdrew", "self_withdrawal",
                                   "bogus"]))
        def status_changes(self, member: str, how: str) -> None:
            """Confirmation (转正), death, or leaving (expelled, withdrew, self-withdrawal)."""
            m = self.member_m[member]
            expected: set[str] = set()
            if how == "confirm":
                if m.place in GONE:
                    expected |= {"member_not_held", "invalid_transition"}
                elif m.place == "in_transit":
                    expected |= {"member_not_held", "transfer_open", "invalid_transition"}
                if m.status == "full":
                    expected.add("invalid_transition")
                elif m.probation_ends_on is not None and self.on < m.probation_ends_on:
                    expected.add("probation_not_over")
                if self.attempt(f"confirm {member}", frozenset(expected),
                                lambda: self.ledger.confirm_member(member, on=self.on)):
                    m.status, m.probation_ends_on = "full", None
                return
            if m.place in GONE:
                expected |= {"member_not_held", "invalid_transition"}
            elif m.transfer is not None:
                expected |= {"transfer_open", "member_not_held"}
            if how == "bogus":
                expected.add("validation_error")
            if how == "death":
                result = self.attempt(f"death of {member}", frozenset(expected),
                                      lambda: self.ledger.record_death(member, on=self.on))
            else:
                result = self.attempt(f"{member} leaves ({how})", frozenset(expected),
                                      lambda: self.ledger.record_leaving(member, how, on=self.on))
            if result:
                m.place = "deceased" if how == "death" else "left"
                self._close_certificates(member)

        def _open_certificates(self, member: str) -> list[str]:
            return [c for c, status in self.certificate_m.items()
                    if status == "issued" and self.certificate_of[c] == member]

        def _close_certificates(self, member: str) -> None:
            """A receipt, a death or a leaving closes the member's open certificate."""
            for number in self._open_certificates(member):
                self.certificate_m[number] = "closed"

        @rule(member=members, org=orgs, at_home=st.booleans())
        def org_life(self, member: str, org: str, at_home: bool) -> None:
            m = self.member_m[member]
            host = m.org if at_home else org
            expected: Expected = None
            if m.place in GONE:
                expected = frozenset({"member_not_held", "invalid_transition"})
            elif self.org_m[host].status != "active":
                expected = frozenset({"organization_dissolved"})
            elif host == m.org and m.place == "held":
                expected = frozenset()
            if self.attempt(f"org life of {member} at {host}", expected,
                            lambda: self.ledger.record_org_life(member, host, on=self.on)):
                self.org_life_on[member].append(self.on)

        @rule(member=members, amount=st.sampled_from(["12.50", "0.30", 3, 1.5, "-2", "tomorrow"]))
        def dues(self, member: str, amount: Any) -> None:
            m = self.member_m[member]
            expected: Expected = None
            if amount == "tomorrow":  # never in the future (§9)
                tomorrow = TODAY + timedelta(days=1)
                self.attempt(f"dues of {member} dated {tomorrow}", frozenset({"future_date"}),
                             lambda: self.ledger.record_dues(member, f"{TODAY:%Y-%m}", "1.00", on=tomorrow))
                return
            if m.place in GONE:
                expected = frozenset({"member_not_held", "invalid_transition", "validation_error"})
            elif isinstance(amount, float) or amount == "-2":
                expected = frozenset({"validation_error"})  # money is never a float
            elif m.place == "held":
                expected = frozenset()
            self.attempt(f"dues {amount!r} of {member}", expected,
                         lambda: self.ledger.record_dues(member, f"{self.on:%Y-%m}", amount, on=self.on))

        # --- transfers ----------------------------------------------------------------------

        @rule(
            target=transfers, member=members, to=orgs, pick=st.integers(0, 50),
            aim=st.sampled_from(["holding", "holding", "any"]),
            reason=st.sampled_from(["job_change", "graduation", "retirement_relocation", "mobile_work"]),
            basis=st.sampled_from(["workplace", "residence", "household"]),
            papers=st.sampled_from(["proper", "proper", "proper", "none", "wrong_kind", "blank"]),
            performance_record=st.sampled_from([True, True, False]),
            override=st.sampled_from([True, False]),
        )
        def request(self, member: str, to: str, pick: int, aim: str, reason: str, basis: str,
                    papers: str, performance_record: bool, override: bool) -> Any:
            if aim == "holding":
                to = self._pick(pick, lambda c: self.can_hold(c) and c != self.member_m[member].org, to)
            evidence: str | None = {
                "proper": {"workplace": "labor_contract", "residence": ("lease", "property_deed")[pick % 2],
                           "household": None}[basis],
                "none": None,
                "wrong_kind": {"workplace": "lease", "residence": "labor_contract",
                               "household": "lease"}[basis],
                "blank": "lease_blank",
            }[papers]
            m = self.member_m[member]
            expected: set[str] = set()
            if m.place in GONE:
                expected.add("member_not_held")
            elif m.place == "in_transit":
                expected |= {"member_not_held", "transfer_open"}
            elif m.transfer is not None:
                expected.add("transfer_open")  # a second open transfer: one place only
            target = self.org_m[to]
            if to == m.org:
                expected.add("same_organization")
            if target.status != "active":
                expected.add("organization_dissolved")
            if target.kind == "department":
                expected |= {"cannot_hold_members", "validation_error"}
            if m.status == "probationary" and m.probation_ends_on is not None:
                if self.on >= m.probation_ends_on:
                    expected.add("confirmation_due")
                else:
                    if (m.probation_ends_on - self.on).days <= 90 and not override:
                        expected.add("probation_ending")
                    if (self.on - m.joined_on).days > 180 and not performance_record:
                        expected.add("performance_record_required")
            needs = {"workplace": ("labor_contract",), "residence": ("lease", "property_deed")}.get(basis)
            if needs is not None and evidence not in needs:
                expected.add("evidence_required")
            proof = None
            if evidence is not None:
                kind = "lease" if evidence == "lease_blank" else evidence
                reference = "  " if evidence == "lease_blank" else f"{kind}-{self.on}"
                proof = {"kind": kind, "reference": reference}
            label = f"request {member} ({m.place}, {m.status}) from {m.org} to {to} basis {basis}/{evidence}"
            result = self.attempt(label, frozenset(expected), lambda: self.ledger.request_transfer(
                member, to, reason=reason, basis=basis, evidence=proof,
                performance_record="表现材料" if performance_record else None,
                probation_override_reason="特殊情况" if override else None, on=self.on,
            ))
            if result is None:
                return multiple()
            tid = result.transfer_id
            assert tid is not None and tid not in self.transfer_m
            self.transfer_m[tid] = TransferM(tid, member, m.org, to)
            m.transfer = tid
            return tid

        @rule(transfer=transfers, valid_days=st.sampled_from([1, 15, 30, 60, 90, 91, 150]),
              who=WHO)
        def issue(self, transfer: str, valid_days: int, who: str) -> None:
            t = self.transfer_m[transfer]
            actor, allowed = self.actor(who, t.from_org, t.to_org)
            expected: set[str] = set()
            if t.status != "requested":
                expected.add("invalid_transition")
            if self.org_m[t.to_org].status != "active":
                expected.add("organization_dissolved")
            if valid_days > 90:
                expected.add("validity_too_long")
            m = self.member_m[t.registration_no]
            if m.status == "probationary" and m.probation_ends_on and self.on >= m.probation_ends_on:
                expected.add("confirmation_due")  # confirmed (or not) by the old organization first
            if not allowed:
                expected.add("out_of_jurisdiction")
            result = self.attempt(
                f"issue {t.status} transfer of {t.registration_no} {t.from_org}->{t.to_org} by {who}",
                frozenset(expected),
                lambda: self.ledger.issue_letter(transfer, valid_days, actor=actor, on=self.on),
            )
            if result is None:
                return
            real = self.ledger.transfer(transfer)
            assert result.letter_no and real.letter_no == result.letter_no
            assert result.letter_no not in self.letters, f"letter number {result.letter_no} given twice"
            self.letters.add(result.letter_no)
            assert real.issuing_organization_code == self.letter_office(t.from_org)
            assert real.route == self.route(t.from_org, t.to_org), (real.route, t.from_org, t.to_org)
            assert real.valid_until == self.on + timedelta(days=valid_days)
            t.status, t.letter_no, t.issued_on = "issued", result.letter_no, self.on
            t.valid_until = self.on + timedelta(days=valid_days)
            self.member_m[t.registration_no].place = "in_transit"

        @rule(transfer=transfers, extra=st.sampled_from([0, 10, 30, 60, 89]), who=WHO)
        def extend(self, transfer: str, extra: int, who: str) -> None:
            """The sender extends a letter, within 90 days of issue."""
            t = self.transfer_m[transfer]
            actor, allowed = self.actor(who, t.from_org, t.to_org)
            base = t.valid_until or self.on
            until = base + timedelta(days=extra)
            expected: set[str] = set() if allowed else {"out_of_jurisdiction"}
            if t.status != "issued":
                expected |= {"invalid_transition", "validation_error", "validity_too_long"}
            else:
                assert t.issued_on is not None
                if extra == 0 or until < self.on:  # no later, or not even until the extension's own day
                    expected.add("validation_error")
                if until > t.issued_on + timedelta(days=90):
                    expected.add("validity_too_long")  # 90 days from issue, extensions included
            if self.attempt(f"extend {t.status} letter {t.letter_no} to {until} by {who}", frozenset(expected),
                            lambda: self.ledger.extend_letter(transfer, until, actor=actor, on=self.on)):
                t.valid_until = until

        @rule(transfer=transfers, who=WHO)
        def decline(self, transfer: str, who: str) -> None:
            """The sender declines a request before any letter."""
            t = self.transfer_m[transfer]
            actor, allowed = self.actor(who, t.from_org, t.to_org)
            expected: set[str] = set() if allowed else {"out_of_jurisdiction"}
            if t.status != "requested":
                expected.add("invalid_transition")
            if self.attempt(f"decline {t.status} transfer by {who}", frozenset(expected),
                            lambda: self.ledger.decline_transfer(transfer, "不予转出", actor=actor, on=self.on)):
                t.status = "declined"
                self.member_m[t.registration_no].transfer = None

        @rule(transfer=transfers, by_receiver=st.booleans(), who=WHO)
        def void(self, transfer: str, by_receiver: bool, who: str) -> None:
            """Cancel (the sender) or reject (the receiver) an issued letter: back home."""
            t = self.transfer_m[transfer]
            side, other = (self.receiving(t.to_org), t.from_org) if by_receiver else (t.from_org, t.to_org)
            actor, allowed = self.actor(who, side, other)
            expected: set[str] = set() if allowed else {"out_of_jurisdiction"}
            if t.status != "issued":
                expected.add("invalid_transition")
            if by_receiver:
                action = lambda: self.ledger.reject_transfer(  # noqa: E731
                    transfer, "不予接收", actor=actor, on=self.on)
            else:
                action = lambda: self.ledger.cancel_transfer(  # noqa: E731
                    transfer, "党员未报到", actor=actor, on=self.on)
            label = f"{'reject' if by_receiver else 'cancel'} {t.status} transfer by {who}"
            if self.attempt(label, frozenset(expected), action):
                t.status = "rejected" if by_receiver else "cancelled"
                m = self.member_m[t.registration_no]
                m.place, m.transfer = "held", None
                assert m.org == t.from_org

        def _receive_expected(
            self, t: TransferM, into: str, late_certificate: bool, allowed: bool
        ) -> set[str]:
            expected: set[str] = set()
            if t.status != "issued":
                expected.add("invalid_transition")
            if self.org_m[into].status != "active":
                expected.add("organization_dissolved")
            if self.org_m[into].kind not in HOLDING:
                expected.add("cannot_hold_members")
            if not self.within(into, self.receiving(t.to_org)):
                expected.add("not_in_target_subtree")
            if into == t.from_org:
                expected.add("same_organization")
            if t.valid_until is not None and self.on > t.valid_until and not late_certificate:
                expected.add("letter_expired")
            if not allowed:
                expected.add("out_of_jurisdiction")
            return expected

        def _pick_into(self, t: TransferM, where: str, pick: int, other: str) -> str:
            target = self.receiving(t.to_org)
            if where == "subtree":
                candidates = sorted(c for c in self.org_m if self.can_hold(c) and self.within(c, target))
                return candidates[pick % len(candidates)] if candidates else target
            return {"home": t.from_org, "office": self.letter_office(target), "any": other}[where]

        @rule(
            transfer=transfers, other=orgs, pick=st.integers(0, 50),
            where=st.sampled_from(["subtree", "subtree", "subtree", "home", "office", "any"]),
            late_certificate=st.booleans(),
            who=WHO,
        )
        def receive(self, transfer: str, other: str, pick: int, where: str, late_certificate: bool,
                    who: str) -> None:
            t = self.transfer_m[transfer]
            into = self._pick_into(t, where, pick, other)
            actor, allowed = self.actor(who, self.receiving(t.to_org), t.from_org)
            expected = self._receive_expected(t, into, late_certificate, allowed)
            result = self.attempt(
                f"receive {t.status} letter {t.letter_no} (valid until {t.valid_until}) of "
                f"{t.registration_no} into {into} (target {t.to_org}) by {who}",
                frozenset(expected),
                lambda: self.ledger.receive_member(
                    transfer, into, "特殊情况超期证明" if late_certificate else None,
                    actor=actor, on=self.on),
            )
            if result is None:
                return
            assert t.valid_until is not None
            real = self.ledger.transfer(transfer)
            assert real.on_time is (self.on <= t.valid_until)
            assert (real.late_certificate is not None) is (self.on > t.valid_until)
            t.status, t.received_in, t.received_on = "received", into, self.on
            m = self.member_m[t.registration_no]
            m.place, m.org, m.transfer = "held", into, None
            self._close_certificates(t.registration_no)

        @rule(target=transfers, transfer=transfers, pick=st.integers(0, 50), late=st.booleans(),
              to=orgs, basis=st.sampled_from(["workplace", "residence", "household"]))
        def progress(self, transfer: str, pick: int, late: bool, to: str, basis: str) -> Any:
            """The transfer's natural next step, by the system operator: issue a requested
            letter, receive an issued one in the target's subtree (a late one with a late
            certificate or without), return the receipt of a received one; once it is closed,
            its member asks for a new transfer with proper papers."""
            t = self.transfer_m[transfer]
            if t.status == "requested":
                self.issue(transfer, 30, "system")
            elif t.status == "issued":
                self.receive(transfer, t.to_org, pick, "subtree", late, "system")
            elif t.status == "received":
                self.return_receipt(transfer, "system")
            else:
                return self.request(t.registration_no, to, pick, "holding", "job_change", basis,
                                    "proper", True, True)
            return multiple()

        @rule(transfer=transfers, back=st.sampled_from([1, 7, 40]))
        def receive_backdated(self, transfer: str, back: int) -> None:
            """Received on or after issued_on only (§5)."""
            t = self.transfer_m[transfer]
            if t.status != "issued" or t.issued_on is None:
                return
            day = t.issued_on - timedelta(days=back)
            into = self._pick_into(t, "subtree", back, t.to_org)
            self.attempt(
                f"receive letter {t.letter_no} issued {t.issued_on} dated {day}",
                frozenset({"before_last_event", "validation_error"}
                          | self._receive_expected(t, into, True, True)),
                lambda: self.ledger.receive_member(transfer, into, "迟到证明", on=day),
            )

        @rule(transfer=transfers, who=WHO)
        def return_receipt(self, transfer: str, who: str) -> None:
            t = self.transfer_m[transfer]
            actor, allowed = self.actor(who, self.receiving(t.to_org), t.from_org)
            expected: set[str] = set()
            if t.status != "received":
                expected.add("invalid_transition")
            if not allowed:
                expected.add("out_of_jurisdiction")
            if self.attempt(f"return receipt of {t.status} transfer by {who}", frozenset(expected),
                            lambda: self.ledger.return_receipt(transfer, actor=actor, on=self.on)):
                assert t.received_on is not None
                real = self.ledger.transfer(transfer)
                assert real.receipt_returned_on == self.on
                last = self.ledger.aggregate_events(real.id)[-1]
                assert isinstance(last, Transfer.ReceiptReturned)
                assert last.days == (self.on - t.received_on).days
                t.status, t.receipt_returned_on = "receipt_returned", self.on

        # --- certificates ---------------------------------------------------------------------

        @rule(
            target=certificates, member=members, host=orgs,
            kind=st.sampled_from(["temporary", "temporary", "mobile"]),
            host_is=st.sampled_from(["org", "org", "home", "text"]),
            days=st.sampled_from([30, 90, 180, 181, 185, 200, 365]),
        )
        def issue_certificate(self, member: str, host: str, kind: str, host_is: str, days: int) -> Any:
            m = self.member_m[member]
            host_code = {"org": host, "home": m.org, "text": None}[host_is]
            until = self.on + timedelta(days=days)
            expected: set[str] = set()
            if m.place != "held":
                expected.add("member_not_held")
            if host_code is not None and host_code == m.org:
                expected.add("same_organization")
            if host_code is not None and self.org_m[host_code].status != "active":
                expected.add("organization_dissolved")
            if kind == "temporary" and until > add_months(self.on, 6):
                expected.add("use_formal_transfer")
            if kind == "mobile" and until <= add_months(self.on, 6):
                expected.add("validation_error")
            if self._open_certificates(member):
                expected.add("certificate_open")
            result = self.attempt(
                f"{kind} certificate for {member} ({m.place}) at {host_code} until {until}",
                frozenset(expected),
                lambda: self.ledger.issue_certificate(
                    member, kind=kind, purpose="培训学习", valid_until=until,
                    host_organization_code=host_code,
                    host_description="北京某培训中心" if host_code is None else None, on=self.on),
            )
            if result is None:
                return multiple()
            number = result.certificate_no
            assert number and number not in self.certificate_m, f"certificate number {number} given twice"
            self.certificate_m[number], self.certificate_of[number] = "issued", member
            return number

        @rule(certificate=certificates)
        def return_certificate(self, certificate: str) -> None:
            status = self.certificate_m[certificate]
            expected = frozenset() if status == "issued" else frozenset({"invalid_transition"})
            if self.attempt(f"return {status} certificate", expected,
                            lambda: self.ledger.return_certificate(certificate, on=self.on)):
                self.certificate_m[certificate] = "returned"

        # --- first-responder cases (首问责任制) ------------------------------------------------

        @rule(target=cases, org=orgs, member=members, named=st.booleans(),
              who=st.sampled_from(["system", "own", "other"]), then=st.sampled_from(["wait", "place"]))
        def open_case(self, org: str, member: str, named: bool, who: str, then: str) -> Any:
            scope = {"system": None, "own": org, "other": "SC-C1"}[who]
            expected: set[str] = set()
            if scope is not None and not self.within(org, scope):
                expected.add("out_of_jurisdiction")
            if self.org_m[org].status != "active":
                expected.add("organization_dissolved")
            number = member if named else None
            result = self.attempt(
                f"case opened at {org} by {who} for {number}", frozenset(expected),
                lambda: self.ledger.open_case(org, name="求助者", request="落实组织关系", registration_no=number,
                                              actor=Actor("clerk", scope) if scope else Actor(), on=self.on))
            if result is None:
                return multiple()
            assert result.code is not None and result.code not in self.case_m
            self.case_m[result.code] = CaseM(result.code, org, number, self.on)
            if then == "place":  # the accepting path of `close_case`, which chance seldom reaches
                m = self.member_m[member]
                if m.place == "held" and self.org_m[m.org].status == "active":
                    self.org_life(member, m.org, at_home=True)
                self.close_case(result.code, "placed")
            return result.code

        @rule(case=cases, outcome=st.sampled_from(["placed", "placed", "not_a_member", "withdrawn"]))
        def close_case(self, case: str, outcome: str) -> None:
            c = self.case_m[case]
            expected: set[str] = set()
            if c.status != "open":
                expected.add("invalid_transition")
            if outcome == "placed":
                m = self.member_m.get(c.registration_no or "")
                attended = self.org_life_on[c.registration_no or ""]
                active = any(c.opened_on <= day <= self.on for day in attended)
                if m is None or m.place != "held" or not active:
                    expected.add("invalid_transition")
            if self.attempt(f"close {c.status} case of {c.registration_no} as {outcome}", frozenset(expected),
                            lambda: self.ledger.close_case(case, outcome, on=self.on)):
                c.status, c.outcome = "closed", outcome

        # --- the tree ----------------------------------------------------------------------------

        @rule(target=orgs, parent=orgs,
              kind=st.sampled_from(["branch", "branch", "service_center", "committee", "general_branch"]))
        def register_organization(self, parent: str, kind: str) -> Any:
            self.new_orgs += 1
            code = f"N{self.new_orgs}"
            p = self.org_m[parent]
            expected: set[str] = set()
            if p.status != "active":
                expected |= {"organization_dissolved", "validation_error"}
            if p.kind == "branch":
                expected.add("validation_error")  # branches are leaves
            name = f"新建{kind}{self.new_orgs}号"
            if self.attempt(f"register {kind} {code} under {parent}", frozenset(expected),
                            lambda: self.ledger.register_organization(
                                code, name, kind, parent, p.region, on=self.on)) is None:
                return multiple()
            self.org_m[code] = OrgM(code, kind, parent, p.region)
            assert self.ledger.organization(code).name == name
            return code

        @rule(org=orgs, successor=orgs)
        def dissolve(self, org: str, successor: str) -> None:
            o, s = self.org_m[org], self.org_m[successor]
            children = [c for c in self.org_m.values() if c.parent == org and c.status == "active"]
            moving = self.of_record(org)
            expected: set[str] = set()
            if o.status != "active":
                expected |= {"organization_dissolved", "invalid_transition"}
            if s.status != "active":
                expected |= {"organization_dissolved", "invalid_transition"}
            if successor == org or self.within(successor, org):
                expected.add("validation_error")
            if any(m.transfer is not None for m in moving):
                expected.add("transfer_open")
            if moving and s.kind not in HOLDING:
                expected.add("cannot_hold_members")
            if children and s.kind == "branch":
                expected.add("validation_error")
            if any(c.kind == "department" for c in children) and s.kind != "department":
                expected.add("validation_error")
            before = self.ledger.max_position()
            label = f"dissolve {o.kind} {org} ({len(moving)} members, {len(children)} children), {successor}"
            if self.attempt(label, frozenset(expected),
                            lambda: self.ledger.dissolve_organization(org, successor, on=self.on)) is None:
                return
            # one atomic save: the dissolution and every move it causes share one request
            requests = {e.request_id for _, e in self.ledger.read_events(after=before)}  # type: ignore[attr-defined]
            assert len(requests) == 1, requests
            o.status, o.successor = "dissolved", successor
            for m in moving:
                m.org = successor
            for child in children:
                child.parent = successor

        @rule(org=orgs, parent=orgs, pick=st.integers(0, 50), aim=st.sampled_from(["fit", "any"]))
        def move_organization(self, org: str, parent: str, pick: int, aim: str) -> None:
            o = self.org_m[org]
            if aim == "fit":
                parent = self._pick(pick, lambda c: (
                    self.org_m[c].status == "active" and self.org_m[c].kind != "branch"
                    and not self.within(c, org) and c != o.parent
                    and (o.kind != "department" or self.org_m[c].kind == "department")
                ), parent)
            p = self.org_m[parent]
            expected: set[str] = set()
            if o.status != "active" or p.status != "active":
                expected |= {"organization_dissolved", "invalid_transition"}
            if o.parent is None:
                expected |= {"invalid_transition", "validation_error"}
            if parent == org or self.within(parent, org):
                expected.add("validation_error")
            if parent == o.parent:
                expected |= {"invalid_transition", "validation_error"}
            if p.kind == "branch" or (o.kind == "department" and p.kind != "department"):
                expected.add("validation_error")
            if self.attempt(f"move {o.kind} {org} from {o.parent} to {p.kind} {parent}", frozenset(expected),
                            lambda: self.ledger.move_organization(org, parent, on=self.on)):
                o.parent = parent

        # --- invariants ----------------------------------------------------------------------------

        def read(self, key: str, load: Callable[[str], Any]) -> Any:
            """The aggregate as the ledger has it; reloaded when the event stream shows a new
            event for it (and every tenth check, everything is reloaded from the store)."""
            if key not in self.cache:
                aggregate = load(key)
                self.cache[key] = aggregate
                self.cache_keys[aggregate.id] = key
            return self.cache[key]

        @invariant()
        def certificates_counted_once(self) -> None:
            """At most one open certificate per member, named by the member's own record,
            and each certificate returned or closed as the model says (closed by the receipt,
            the death or the leaving that ended its member's place)."""
            holders: dict[str, list[str]] = defaultdict(list)
            for number, status in self.certificate_m.items():
                certificate = self.ledger.certificate(number)
                assert certificate.status == status, (number, certificate.status, status)
                if status == "issued":
                    holders[certificate.registration_no].append(number)
            for member, numbers in holders.items():
                assert len(numbers) == 1, f"{member} holds open certificates {numbers}"
            for member in self.member_m:
                assert list(self.ledger.member(member).open_certificates) == holders.get(member, []), member

        @invariant()
        def one_place_of_record_and_one_open_transfer(self) -> None:
            self.checks += 1
            if self.checks % 10 == 0:
                self.cache.clear()
            for position, event in self.ledger.read_events(after=self.cursor):
                self.cursor = position
                self.cache.pop(self.cache_keys.get(event.originator_id, ""), None)
                if isinstance(event, Transfer.MemberReceived):
                    self.received_by_transfer[str(event.originator_id)] += 1
                elif isinstance(event, Member.Received):
                    self.arrivals_by_transfer[event.transfer_id] += 1  # type: ignore[attr-defined]
                elif isinstance(event, Transfer.Requested):
                    assert str(event.originator_id) in self.transfer_m, "a transfer the model never made"
                elif isinstance(event, Case.Closed):
                    self.closings_by_case[str(event.originator_id)] += 1
                elif isinstance(event, Member.Enrolled):
                    number = event.registration_no  # type: ignore[attr-defined]
                    assert number in self.member_m, "a member the model never enrolled"

            # (d) every received transfer was received exactly once; the others never
            for tid, t in self.transfer_m.items():
                times = 1 if t.status in ("received", "receipt_returned") else 0
                assert self.received_by_transfer[tid] == times, (tid, t.status, self.received_by_transfer)
                assert self.arrivals_by_transfer[tid] == times, (tid, t.status, self.arrivals_by_transfer)

            # (e) a case is closed at most once, as the model says
            for case_id, c in self.case_m.items():
                assert self.closings_by_case[case_id] == (c.status == "closed"), (case_id, c.status)
                real_case = self.read(case_id, self.ledger.case)
                assert (real_case.status, real_case.outcome, real_case.organization_code) == (
                    c.status, c.outcome, c.org), case_id

            orgs = {code: self.read(code, self.ledger.organization) for code in self.org_m}
            members = {no: self.read(no, self.ledger.member) for no in self.member_m}
            transfers = {tid: self.read(tid, self.ledger.transfer) for tid in self.transfer_m}

            for code, org in orgs.items():
                model = self.org_m[code]
                assert (org.status, org.parent_code, org.successor_code) == (
                    model.status, model.parent, model.successor), code
            for tid, t in transfers.items():
                model_t = self.transfer_m[tid]
                assert (t.registration_no, t.from_organization_code, t.to_organization_code) == (
                    model_t.registration_no, model_t.from_org, model_t.to_org)
                assert t.status == model_t.status, (tid, t.status, model_t.status)
                assert (t.letter_no, t.issued_on, t.valid_until) == (
                    model_t.letter_no, model_t.issued_on, model_t.valid_until), tid
                assert (t.received_in_code, t.received_on) == (model_t.received_in, model_t.received_on)

            holders: dict[str, list[str]] = defaultdict(list)
            for code, org in orgs.items():
                for number in org.members:
                    holders[number].append(code)
            strangers = set(holders) - set(members)
            assert not strangers, f"organizations list unknown members {strangers}"

            open_of: dict[str, list[str]] = defaultdict(list)
            for tid, t in transfers.items():
                if t.status in OPEN:
                    open_of[t.registration_no].append(tid)

            for number, member in members.items():
                model_m = self.member_m[number]
                assert member.place == model_m.place, (number, member.place, model_m.place)
                assert member.status == model_m.status, number
                # (d) at most one open transfer, and the member's own record names it
                assert len(open_of[number]) <= 1, f"{number} has open transfers {open_of[number]}"
                assert member.transfer_id == (open_of[number][0] if open_of[number] else None), number
                assert member.transfer_id == model_m.transfer, number
                if member.place == "held":
                    org = orgs[member.organization_code]
                    assert org.status == "active" and org.kind in HOLDING, (number, org.code, org.status)
                    assert holders[number] == [member.organization_code], (number, holders[number])
                    if member.transfer_id is not None:
                        assert transfers[member.transfer_id].status == "requested"
                elif member.place == "in_transit":
                    assert member.transfer_id is not None
                    t = transfers[member.transfer_id]
                    assert t.status == "issued" and t.registration_no == number
                    assert t.from_organization_code == member.organization_code
                    assert holders[number] == [member.organization_code], (number, holders[number])
                else:
                    assert member.place in GONE, member.place
                    assert holders[number] == [], f"gone member {number} still of record at {holders[number]}"
                if member.place not in GONE:
                    assert member.organization_code == model_m.org, (number, member.organization_code)

            # (b) of record = held there + in transit sent from there, from the member aggregates
            for code, org in orgs.items():
                held = sum(1 for m in members.values() if m.place == "held" and m.organization_code == code)
                away = sum(
                    1 for m in members.values()
                    if m.place == "in_transit" and transfers[m.transfer_id].from_organization_code == code
                )
                assert len(org.members) == held + away, (code, len(org.members), held, away)
            living = sum(1 for m in members.values() if m.place not in GONE)
            assert sum(len(org.members) for org in orgs.values()) == living

    return LedgerMachine


def run_machine(store: Store, tmp_path: Path, examples: dict[str, int], steps: int) -> None:
    machine = machine_for(Stores(store, tmp_path))
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples[store.kind], stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.filter_too_much],
    ))


def test_random_command_sequences_keep_every_member_in_one_place(store: Store, tmp_path: Path) -> None:
    run_machine(store, tmp_path, {"sqlite": 40, "postgres": 15}, steps=30)
