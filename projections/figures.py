"""Read model of the report figures: additive counters per organization and month.

Every change is counted, when it is applied, at the organization it happens in and at
each of its ancestors (the tree at that moment, which by the ledger's rules is the tree
on the event's effective date). Each change to the number of members of record (`net`)
is counted together with exactly one flow (admitted, imported, transferred in or out,
deceased, left), so for every organization and month
    closing = opening + admitted + imported + transferred_in - transferred_out - deceased - left
holds by construction; `closing = held + in_transit` because in-transit members stay of
record at the sending organization.

Tables: proj_counts (organization, month, figure, value: deltas of the month),
proj_own_counts (current stock figures of each organization's own members, for moving a
whole organization's members with it) and proj_figures_members (each member's organization
of record, status and category as the figures count them). The view keeps what it needs
of the members itself, so it counts the same whether the members' view has applied an
event before it or not; it reads rows of the transfers' and certificates' views that
earlier events wrote, which the same event never changes.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.calendar import month_text
from domain.certificate import Certificate
from domain.identifiers import member_id
from domain.member import Member
from domain.organization import Organization
from domain.transfer import Transfer
from projections.certificates import CertificatesView
from projections.db import ViewDatabase
from projections.organizations import Tree
from projections.tables import Counters, Row, Table, originator_key
from projections.transfers import TransfersView

# Stock figures: their deltas add up to the state at a month's end.
STOCKS = ("net", "in_transit", "probationary", "full", "certificates_out", "mobile_out", "hosted")

COUNTS = Counters(
    "proj_counts",
    ["CREATE TABLE IF NOT EXISTS proj_counts (organization_code TEXT NOT NULL, month TEXT NOT NULL, "
     # In the order the reports read: a figure's months up to one (stocks), or every figure
     # of one month among an organization's few hundred rows (flows). No other index: a
     # rebuild builds none for it at its end.
     "figure TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (organization_code, figure, month)) WITHOUT ROWID"],
)
OWN = Table(
    "proj_own_counts",
    ["organization_code", "figure", "value"],
    ["organization_code", "figure"],
    ["CREATE TABLE IF NOT EXISTS proj_own_counts (organization_code TEXT NOT NULL, "
     "figure TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (organization_code, figure)) WITHOUT ROWID"],
)
MEMBERS = Table(
    "proj_figures_members",
    ["member_id", "organization_code", "status", "category"],
    ["member_id"],
    ["CREATE TABLE IF NOT EXISTS proj_figures_members (member_id TEXT PRIMARY KEY, "
     "organization_code TEXT NOT NULL, status TEXT NOT NULL, category TEXT NOT NULL) WITHOUT ROWID"],
)


def month_of(event: Any) -> str:
    return month_text(event.on)


class FiguresView:
    def __init__(self, tree: Tree, transfers: TransfersView, certificates: CertificatesView) -> None:
        self.tree, self.transfers, self.certificates = tree, transfers, certificates
        self.counts, self.own, self.members = COUNTS.fresh(tree.ancestors), OWN.fresh(), MEMBERS.fresh()
        self.tables = (self.own, self.members)
        self.counters = (self.counts,)

    # --- counting helpers ------------------------------------------------------------

    def flow(self, db: ViewDatabase, org: str, month: str, figure: str, delta: int = 1) -> None:
        self.counts.add_up(org, month, figure, delta)

    def stock(self, db: ViewDatabase, org: str, month: str, figure: str, delta: int) -> None:
        self.counts.add_up(org, month, figure, delta)
        row = self.own.get(db, (org, figure)) or self.own.put(
            {"organization_code": org, "figure": figure, "value": 0}
        )
        row["value"] += delta
        self.own.touch(row)

    def move_member(self, db: ViewDatabase, source: str, target: str, month: str,
                    status: str, kind: str) -> None:
        """One member's organization of record changes: counted out where only the source
        is below, in where only the target is, and both ways (internal) where both are."""
        before, after = self.tree.ancestors(source), self.tree.ancestors(target)
        both = set(before) & set(after)
        for org in before:
            if org in both:
                if kind != "whole_org":  # a whole organization moving inside is no transfer here
                    self.counts.add([org], month, "transferred_in_internal")
                    self.counts.add([org], month, "transferred_out_internal")
            else:
                self.counts.add([org], month, f"transferred_out_{kind}")
                self.counts.add([org], month, "net", -1)
                self.counts.add([org], month, status, -1)
        for org in after:
            if org not in both:
                self.counts.add([org], month, f"transferred_in_{kind}")
                self.counts.add([org], month, "net", 1)
                self.counts.add([org], month, status, 1)
        for org, delta in ((source, -1), (target, 1)):
            for figure in ("net", status):
                row = self.own.get(db, (org, figure)) or self.own.put(
                    {"organization_code": org, "figure": figure, "value": 0}
                )
                row["value"] += delta
                self.own.touch(row)

    def member_row(self, db: ViewDatabase, event: Any) -> Row:
        """The member's organization of record and status before the event."""
        row = self.members.originator_row(db, event)
        assert row is not None, f"no member row for {event.originator_id}"
        return row

    # --- handlers ------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change no figure."""

    @apply.register
    def _(self, event: Member.Enrolled, position: int, db: ViewDatabase) -> None:
        month, org = month_of(event), event.organization_code
        self.members.put({"member_id": originator_key(event), "organization_code": org, "status": event.status,
                          "category": event.category}, new=True)  # a member's first event: its row is new
        self.flow(db, org, month, "imported" if isinstance(event, Member.Imported) else "admitted")
        self.stock(db, org, month, "net", 1)
        self.stock(db, org, month, event.status, 1)

    @apply.register
    def _(self, event: Member.Confirmed, position: int, db: ViewDatabase) -> None:
        row, month = self.member_row(db, event), month_of(event)
        self.stock(db, row["organization_code"], month, "probationary", -1)
        self.stock(db, row["organization_code"], month, "full", 1)
        row["status"] = "full"
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.WentInTransit, position: int, db: ViewDatabase) -> None:
        row = self.member_row(db, event)
        self.stock(db, row["organization_code"], month_of(event), "in_transit", 1)

    @apply.register
    def _(self, event: Member.ReturnedHome, position: int, db: ViewDatabase) -> None:
        row = self.member_row(db, event)
        self.stock(db, row["organization_code"], month_of(event), "in_transit", -1)

    @apply.register
    def _(self, event: Member.Received, position: int, db: ViewDatabase) -> None:
        row, month = self.member_row(db, event), month_of(event)
        self.stock(db, row["organization_code"], month, "in_transit", -1)
        self.move_member(db, row["organization_code"], event.organization_code, month,
                         row["status"], "external")
        row["organization_code"] = event.organization_code
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.MovedOnDissolution, position: int, db: ViewDatabase) -> None:
        row = self.member_row(db, event)
        self.move_member(db, row["organization_code"], event.organization_code, month_of(event),
                         row["status"], "whole_org")
        row["organization_code"] = event.organization_code
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.Died, position: int, db: ViewDatabase) -> None:
        self._gone(db, event, ["deceased"])

    @apply.register
    def _(self, event: Member.Left, position: int, db: ViewDatabase) -> None:
        self._gone(db, event, ["left", f"left_{event.reason}"])

    def _gone(self, db: ViewDatabase, event: Any, figures: list[str]) -> None:
        row, month = self.member_row(db, event), month_of(event)
        for figure in figures:
            self.flow(db, row["organization_code"], month, figure)
        self.stock(db, row["organization_code"], month, "net", -1)
        self.stock(db, row["organization_code"], month, row["status"], -1)

    @apply.register
    def _(self, event: Transfer.LetterIssued, position: int, db: ViewDatabase) -> None:
        row, month = self.transfers.transfer(db, event), month_of(event)
        for figure in ("letters_issued", f"reason_{row['reason']}", f"route_{event.route}"):
            self.flow(db, row["from_organization_code"], month, figure)

    @apply.register
    def _(self, event: Transfer.MemberReceived, position: int, db: ViewDatabase) -> None:
        month = month_of(event)
        self.flow(db, event.organization_code, month, "letters_received")
        self.flow(db, event.organization_code, month, "received_on_time" if event.on_time else "received_late")
        self.timely_breakdowns(db, event, month)

    def timely_breakdowns(self, db: ViewDatabase, event: Any, month: str) -> None:
        """Letters received (and of those on time) by the member's category, by route, and,
        at each organization above the receiving one, from inside its subtree or outside it
        (seed 001: "内部及时率98%", "军转干部100%")."""
        row = self.transfers.transfer(db, event)
        member = self.members.get(db, (str(member_id(row["registration_no"])),))
        category = member["category"] if member else "other"
        suffixes = ("received", "received_on_time") if event.on_time else ("received",)
        for suffix in suffixes:
            self.flow(db, event.organization_code, month, f"{suffix}_category_{category}")
            self.flow(db, event.organization_code, month, f"{suffix}_route_{row['route']}")
        sender = set(self.tree.ancestors(row["from_organization_code"]))
        for org in self.tree.ancestors(event.organization_code):
            side = "internal" if org in sender else "external"
            for suffix in suffixes:
                self.counts.add([org], month, f"{suffix}_side_{side}")

    @apply.register
    def _(self, event: Transfer.ReceiptReturned, position: int, db: ViewDatabase) -> None:
        row, month = self.transfers.transfer(db, event), month_of(event)
        self.flow(db, row["received_in_code"], month, "receipts_returned")
        self.flow(db, row["received_in_code"], month, "receipt_days", event.days)

    @apply.register
    def _(self, event: Transfer.Cancelled, position: int, db: ViewDatabase) -> None:
        row = self.transfers.transfer(db, event)
        self.flow(db, row["from_organization_code"], month_of(event), "letters_cancelled")

    @apply.register
    def _(self, event: Transfer.Rejected, position: int, db: ViewDatabase) -> None:
        row = self.transfers.transfer(db, event)
        self.flow(db, row["from_organization_code"], month_of(event), "letters_rejected")

    @apply.register
    def _(self, event: Certificate.Issued, position: int, db: ViewDatabase) -> None:
        month, home = month_of(event), event.home_organization_code
        self.flow(db, home, month, "certificates_issued")
        self.stock(db, home, month, "certificates_out", 1)
        if event.kind == "mobile":
            self.stock(db, home, month, "mobile_out", 1)
            if event.host_organization_code:
                self.stock(db, event.host_organization_code, month, "hosted", 1)

    @apply.register
    def _(self, event: Certificate.Returned | Certificate.Closed, position: int, db: ViewDatabase) -> None:
        """A certificate ends once: returned, or closed (by a receipt elsewhere, a death or a
        leaving); either way it is out no longer, where it was counted out."""
        row = self.certificates.certificates.get(db, (originator_key(event),))
        assert row is not None
        month, home = month_of(event), row["home_organization_code"]
        ended = "certificates_returned" if isinstance(event, Certificate.Returned) else "certificates_closed"
        self.flow(db, home, month, ended)
        self.stock(db, home, month, "certificates_out", -1)
        if row["kind"] == "mobile":
            self.stock(db, home, month, "mobile_out", -1)
            if row["host_organization_code"]:
                self.stock(db, row["host_organization_code"], month, "hosted", -1)

    @apply.register
    def _(self, event: Organization.Moved, position: int, db: ViewDatabase) -> None:
        """A whole organization moves: its subtree's stock leaves the old ancestors and
        joins the new ones, counted as whole-organization transfers."""
        self.counts.spread()  # what was counted before the move, up the tree as it was
        code = self.tree.code_by_id[originator_key(event)]
        month = month_of(event)
        before = self.tree.ancestors(event.from_parent_code) if event.from_parent_code else ()
        after = self.tree.ancestors(event.to_parent_code)
        totals = dict.fromkeys(STOCKS, 0)
        for org in self.tree.subtree(code):
            for figure in STOCKS:
                row = self.own.get(db, (org, figure))
                totals[figure] += row["value"] if row else 0
        for orgs, sign, flow in ((set(before) - set(after), -1, "transferred_out_whole_org"),
                                 (set(after) - set(before), 1, "transferred_in_whole_org")):
            ordered = sorted(orgs)
            self.counts.add(ordered, month, flow, totals["net"])
            # the certificates out of the moved subtree go with it (certificates' conservation)
            self.counts.add(ordered, month, f"certificates_{flow}", totals["certificates_out"])
            for figure, value in totals.items():
                self.counts.add(ordered, month, figure, sign * value)
