"""The simulation's acts (`api/simulation/generator.py`'s `Generator` has them): each decides, from
the ledger as it stands, who acts and what happens next, and records it by calling the
Ledger's own command. No rule of the domain is here: the Ledger judges every command, and a
refusal stops the simulation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from api.simulation.trees import DUES, GIVEN, HOSTS, PURPOSES, SURNAMES
from domain.calendar import add_months, month_text
from domain.ledger.steps import note_absent
from domain.vocabulary import HOLDING_KINDS, MAX_VALID_DAYS, TEMPORARY_MAX_MONTHS

if TYPE_CHECKING:
    import random

    from api.simulation.stats import Stats
    from api.simulation.trees import OrgSpec, Scale
    from domain.ledger import Ledger
    from domain.member import Member
    from domain.organization import Organization

PROBATION_PAPERS_DAYS = 7  # a request's papers cover the week until its letter goes out


@dataclass
class Plan:
    """What happens to one transfer, drawn when it is requested."""

    into: str  # the holding organization meant to receive the member
    outcome: str  # received, declined, cancelled, rejected, pocket


class Acts:
    if TYPE_CHECKING:  # the generator's (api/simulation/generator.py)
        ledger: Ledger
        scale: Scale
        rng: random.Random
        ids: random.Random
        specs: dict[str, OrgSpec]
        holding: list[str]
        holding_in: dict[str, list[str]]
        committees_in: dict[str, list[str]]
        committees: list[str]
        committees_of: dict[str, str]
        meeting_day: dict[int, list[str]]
        meeting_phase: dict[str, int]
        inactive: set[str]
        hosted_by: dict[str, tuple[str, date]]
        reasons: tuple[list[str], list[int]]
        outcome_limits: tuple[float, ...]
        plans: dict[str, Plan]

        stats: Stats

        def org(self, code: str) -> Organization: ...
        def member(self, registration_no: str) -> Member: ...
        def committee_of(self, code: str) -> str: ...
        def by(self, code: str) -> dict[str, Any]: ...
        def by_system(self) -> dict[str, Any]: ...
        def receiving(self, code: str) -> str: ...
        def schedule(self, day: date, action: str, argument: Any) -> None: ...
        def pick_member(self, tries: int = 12) -> Member | None: ...

    # --- transfers -----------------------------------------------------------------------

    def pick_target(self, home: str) -> tuple[str, str] | None:
        """A target (holding organization or committee) and the holding organization receiving."""
        rng = self.rng
        if self.specs[home].outside:
            into = rng.choice(self.holding)
            return (into, into) if self.org(into).status == "active" else None
        committee = self.committee_of(home)
        roll = rng.random()
        if roll < 0.40:
            candidates = [c for c in self.holding_in.get(committee, []) if c != home]
        elif roll < 0.70:
            region = self.org(home).region
            others = [c for c in self.committees_in.get(region, []) if c != committee]
            candidates = self.holding_in.get(rng.choice(others), []) if others else []
        elif roll < 0.93:
            candidates = self.holding_in.get(rng.choice(self.committees), [])
        else:
            candidates = ["ZJ-S"]
        candidates = [c for c in candidates if c != home and self.org(c).status == "active"]
        if not candidates:
            return None
        into = rng.choice(candidates)
        if into != "ZJ-S" and rng.random() < 0.3:  # addressed to the committee, placed by it
            return self.committee_of(into), into
        return into, into

    def request(self, day: date) -> None:
        rng = self.rng
        member = self.pick_member()
        if member is None:
            return
        home = member.organization_code
        picked = self.pick_target(home)
        if picked is None:
            return
        target, into = picked
        performance_record = override = None
        if member.status == "probationary":
            assert member.probation_ends_on is not None
            if day >= member.probation_ends_on:
                return  # confirmation comes first
            # The papers the Ledger asks of a probationary member's transfer, for the request
            # and for its letter within the week.
            if (member.probation_ends_on - day).days <= 90 + PROBATION_PAPERS_DAYS:
                override = "工作调动,组织同意在转正前转接"
            if (day - member.joined_on).days > 180 - PROBATION_PAPERS_DAYS:
                performance_record = f"预备期考察记录 {member.registration_no}"
        basis = rng.choices(("workplace", "residence", "household"), (6, 2, 2))[0]
        evidence = None
        if basis == "workplace":
            evidence = {"kind": "labor_contract", "reference": f"LC-{day:%Y%m%d}-{rng.randint(1, 99999):05d}"}
        elif basis == "residence":
            kind = rng.choice(("lease", "property_deed"))
            evidence = {"kind": kind, "reference": f"{kind[:2].upper()}-{rng.randint(1, 999999):06d}"}
        reason = rng.choices(self.reasons[0], cum_weights=self.reasons[1])[0]
        transfer_id = UUID(int=self.ids.getrandbits(128), version=4)
        note_absent(self.ledger, [transfer_id])
        self.ledger.request_transfer(
            member.registration_no, target, reason=reason, basis=basis, evidence=evidence,
            performance_record=performance_record, probation_override_reason=override,
            transfer_id=transfer_id, **self.by(home))
        self.stats.cases[f"reason.{reason}"] += 1
        self.stats.cases[f"route.{self.ledger.transfer(str(transfer_id)).route}"] += 1
        roll = rng.random()
        declined, cancelled, rejected, pocket = self.outcome_limits
        outcome = ("declined" if roll < declined else "cancelled" if roll < cancelled else "rejected"
                   if roll < rejected else "pocket" if roll < pocket else "received")
        self.plans[str(transfer_id)] = Plan(into, outcome)
        if outcome == "declined":
            self.schedule(day + timedelta(days=rng.randint(1, 10)), "decline", str(transfer_id))
        else:
            self.schedule(day + timedelta(days=rng.choice((0, 0, 1, 1, 2, 3, 5, 7))), "issue", str(transfer_id))

    def do_decline(self, day: date, transfer_id: str, reason: str = "材料不全,请补充后重新申请") -> None:
        self.plans.pop(transfer_id)
        sender = self.ledger.transfer(transfer_id).from_organization_code
        self.ledger.decline_transfer(transfer_id, reason, **self.by(sender))
        self.stats.transfers["declined"] += 1

    def do_issue(self, day: date, transfer_id: str) -> None:
        rng = self.rng
        plan = self.plans[transfer_id]
        transfer = self.ledger.transfer(transfer_id)
        member = self.member(transfer.registration_no)
        probation_over = member.status == "probationary" and member.probation_ends_on is not None and (
            day >= member.probation_ends_on)  # to be confirmed first: the sender declines
        if self.org(transfer.to_organization_code).status != "active" or probation_over:
            self.do_decline(day, transfer_id, "预备期已满,先转正" if probation_over else "接收组织已撤销")
            return
        valid_days = rng.choices((30, 60, 90), (88, 8, 4))[0]
        self.ledger.issue_letter(transfer_id, valid_days, **self.by(transfer.from_organization_code))
        valid_until = day + timedelta(days=valid_days)
        if plan.outcome == "cancelled":
            self.schedule(day + timedelta(days=rng.randint(5, 45)), "cancel", transfer_id)
        elif plan.outcome == "rejected":
            self.schedule(day + timedelta(days=rng.randint(2, 20)), "reject", transfer_id)
        elif plan.outcome == "received":
            roll = rng.random()
            if roll < 0.86:
                self.schedule(day + timedelta(days=rng.randint(1, min(valid_days, 25))), "receive", transfer_id)
            elif roll < 0.90 and valid_days < 90:  # extended, then received in time
                self.schedule(valid_until - timedelta(days=rng.randint(0, 5)), "extend", transfer_id)
            else:  # late, with the branch's certificate for the delay
                self.schedule(valid_until + timedelta(days=rng.randint(1, 40)), "receive", transfer_id)

    def do_extend(self, day: date, transfer_id: str) -> None:
        transfer = self.ledger.transfer(transfer_id)
        assert transfer.issued_on is not None
        until = transfer.issued_on + timedelta(days=MAX_VALID_DAYS)  # extended as far as the rule allows
        self.ledger.extend_letter(transfer_id, until, **self.by(transfer.from_organization_code))
        self.stats.cases["letter.extended"] += 1
        self.schedule(day + timedelta(days=self.rng.randint(1, (until - day).days)), "receive", transfer_id)

    def do_cancel(self, day: date, transfer_id: str) -> None:
        self.plans.pop(transfer_id)
        sender = self.ledger.transfer(transfer_id).from_organization_code
        self.ledger.cancel_transfer(transfer_id, "本人工作变动取消", **self.by(sender))
        self.stats.transfers["cancelled"] += 1

    def do_reject(self, day: date, transfer_id: str, reason: str = "不符合接收条件") -> None:
        self.plans.pop(transfer_id)
        receiver = self.receiving(self.ledger.transfer(transfer_id).to_organization_code)
        self.ledger.reject_transfer(transfer_id, reason, **self.by(receiver))
        self.stats.transfers["rejected"] += 1

    def do_receive(self, day: date, transfer_id: str) -> None:
        rng = self.rng
        plan = self.plans[transfer_id]
        transfer = self.ledger.transfer(transfer_id)
        target = transfer.to_organization_code
        into = plan.into
        if self.org(into).status != "active" or not self.ledger.is_within(into, target):
            below = [c for c in self.holding_in.get(self.committee_of(target), [])
                     if self.org(c).status == "active" and c != transfer.from_organization_code
                     and self.ledger.is_within(c, target)]
            if not below:
                self.do_reject(day, transfer_id, "接收组织已撤销")
                return
            into = rng.choice(below)
        assert transfer.valid_until is not None
        late = None if day <= transfer.valid_until else f"超期说明-{transfer.registration_no}"
        self.ledger.receive_member(transfer_id, into, late, **self.by(self.receiving(target)))
        self.hosted_by.pop(transfer.registration_no, None)  # the receipt closed its certificate
        self.stats.transfers["received"] += 1
        self.stats.cases["letter.received_on_time" if late is None else "letter.received_late"] += 1
        roll = rng.random()
        if roll < 0.85:
            self.schedule(day + timedelta(days=rng.randint(1, 25)), "return_receipt", transfer_id)
        elif roll < 0.95:
            self.schedule(day + timedelta(days=rng.randint(31, 75)), "return_receipt", transfer_id)
        else:
            self.plans.pop(transfer_id)  # the receipt never comes back
            self.stats.transfers["receipt_unreturned"] += 1

    def do_return_receipt(self, day: date, transfer_id: str) -> None:
        self.plans.pop(transfer_id)
        receiver = self.receiving(self.ledger.transfer(transfer_id).to_organization_code)
        self.ledger.return_receipt(transfer_id, **self.by(receiver))
        self.stats.transfers["receipt_returned"] += 1

    # --- members -------------------------------------------------------------------------

    def do_confirm(self, day: date, registration_no: str) -> None:
        member = self.member(registration_no)
        if member.is_gone or member.status != "probationary":
            return
        if member.place != "held":
            self.schedule(day + timedelta(days=10), "confirm", registration_no)
            return
        self.ledger.confirm_member(registration_no, **self.by(member.organization_code))

    def gone(self, reason: str | None) -> None:
        member = self.pick_member()
        if member is None:
            return
        number = member.registration_no
        if reason is None:
            self.ledger.record_death(number, **self.by(member.organization_code))
        else:
            self.ledger.record_leaving(number, reason, **self.by(member.organization_code))
        self.hosted_by.pop(number, None)

    def certificate(self, day: date, kind: str) -> None:
        rng = self.rng
        member = self.pick_member()
        if member is None or member.open_certificates:  # one open certificate a member
            return
        home = member.organization_code
        host = description = contact = None
        if rng.random() < 0.6:
            host = rng.choice(self.holding)
            if host == home or self.org(host).status != "active":
                host = None
        if host is None:
            description = rng.choice(HOSTS)
        if kind == "temporary":
            valid_until = add_months(day, rng.randint(1, TEMPORARY_MAX_MONTHS))
            purpose = rng.choice(PURPOSES)
        else:
            valid_until, purpose = add_months(day, 12), "外出务工"
            contact = rng.choice(SURNAMES) + rng.choice(GIVEN)
        recorded = self.ledger.issue_certificate(
            member.registration_no, kind=kind, purpose=purpose, valid_until=valid_until,
            host_organization_code=host, host_description=description, contact_person=contact,
            **self.by(home))
        self.stats.cases[f"certificate.{kind}_issued"] += 1
        if kind == "mobile" and host is not None:
            self.hosted_by[member.registration_no] = (host, valid_until)
        if rng.random() < (0.45 if kind == "temporary" else 0.3):  # seed 001: "有去无回"
            back = valid_until + timedelta(days=rng.randint(-30, 30))
            self.schedule(max(back, day + timedelta(days=1)), "return_certificate", recorded.certificate_no)

    def do_return_certificate(self, day: date, certificate_no: str) -> None:
        certificate = self.ledger.certificate(certificate_no)
        if certificate.status != "issued":  # closed by a receipt elsewhere, a death, a leaving, a dissolution
            return
        self.ledger.return_certificate(certificate_no, **self.by(certificate.home_organization_code))
        self.stats.cases[f"certificate.{certificate.kind}_returned"] += 1
        if certificate.kind == "mobile":
            self.hosted_by.pop(certificate.registration_no, None)

    def activity(self, day: date) -> Iterator[None]:
        """Each branch has its day of the month: org life in its meeting months (at the host
        of a member's mobile certificate while it is valid), and the dues recorded that day."""
        rng, scale = self.rng, self.scale
        month = month_text(day)
        for code in self.meeting_day.get(day.day, ()):
            meets = day.month % scale.org_life_every == self.meeting_phase[code]
            for number in sorted(self.org(code).members):
                member = self.member(number)
                if member.place != "held" or number in self.inactive:
                    continue
                attends, pays = meets and rng.random() < scale.org_life_p, rng.random() < scale.dues_p
                if not (attends or pays):
                    continue
                if attends:
                    host, until = self.hosted_by.get(number, (None, day))
                    where = host if host and day <= until and self.org(host).status == "active" else code
                    self.ledger.record_org_life(number, where, **self.by(code))
                if pays:
                    self.ledger.record_dues(number, month, DUES[member.category], **self.by(code))
                yield

    # --- organizations ------------------------------------------------------------------

    def file_previous_month(self, day: date) -> Iterator[None]:
        month = month_text(day.replace(day=1) - timedelta(days=1))
        for code, spec in self.specs.items():
            if spec.kind == "department" and not spec.outside:
                self.ledger.file_month(code, month, **self.by_system())
                yield

    def dissolve(self) -> None:
        """A branch dissolved into a sibling (e.g. after redistricting); its members move."""
        code = self.rng.choice(self.holding)
        org = self.org(code)
        if org.kind != "branch" or org.status != "active" or org.parent_code is None:
            return
        if any(self.member(n).transfer_id is not None for n in sorted(org.members)):
            return  # the ledger refuses while a member's transfer is open
        siblings = [c for c in self.org(org.parent_code).children
                    if c != code and self.org(c).kind in HOLDING_KINDS and self.org(c).status == "active"]
        if not siblings:
            return
        successor = self.rng.choice(sorted(siblings))
        moved = sorted(org.members)
        self.ledger.dissolve_organization(code, successor, **self.by(code))
        for number in moved:
            self.hosted_by.pop(number, None)  # the dissolution closed its certificate

    def move(self) -> None:
        """Whole-organization transfer: a branch moves under another committee of its county."""
        code = self.rng.choice(self.holding)
        org = self.org(code)
        if org.kind != "branch" or org.status != "active":
            return
        old_committee = self.committee_of(code)
        others = [c for c in self.committees_in.get(org.region, [])
                  if c != old_committee and self.org(c).kind == "committee"]
        if not others:
            return
        new_parent = self.rng.choice(others)
        self.ledger.move_organization(code, new_parent, **self.by_system())
        self.committees_of.pop(code, None)
        self.holding_in[old_committee].remove(code)
        self.holding_in.setdefault(new_parent, []).append(code)

