"""Temporary certificates (党员证明信) and mobile member certificates (流动党员活动证).

Invariant: a certificate never moves a member: the holder stays on the home roster; a
temporary certificate covers at most 6 months and a mobile one more than 6; each
certificate ends once, returned (the host endorsed it) or closed (the member's
relationship moved by a formal transfer, or the member is gone). At most one is open per
member: the member aggregate keeps that rule (domain/member.py).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from domain.base import Context, LedgerAggregate
from domain.calendar import add_months as add_months  # re-exported: api/simulation.py, api/simacts.py
from domain.errors import InvalidTransition, UseFormalTransfer, ValidationError
from domain.identifiers import certificate_id
from domain.vocabulary import CERTIFICATE_KINDS as KINDS
from domain.vocabulary import TEMPORARY_MAX_MONTHS


class Certificate(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        certificate_no: str
        kind: str
        registration_no: str
        home_organization_code: str
        host_organization_code: str | None
        host_description: str | None
        purpose: str
        contact_person: str | None
        issued_on: date
        valid_until: date
        status: str  # issued | returned | closed
        returned_on: date | None
        closed_on: date | None


    class Issued(LedgerAggregate.Created):
        certificate_no: str
        kind: str
        registration_no: str
        home_organization_code: str
        host_organization_code: str | None
        host_description: str | None
        purpose: str
        contact_person: str | None
        valid_until: date

        def change(self, c: Certificate) -> None:
            for key in (
                "certificate_no", "kind", "registration_no", "home_organization_code",
                "host_organization_code", "host_description", "purpose", "contact_person",
                "valid_until",
            ):
                setattr(c, key, getattr(self, key))
            c.issued_on, c.status, c.returned_on, c.closed_on = self.on, "issued", None, None

    class Returned(LedgerAggregate.Event):
        def change(self, c: Certificate) -> None:
            c.status, c.returned_on = "returned", self.on

    class Closed(LedgerAggregate.Event):
        """The certificate ended without coming back: the member was received elsewhere by
        a formal transfer (`transfer_id`), died or left, or the home was dissolved. Not a
        return."""

        reason: str  # received | deceased | left | dissolved
        transfer_id: str | None

        def change(self, c: Certificate) -> None:
            c.status, c.closed_on = "closed", self.on

    @classmethod
    def issue(cls, ctx: Context, **fields: Any) -> Certificate:
        kind, valid_until = fields["kind"], fields["valid_until"]
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}")
        if not (fields.get("purpose") or "").strip():
            raise ValidationError("purpose is required")
        if not isinstance(valid_until, date) or valid_until <= ctx.on:
            raise ValidationError("valid_until must be a date after the effective date")
        if not fields.get("host_organization_code") and not (fields.get("host_description") or "").strip():
            raise ValidationError("name the host: host_organization_code or host_description")
        six_months = add_months(ctx.on, TEMPORARY_MAX_MONTHS)
        if kind == "temporary" and valid_until > six_months:
            raise UseFormalTransfer(
                f"a temporary certificate covers at most {TEMPORARY_MAX_MONTHS} months "
                f"(until {six_months}): use a formal transfer"
            )
        if kind == "mobile" and valid_until <= six_months:
            raise ValidationError(
                f"a mobile member certificate is for working away more than {TEMPORARY_MAX_MONTHS} "
                f"months (valid after {six_months}): a shorter absence takes a temporary certificate"
            )
        return cls._create(
            cls.Issued, id=certificate_id(fields["certificate_no"]), **ctx.meta(), **fields
        )

    def check_open(self) -> None:
        """A certificate is returned or closed once."""
        if self.status == "returned":
            raise InvalidTransition(f"certificate {self.certificate_no} was returned on {self.returned_on}")
        if self.status == "closed":
            raise InvalidTransition(f"certificate {self.certificate_no} was closed on {self.closed_on}")

    def return_(self, ctx: Context) -> None:
        self.check_open()
        self.record(self.Returned, ctx)

    def close(self, ctx: Context, reason: str, transfer_id: str | None = None) -> None:
        self.check_open()
        self.record(self.Closed, ctx, reason=reason, transfer_id=transfer_id)

    def summary(self) -> dict[str, Any]:
        return {
            "certificate_no": self.certificate_no,
            "kind": self.kind,
            "registration_no": self.registration_no,
            "home_organization_code": self.home_organization_code,
            "host_organization_code": self.host_organization_code,
            "host_description": self.host_description,
            "purpose": self.purpose,
            "contact_person": self.contact_person,
            "issued_on": self.issued_on,
            "valid_until": self.valid_until,
            "status": self.status,
            "returned_on": self.returned_on,
            "closed_on": self.closed_on,
        }
