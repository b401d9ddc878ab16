"""Members: one party member's status and place.

Invariant: a member is in exactly one place: `held` by one organization, `in_transit` on
one letter (still of record at the sending organization), or gone (`deceased`, `left`);
has at most one open transfer, and at most one open certificate (temporary or mobile).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from domain.base import Context, LedgerAggregate
from domain.calendar import one_year_after as one_year_after  # re-exported: domain/ledger/members.py
from domain.calendar import years_after
from domain.errors import (
    CertificateOpen,
    InvalidRegistrationNo,
    InvalidTransition,
    MemberNotHeld,
    ProbationNotOver,
    TransferOpen,
    ValidationError,
)
from domain.identifiers import is_decimal_text, member_id, validate_month, validate_region, validate_registration_no
from domain.vocabulary import CATEGORIES, GENDERS, LEAVE_REASONS, NAME_MAX
from domain.vocabulary import MEMBER_STATUSES as STATUSES

FOUNDED = date(1921, 7, 1)


def validate_amount(amount: Any) -> Decimal:
    """Money is never a float: an int is fen (cents); a Decimal or a decimal string is yuan
    with at most 2 places. Returns yuan."""
    if isinstance(amount, float | bool):
        raise ValidationError("amount must be a decimal string such as \"12.50\", not a float")
    if isinstance(amount, int):
        amount = Decimal(amount) / 100
    if isinstance(amount, str) and not is_decimal_text(amount):
        raise ValidationError("amount must be a decimal string such as \"12.50\" (ASCII digits)")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValidationError("amount must be a decimal string such as \"12.50\"") from None
    exponent = value.as_tuple().exponent  # a str ('n', 'N', 'F') for NaN and infinities
    if not isinstance(exponent, int) or value <= 0 or value.adjusted() > 6 or exponent < -2:
        raise ValidationError("amount must be positive with at most 2 decimal places")
    if value >= Decimal("1000000"):
        raise ValidationError("amount is implausibly large")
    return value.quantize(Decimal("0.01"))


class Member(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        registration_no: str
        name: str
        gender: str
        birth_date: date
        category: str
        household_region: str
        workplace: str | None
        residence: str | None
        joined_on: date
        status: str
        probation_ends_on: date | None
        place: str  # held | in_transit | deceased | left
        organization_code: str  # holding organization, or sending organization while in transit
        transfer_id: str | None  # the open transfer: requested or issued
        id_digest: str
        origin: str  # admitted | imported
        left_reason: str | None
        open_certificates: tuple[str, ...]  # at most one, by the rule; older histories may hold more

    # A snapshot taken before members kept their open certificates has none of its own.
    open_certificates = ()

    class Enrolled(LedgerAggregate.Created):
        registration_no: str
        name: str
        gender: str
        birth_date: date
        category: str
        household_region: str
        workplace: str | None
        residence: str | None
        joined_on: date
        status: str
        probation_ends_on: date | None
        organization_code: str
        id_digest: str

        def change(self, m: Member) -> None:
            for key in (
                "registration_no", "name", "gender", "birth_date", "category", "household_region",
                "workplace", "residence", "joined_on", "status", "probation_ends_on",
                "organization_code", "id_digest",
            ):
                setattr(m, key, getattr(self, key))
            m.place, m.transfer_id, m.left_reason = "held", None, None

    class Admitted(Enrolled):
        """A new probationary member (接收预备党员), with a new registration number."""

        def change(self, m: Member) -> None:
            super().change(m)
            m.origin = "admitted"

    class Imported(Enrolled):
        """A member entered from existing records, with an existing registration number."""

        def change(self, m: Member) -> None:
            super().change(m)
            m.origin = "imported"

    class Confirmed(LedgerAggregate.Event):
        def change(self, m: Member) -> None:
            m.status, m.probation_ends_on = "full", None

    class TransferOpened(LedgerAggregate.Event):
        transfer_id: str

        def change(self, m: Member) -> None:
            m.transfer_id = self.transfer_id

    class TransferClosed(LedgerAggregate.Event):
        """The open transfer was declined before any letter: the member never moved."""

        transfer_id: str

        def change(self, m: Member) -> None:
            m.transfer_id = None

    class WentInTransit(LedgerAggregate.Event):
        """A letter was issued: off the roster, still of record at the sending organization."""

        transfer_id: str
        letter_no: str

        def change(self, m: Member) -> None:
            m.place = "in_transit"

    class Received(LedgerAggregate.Event):
        """The receipt: the one event that changes the member's organization of record."""

        transfer_id: str
        from_organization_code: str
        organization_code: str

        def change(self, m: Member) -> None:
            m.place, m.organization_code, m.transfer_id = "held", self.organization_code, None

    class ReturnedHome(LedgerAggregate.Event):
        """The letter was cancelled or rejected: back on the sending organization's roster."""

        transfer_id: str
        outcome: str

        def change(self, m: Member) -> None:
            m.place, m.transfer_id = "held", None

    class MovedOnDissolution(LedgerAggregate.Event):
        from_organization_code: str
        organization_code: str

        def change(self, m: Member) -> None:
            m.organization_code = self.organization_code

    class CertificateIssued(LedgerAggregate.Event):
        """A certificate went out for this member (the member stays on the home roster)."""

        certificate_no: str

        def change(self, m: Member) -> None:
            m.open_certificates = (*m.open_certificates, self.certificate_no)

    class CertificateReturned(LedgerAggregate.Event):
        certificate_no: str

        def change(self, m: Member) -> None:
            m.open_certificates = tuple(c for c in m.open_certificates if c != self.certificate_no)

    class CertificateClosed(LedgerAggregate.Event):
        """The open certificate ended with a formal transfer's receipt, a death or a leaving."""

        certificate_no: str

        def change(self, m: Member) -> None:
            m.open_certificates = tuple(c for c in m.open_certificates if c != self.certificate_no)

    class Died(LedgerAggregate.Event):
        def change(self, m: Member) -> None:
            m.place = "deceased"

    class Left(LedgerAggregate.Event):
        reason: str

        def change(self, m: Member) -> None:
            m.place, m.left_reason = "left", self.reason

    class OrgLifeAttended(LedgerAggregate.Event):
        organization_code: str

    class DuesPaid(LedgerAggregate.Event):
        month: str
        amount: Decimal

    @classmethod
    def enroll(cls, ctx: Context, event_class: type[Enrolled], **fields: Any) -> Member:
        # The natural key and the region, as ASCII wholes: one spelling per member.
        if validate_registration_no(fields["registration_no"]) != fields["registration_no"]:
            raise InvalidRegistrationNo("registration_no: give the number upper-cased, without spaces")
        fields = cls.checked_fields(ctx, fields)
        return cls._create(
            event_class, id=member_id(fields["registration_no"]), **ctx.meta(), **fields
        )

    @staticmethod
    def checked_fields(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields of an enrolment, checked on their own (the name trimmed): the use case
        checks them before it looks up the resident ID number or the registration number,
        so that bad input is refused alike whatever the ledger holds (a refusal that
        depended on it would tell, recording nothing, whether a member holds a number)."""
        fields = dict(fields)
        validate_region(fields["household_region"], "household_region")
        name = (fields.get("name") or "").strip()
        if not name or len(name) > NAME_MAX:
            raise ValidationError(f"name must be 1-{NAME_MAX} characters")
        fields["name"] = name
        if fields.get("gender") not in GENDERS:
            raise ValidationError(f"gender must be one of {', '.join(GENDERS)}")
        if fields.get("category") not in CATEGORIES:
            raise ValidationError(f"category must be one of {', '.join(CATEGORIES)}")
        if fields.get("status") not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
        birth, joined = fields["birth_date"], fields["joined_on"]
        if not isinstance(birth, date) or not isinstance(joined, date):
            raise ValidationError("birth_date and joined_on must be dates")
        if joined > ctx.on:
            raise ValidationError("joined_on can't be after the effective date")
        if joined < FOUNDED:
            raise ValidationError(f"joined_on can't be before {FOUNDED}")
        if birth.year < 1900:  # as the API reads any date (1900-2999): a typo, 0001-01-01 or 1072-03-03
            raise ValidationError("birth_date can't be before 1900")
        if birth >= joined or years_after(birth, 18) > joined:
            raise ValidationError("a member joins at 18 or older (党章 art. 1): check birth_date and joined_on")
        return fields

    # --- rules -------------------------------------------------------------------

    @property
    def is_gone(self) -> bool:
        return self.place in ("deceased", "left")

    def check_not_gone(self) -> None:
        """A deceased member or one who left has no further events but history."""
        if self.is_gone:
            raise MemberNotHeld(f"member {self.registration_no} is {self.place}")

    def check_held(self) -> None:
        """Only a member on a roster can be issued a letter or a certificate."""
        self.check_not_gone()
        if self.place != "held":
            raise MemberNotHeld(
                f"member {self.registration_no} is in transit on transfer {self.transfer_id}"
            )

    def check_no_open_certificate(self) -> None:
        """Counted once: at most one open certificate per member, whatever its kind."""
        if self.open_certificates:
            raise CertificateOpen(
                f"member {self.registration_no} already holds certificate {self.open_certificates[0]}: "
                "it is returned first"
            )

    def check_no_open_transfer(self) -> None:
        """One place only: at most one open transfer per member."""
        if self.transfer_id is not None:
            raise TransferOpen(
                f"member {self.registration_no} already has an open transfer {self.transfer_id}"
            )

    # --- commands ------------------------------------------------------------------

    def confirm(self, ctx: Context) -> None:
        self.check_held()
        if self.status != "probationary":
            raise InvalidTransition(f"member {self.registration_no} is already a full member")
        assert self.probation_ends_on is not None
        if ctx.on < self.probation_ends_on:
            raise ProbationNotOver(
                f"probation ends on {self.probation_ends_on}; confirmation comes on or after it"
            )
        self.record(self.Confirmed, ctx)

    def open_transfer(self, ctx: Context, transfer_id: str) -> None:
        self.check_held()
        self.check_no_open_transfer()
        self.record(self.TransferOpened, ctx, transfer_id=transfer_id)

    def close_transfer(self, ctx: Context, transfer_id: str) -> None:
        self.record(self.TransferClosed, ctx, transfer_id=transfer_id)

    def go_in_transit(self, ctx: Context, transfer_id: str, letter_no: str) -> None:
        self.check_held()
        self.record(self.WentInTransit, ctx, transfer_id=transfer_id, letter_no=letter_no)

    def arrive(self, ctx: Context, transfer_id: str, organization_code: str) -> None:
        self.record(
            self.Received, ctx, transfer_id=transfer_id,
            from_organization_code=self.organization_code, organization_code=organization_code,
        )

    def return_home(self, ctx: Context, transfer_id: str, outcome: str) -> None:
        self.record(self.ReturnedHome, ctx, transfer_id=transfer_id, outcome=outcome)

    def move_on_dissolution(self, ctx: Context, successor_code: str) -> None:
        self.record(
            self.MovedOnDissolution, ctx,
            from_organization_code=self.organization_code, organization_code=successor_code,
        )

    def note_certificate(self, ctx: Context, certificate_no: str, returned: bool = False) -> None:
        if not returned:
            self.check_no_open_certificate()
        event = self.CertificateReturned if returned else self.CertificateIssued
        self.record(event, ctx, certificate_no=certificate_no)

    def note_certificate_closed(self, ctx: Context, certificate_no: str) -> None:
        self.record(self.CertificateClosed, ctx, certificate_no=certificate_no)

    def check_can_go(self) -> None:
        self.check_not_gone()
        if self.transfer_id is not None:
            raise TransferOpen(
                f"member {self.registration_no} has an open transfer {self.transfer_id}: "
                "decline or cancel it first"
            )

    def die(self, ctx: Context) -> None:
        self.check_can_go()
        self.record(self.Died, ctx)

    def leave(self, ctx: Context, reason: str) -> None:
        if reason not in LEAVE_REASONS:
            raise ValidationError(f"reason must be one of {', '.join(LEAVE_REASONS)}")
        self.check_can_go()
        self.record(self.Left, ctx, reason=reason)

    def attend_org_life(self, ctx: Context, organization_code: str) -> None:
        self.check_not_gone()
        self.record(self.OrgLifeAttended, ctx, organization_code=organization_code)

    def pay_dues(self, ctx: Context, month: str, amount: Any) -> None:
        self.check_not_gone()
        validate_month(month)
        if month < f"{self.joined_on:%Y-%m}":
            raise ValidationError(f"month {month} is before the member joined ({self.joined_on:%Y-%m})")
        self.record(self.DuesPaid, ctx, month=month, amount=validate_amount(amount))
