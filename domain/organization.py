"""Organizations: the tree that holds members.

Invariant: only an active branch or service center holds members, and the members an
organization holds (`members`) are exactly those whose own record says they are held or
in transit from it; a dissolved organization holds no one and can't receive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from domain.base import Context, LedgerAggregate
from domain.errors import (
    CannotHoldMembers,
    InvalidTransition,
    OrganizationDissolved,
    ValidationError,
)
from domain.identifiers import organization_id, validate_code, validate_region
from domain.vocabulary import COMMITTEE_KINDS as COMMITTEE_KINDS  # re-exported: domain/ledger, projections, api
from domain.vocabulary import HOLDING_KINDS, ORGANIZATION_NAME_MAX
from domain.vocabulary import ORGANIZATION_KINDS as KINDS

T = TypeVar("T")


class Organization(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        code: str
        name: str
        kind: str
        parent_code: str | None
        region: str
        status: str
        successor_code: str | None
        registered_on: date
        dissolved_on: date | None
        members: dict[str, str]  # registration_no -> "" (of record here: held or in transit)
        last_member_on: date | None  # latest effective date a member came or went, or a hosting changed
        children: dict[str, str]  # child code -> ""
        counters: dict[str, int]  # numbering series -> last number given
        filed_months: list[str]


    class Registered(LedgerAggregate.Created):
        code: str
        name: str
        kind: str
        parent_code: str | None
        region: str

        def change(self, org: Organization) -> None:
            org.code, org.name, org.kind = self.code, self.name, self.kind
            org.parent_code, org.region = self.parent_code, self.region
            org.status, org.successor_code = "active", None
            org.registered_on, org.dissolved_on = self.on, None
            org.members, org.children, org.counters, org.filed_months = {}, {}, {}, []
            org.last_member_on = None

    class Dissolved(LedgerAggregate.Event):
        successor_code: str

        def change(self, org: Organization) -> None:
            org.status, org.successor_code, org.dissolved_on = "dissolved", self.successor_code, self.on

    class Moved(LedgerAggregate.Event):
        """Whole-organization transfer (整建制转移): the organization and its members move."""

        from_parent_code: str | None
        to_parent_code: str
        cause: str  # "transfer" or "dissolution" (of the old parent)

        def change(self, org: Organization) -> None:
            org.parent_code = self.to_parent_code

    class MonthFiled(LedgerAggregate.Bookkeeping):
        month: str

        def change(self, org: Organization) -> None:
            org.filed_months = sorted({*org.filed_months, self.month})

    class ChildAttached(LedgerAggregate.Bookkeeping):
        child_code: str

        def change(self, org: Organization) -> None:
            org.children[self.child_code] = ""

    class ChildDetached(LedgerAggregate.Bookkeeping):
        child_code: str

        def change(self, org: Organization) -> None:
            org.children.pop(self.child_code, None)

    class MemberAttached(LedgerAggregate.Bookkeeping):
        registration_no: str

        def change(self, org: Organization) -> None:
            org.members[self.registration_no] = ""
            org.last_member_on = max(org.last_member_on or self.on, self.on)

    class MemberDetached(LedgerAggregate.Bookkeeping):
        registration_no: str

        def change(self, org: Organization) -> None:
            org.members.pop(self.registration_no, None)
            org.last_member_on = max(org.last_member_on or self.on, self.on)

    class HostingChanged(LedgerAggregate.Bookkeeping):
        """A certificate naming this organization its host was issued, returned or closed
        (its `hosted` figure changed): a move of it can't be back-dated before that."""

        certificate_no: str

        def change(self, org: Organization) -> None:
            org.last_member_on = max(org.last_member_on or self.on, self.on)

    class NumberTaken(LedgerAggregate.Bookkeeping):
        """A number from this organization's register of letters or certificates (存根)."""

        series: str
        number: int
        reference: str

        def change(self, org: Organization) -> None:
            org.counters[self.series] = self.number

    @classmethod
    def register(
        cls, ctx: Context, code: str, name: str, kind: str, parent: Organization | None, region: str
    ) -> Organization:
        validate_code(code)
        name = (name or "").strip()
        if not name or len(name) > ORGANIZATION_NAME_MAX:
            raise ValidationError(f"name must be 1-{ORGANIZATION_NAME_MAX} characters")
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}")
        validate_region(region)
        if parent is None:
            if kind != "department":
                raise ValidationError("only a department can be a root organization")
        else:
            parent.check_can_parent(kind)
            if ctx.on < parent.registered_on:
                raise ValidationError("an organization can't be registered before its parent")
        org = cls._create(
            cls.Registered,
            id=organization_id(code),
            **ctx.meta(),
            code=code,
            name=name,
            kind=kind,
            parent_code=parent.code if parent else None,
            region=region,
        )
        if parent is not None:
            parent.record(cls.ChildAttached, ctx, child_code=code)
        return org

    # --- rules -------------------------------------------------------------------

    @property
    def holds_members(self) -> bool:
        return self.kind in HOLDING_KINDS

    def check_active(self) -> None:
        """A dissolved organization holds no one, receives no one, and issues nothing."""
        if self.status != "active":
            raise OrganizationDissolved(
                f"organization {self.code} was dissolved on {self.dissolved_on}"
                f" (successor {self.successor_code})"
            )

    def check_can_hold(self) -> None:
        """Only active branches and service centers hold members."""
        self.check_active()
        if not self.holds_members:
            raise CannotHoldMembers(
                f"organization {self.code} is a {self.kind}: only a branch or a service center "
                "holds members"
            )

    def check_can_parent(self, child_kind: str) -> None:
        """Branches are leaves; a department sits only under a department."""
        self.check_active()
        if self.kind == "branch":
            raise ValidationError(f"organization {self.code} is a branch and can't have children")
        if child_kind == "department" and self.kind != "department":
            raise ValidationError("a department sits only under a department")

    def check_can_be_target(self) -> None:
        """A letter is addressed to an organization that holds or assigns members."""
        self.check_active()
        if self.kind == "department":
            raise CannotHoldMembers(
                f"organization {self.code} is a department: it neither holds nor assigns members"
            )

    # --- commands ------------------------------------------------------------------

    def dissolve(self, ctx: Context, successor: Organization) -> None:
        self.check_active()
        if successor.code == self.code:
            raise ValidationError("an organization can't be its own successor")
        successor.check_active()
        self.record(self.Dissolved, ctx, successor_code=successor.code)

    def move(self, ctx: Context, new_parent: Organization, cause: str = "transfer") -> None:
        self.check_active()
        new_parent.check_can_parent(self.kind)
        if self.parent_code is None:
            raise InvalidTransition("a root organization has no parent to move from")
        if new_parent.code == self.parent_code:
            raise InvalidTransition(f"organization {self.code} is already under {new_parent.code}")
        self.record(
            self.Moved, ctx, from_parent_code=self.parent_code, to_parent_code=new_parent.code, cause=cause
        )

    def take_number(self, ctx: Context, series: str, reference: str) -> int:
        number = self.counters.get(series, 0) + 1
        self.record(self.NumberTaken, ctx, series=series, number=number, reference=reference)
        return number

    def file_month(self, ctx: Context, month: str) -> None:
        """A month is filed from the one the organization was entered in (as its monthly
        report exists from then: api.services.check_report_month)."""
        if month < f"{self.registered_on:%Y-%m}":
            raise ValidationError(f"month {month} is before organization {self.code} was entered in the ledger "
                                  f"({self.registered_on}): the ledger has no figures for it")
        if month in self.filed_months:
            raise InvalidTransition(f"{month} is already filed for {self.code}")
        self.record(self.MonthFiled, ctx, month=month)

    def attach_member(self, ctx: Context, registration_no: str) -> None:
        self.record(self.MemberAttached, ctx, registration_no=registration_no)

    def detach_member(self, ctx: Context, registration_no: str) -> None:
        self.record(self.MemberDetached, ctx, registration_no=registration_no)

    def note_hosting(self, ctx: Context, certificate_no: str) -> None:
        self.record(self.HostingChanged, ctx, certificate_no=certificate_no)

    def attach_child(self, ctx: Context, code: str) -> None:
        self.record(self.ChildAttached, ctx, child_code=code)

    def detach_child(self, ctx: Context, code: str) -> None:
        self.record(self.ChildDetached, ctx, child_code=code)

    def summary(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "parent_code": self.parent_code,
            "region": self.region,
            "status": self.status,
            "successor_code": self.successor_code,
        }


def nearest_committee(chain: Sequence[T], kind: Callable[[T], str | None]) -> T:
    """The committee of an organization: the first of its chain (itself, then its ancestors,
    nearest first) whose kind issues and receives letters (COMMITTEE_KINDS); the chain's
    root when none does. `kind` reads a node's kind (the chain may be codes or records)."""
    return next((node for node in chain if kind(node) in COMMITTEE_KINDS), chain[-1])
