"""Formal transfers (正式组织关系转接), like a two-phase ledger transfer.

requested -> issued -> received -> receipt_returned; requested -> declined;
issued -> cancelled (by the sender) or rejected (by the receiver).
Issue is pending, receipt posts it, cancel or reject voids it. Expiry voids nothing.
Invariant: a transfer is received at most once, and only while issued.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from domain.base import Context, LedgerAggregate
from domain.errors import (
    EvidenceRequired,
    InvalidTransition,
    LetterExpired,
    ValidationError,
    ValidityTooLong,
)
from domain.vocabulary import (
    BASES,
    EVIDENCE_FOR_BASIS,
    EVIDENCE_KINDS,
    MAX_VALID_DAYS,
    NETWORK_STOPS,
    PAPER_STOPS,
    PRESENTERS,
    TEXT_MAX,
)
from domain.vocabulary import DEFAULT_VALID_DAYS as DEFAULT_VALID_DAYS  # re-exported: domain/ledger
from domain.vocabulary import NAME_MAX as AGENT_NAME_MAX
from domain.vocabulary import RECEIPT_DUE_DAYS as RECEIPT_DUE_DAYS  # re-exported: projections/queries.py
from domain.vocabulary import TRANSFER_REASONS as REASONS


def classify_route(
    sending_committee: str, receiving_committee: str, from_region: str, to_region: str
) -> str:
    """Where the two sides sit: same committee, same county, same province, or neither."""
    if sending_committee == receiving_committee:
        return "within_committee"
    if from_region == to_region:
        return "within_county"
    if from_region[:2] == to_region[:2]:
        return "cross_county"
    return "cross_province"


def check_basis(basis: str, evidence: dict[str, str] | None) -> None:
    """Workplace first (labor contract), then residence (deed or lease), then household."""
    if basis not in BASES:
        raise ValidationError(f"basis must be one of {', '.join(BASES)}")
    needed = EVIDENCE_FOR_BASIS.get(basis)
    if needed is None:
        return
    if not evidence or evidence.get("kind") not in needed or not (evidence.get("reference") or "").strip():
        raise EvidenceRequired(
            f"basis {basis} needs evidence of kind {' or '.join(needed)} with its reference"
        )


def check_presenter(presented_by: str, agent_name: str | None) -> str | None:
    """The letter is presented by the member or by an agent (他人代办), whose name, if given,
    is 1-100 characters; a member presenting it has no agent. Returns the name, trimmed."""
    if presented_by not in PRESENTERS:
        raise ValidationError(f"presented_by must be one of {', '.join(PRESENTERS)}")
    name = (agent_name or "").strip() or None
    if name is not None and presented_by != "agent":
        raise ValidationError("agent_name is given only when an agent presented the letter (presented_by agent)")
    if name is not None and len(name) > AGENT_NAME_MAX:
        raise ValidationError(f"agent_name must be at most {AGENT_NAME_MAX} characters")
    return name


class Transfer(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        transfer_id: str
        registration_no: str
        from_organization_code: str
        to_organization_code: str
        reason: str
        basis: str
        evidence: dict[str, str] | None
        performance_record: str | None
        probation_override_reason: str | None
        route: str
        status: str
        requested_on: date
        letter_no: str | None
        issuing_organization_code: str | None
        issued_on: date | None
        valid_until: date | None
        received_in_code: str | None
        received_on: date | None
        on_time: bool | None
        late_certificate: str | None
        presented_by: str | None  # member | agent, once received
        agent_name: str | None
        receipt_returned_on: date | None
        closed_on: date | None
        closing_reason: str | None


    class Requested(LedgerAggregate.Created):
        registration_no: str
        from_organization_code: str
        to_organization_code: str
        reason: str
        basis: str
        evidence: dict[str, str] | None
        performance_record: str | None
        probation_override_reason: str | None
        route: str

        def change(self, t: Transfer) -> None:
            t.transfer_id = str(self.originator_id)
            for key in (
                "registration_no", "from_organization_code", "to_organization_code", "reason",
                "basis", "evidence", "performance_record", "probation_override_reason", "route",
            ):
                setattr(t, key, getattr(self, key))
            t.status, t.requested_on = "requested", self.on
            t.letter_no = t.issuing_organization_code = t.issued_on = t.valid_until = None
            t.received_in_code = t.received_on = t.on_time = t.late_certificate = None
            t.presented_by = t.agent_name = None
            t.receipt_returned_on = t.closed_on = t.closing_reason = None

    class Declined(LedgerAggregate.Event):
        reason: str

        def change(self, t: Transfer) -> None:
            t.status, t.closed_on, t.closing_reason = "declined", self.on, self.reason

    class LetterIssued(LedgerAggregate.Event):
        letter_no: str
        issuing_organization_code: str
        valid_until: date
        route: str

        def change(self, t: Transfer) -> None:
            t.status, t.letter_no, t.issued_on = "issued", self.letter_no, self.on
            t.issuing_organization_code, t.valid_until, t.route = (
                self.issuing_organization_code, self.valid_until, self.route,
            )

    class LetterExtended(LedgerAggregate.Event):
        valid_until: date

        def change(self, t: Transfer) -> None:
            t.valid_until = self.valid_until

    class MemberReceived(LedgerAggregate.Event):
        organization_code: str
        on_time: bool
        late_certificate: str | None
        # Who presented the letter. Receipts recorded before this was asked have neither
        # field stored and read with these defaults: the member, no agent.
        presented_by: str = "member"
        agent_name: str | None = None

        def change(self, t: Transfer) -> None:
            t.status, t.received_in_code, t.received_on = "received", self.organization_code, self.on
            t.on_time, t.late_certificate = self.on_time, self.late_certificate
            t.presented_by, t.agent_name = self.presented_by, self.agent_name

    class ReceiptReturned(LedgerAggregate.Event):
        days: int

        def change(self, t: Transfer) -> None:
            t.status, t.receipt_returned_on = "receipt_returned", self.on

    class Rejected(LedgerAggregate.Event):
        reason: str

        def change(self, t: Transfer) -> None:
            t.status, t.closed_on, t.closing_reason = "rejected", self.on, self.reason

    class Cancelled(LedgerAggregate.Event):
        reason: str

        def change(self, t: Transfer) -> None:
            t.status, t.closed_on, t.closing_reason = "cancelled", self.on, self.reason

    @classmethod
    def request(cls, ctx: Context, *, transfer_id: UUID | None = None, **fields: Any) -> Transfer:
        """A new transfer, with a fresh random id unless one is given (a generator that
        must be reproducible draws its own)."""
        if fields["reason"] not in REASONS:
            raise ValidationError(f"reason must be one of {', '.join(REASONS)}")
        evidence = fields.get("evidence")
        if evidence is not None and evidence.get("kind") not in EVIDENCE_KINDS:
            raise ValidationError(f"evidence kind must be one of {', '.join(EVIDENCE_KINDS)}")
        check_basis(fields["basis"], evidence)
        return cls._create(cls.Requested, id=transfer_id or uuid4(), **ctx.meta(), **fields)

    # --- rules -------------------------------------------------------------------

    def check_status(self, *allowed: str) -> None:
        """Each step follows from the states named in the module docstring, once."""
        if self.status not in allowed:
            raise InvalidTransition(
                f"transfer {self.transfer_id} is {self.status}; this needs it {' or '.join(allowed)}"
            )

    @property
    def paper_stops(self) -> int:
        return PAPER_STOPS[self.route]

    @property
    def network_stops(self) -> int:
        return NETWORK_STOPS

    # --- commands ------------------------------------------------------------------

    def decline(self, ctx: Context, reason: str) -> None:
        self.check_status("requested")
        self.record(self.Declined, ctx, reason=_reason(reason))

    def issue(
        self, ctx: Context, letter_no: str, issuing_organization_code: str, valid_days: int, route: str
    ) -> None:
        self.check_status("requested")
        if not isinstance(valid_days, int) or isinstance(valid_days, bool) or valid_days < 1:
            raise ValidationError("valid_days must be a whole number of days, at least 1")
        if valid_days > MAX_VALID_DAYS:
            raise ValidityTooLong(f"a letter is valid for at most {MAX_VALID_DAYS} days")
        self.record(
            self.LetterIssued, ctx, letter_no=letter_no,
            issuing_organization_code=issuing_organization_code,
            valid_until=ctx.on + timedelta(days=valid_days), route=route,
        )

    def extend(self, ctx: Context, valid_until: date) -> None:
        self.check_status("issued")
        assert self.issued_on is not None and self.valid_until is not None
        if valid_until <= self.valid_until:
            raise ValidationError(f"the letter is already valid until {self.valid_until}")
        if valid_until < ctx.on:
            raise ValidationError(f"an extension on {ctx.on} must make the letter valid until that day or "
                                  f"later, not {valid_until}")
        if valid_until > self.issued_on + timedelta(days=MAX_VALID_DAYS):
            raise ValidityTooLong(
                f"a letter is valid for at most {MAX_VALID_DAYS} days from issue "
                f"(until {self.issued_on + timedelta(days=MAX_VALID_DAYS)}), extensions included"
            )
        self.record(self.LetterExtended, ctx, valid_until=valid_until)

    def receive(
        self, ctx: Context, organization_code: str, late_certificate: str | None,
        presented_by: str = "member", agent_name: str | None = None,
    ) -> None:
        self.check_status("issued")
        self.check_effective_order(ctx)
        assert self.valid_until is not None
        agent_name = check_presenter(presented_by, agent_name)
        on_time = ctx.on <= self.valid_until
        late_certificate = (late_certificate or "").strip() or None
        if not on_time and late_certificate is None:
            raise LetterExpired(
                f"letter {self.letter_no} was valid until {self.valid_until}: receiving it later "
                "needs a late certificate; otherwise the sender extends or cancels it"
            )
        self.record(
            self.MemberReceived, ctx, organization_code=organization_code, on_time=on_time,
            late_certificate=None if on_time else late_certificate,
            presented_by=presented_by, agent_name=agent_name,
        )

    def return_receipt(self, ctx: Context) -> None:
        self.check_status("received")
        assert self.received_on is not None
        self.record(self.ReceiptReturned, ctx, days=(ctx.on - self.received_on).days)

    def reject(self, ctx: Context, reason: str) -> None:
        self.check_status("issued")
        self.record(self.Rejected, ctx, reason=_reason(reason))

    def cancel(self, ctx: Context, reason: str) -> None:
        self.check_status("issued")
        self.record(self.Cancelled, ctx, reason=_reason(reason))

    def summary(self) -> dict[str, Any]:
        return {
            "transfer_id": self.transfer_id,
            "letter_no": self.letter_no,
            "registration_no": self.registration_no,
            "from_organization_code": self.from_organization_code,
            "to_organization_code": self.to_organization_code,
            "received_in_code": self.received_in_code,
            "status": self.status,
            "reason": self.reason,
            "basis": self.basis,
            "route": self.route,
            "paper_stops": self.paper_stops,
            "network_stops": self.network_stops,
            "requested_on": self.requested_on,
            "issued_on": self.issued_on,
            "valid_until": self.valid_until,
            "received_on": self.received_on,
            "on_time": self.on_time,
            "receipt_returned_on": self.receipt_returned_on,
            "presented_by": self.presented_by,
            "agent_name": self.agent_name,
        }


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text or len(text) > TEXT_MAX:
        raise ValidationError(f"reason must be 1-{TEXT_MAX} characters")
    return text
