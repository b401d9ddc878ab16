"""The Ledger application: every use case of DOMAIN.md §3-§7 as one atomic save.

Each public command builds its context (who, when), then runs a use case (the modules
beside this one: organizations, members, transfers, certificates, operators) on a
`Session`: the use case checks every rule (raising a `LedgerError` before any event is
saved) and acts on the session's working copies; the Ledger saves all touched aggregates
at once (domain/ledger/writer.py: in groups). A concurrent change, by another process, to
any aggregate a command read or wrote makes the store refuse the save
(domain/ledger/recorders.py); the command is then judged again from a fresh state, so the
loser of a race is judged by the rules against the winner's result (e.g. "already
received").
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import domain.ledger.cases as cases
import domain.ledger.certificates as certificates
import domain.ledger.member_access as member_access
import domain.ledger.members as members
import domain.ledger.operators as operators
import domain.ledger.organizations as organizations
import domain.ledger.transfers as transfers
from domain.base import SYSTEM, Actor
from domain.errors import Conflict, ValidationError
from domain.identifiers import registration_key, validate_registration_no
from domain.ledger.reads import LedgerReads
from domain.ledger.session import Recorded
from domain.ledger.store import TransactionHook
from domain.member import Member, validate_month
from domain.member_access import new_member_token, token_digest
from domain.operator import new_token, operator_id_for
from domain.transfer import DEFAULT_VALID_DAYS

__all__ = ["Ledger", "TransactionHook"]


class Ledger(LedgerReads):
    """The transfer ledger: its commands here; its reads (domain/ledger/reads.py), how it runs
    commands (domain/ledger/runner.py) and its store (domain/ledger/store.py) beneath.
    Configure the store with eventsourcing's environment
    (`domain.settings.Settings.event_store_env()` builds it from LEDGER_DATABASE_URL);
    `LEDGER_ID_KEY` (a secret) keys the digests that keep resident ID numbers unique;
    `LEDGER_DATA_KEYS` (secrets) encrypt the personal fields of stored events
    (domain/personal.py)."""

    name = "ledger"

    # --- organizations ------------------------------------------------------------------

    def register_organization(
        self, code: str, name: str, kind: str, parent_code: str | None, region: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.register(s, ctx, code, name, kind, parent_code, region))

    def register_root(
        self, code: str, name: str, region: str, *, on: date | None = None,
        request_id: str | None = None,
    ) -> Recorded:
        return self.register_organization(
            code, name, "department", None, region, on=on, request_id=request_id
        )

    def dissolve_organization(
        self, code: str, successor_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.dissolve(s, ctx, code, successor_code))

    def move_organization(
        self, code: str, parent_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Whole-organization transfer (整建制转移): its members move with it."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.move(s, ctx, code, parent_code))

    def file_month(
        self, code: str, month: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Filing (报送) freezes a month and every earlier one for the subtree."""
        ctx = self.context(actor, on, request_id)
        validate_month(month)
        if month >= f"{ctx.on:%Y-%m}":
            raise ValidationError(f"{month} is not over yet: only a past month can be filed")
        return self._run(lambda s: organizations.file_month(s, ctx, code, month))

    # --- members ---------------------------------------------------------------------

    def admit_member(
        self, organization_code: str, *, name: str, id_card_no: str, gender: str,
        birth_date: date, joined_on: date, category: str, household_region: str,
        workplace: str | None = None, residence: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Admission (接收预备党员): a new probationary member with a new registration number."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.enroll(
            s, ctx, event=Member.Admitted, registration_no=None,
            organization_code=organization_code, id_card_no=id_card_no, status="probationary",
            name=name, gender=gender, birth_date=birth_date, joined_on=joined_on,
            category=category, household_region=household_region, workplace=workplace,
            residence=residence,
        ))

    def import_member(
        self, organization_code: str, *, registration_no: str | None, status: str, name: str,
        id_card_no: str, gender: str, birth_date: date, joined_on: date, category: str,
        household_region: str, workplace: str | None = None, residence: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Import from existing records, with the member's registration number (validated);
        without one, the ledger gives a number as for an admission."""
        ctx = self.context(actor, on, request_id)
        number = validate_registration_no(registration_no) if registration_no is not None else None
        return self._run(lambda s: members.enroll(
            s, ctx, event=Member.Imported, registration_no=number,
            organization_code=organization_code, id_card_no=id_card_no, status=status,
            name=name, gender=gender, birth_date=birth_date, joined_on=joined_on,
            category=category, household_region=household_region, workplace=workplace,
            residence=residence,
        ))

    def confirm_member(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.confirm(s, ctx, registration_no))

    def record_death(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_death(s, ctx, registration_no))

    def record_leaving(
        self, registration_no: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Removal (expelled, withdrew, self-withdrawal) is always a clerk's explicit act."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_leaving(s, ctx, registration_no, reason))

    def record_org_life(
        self, registration_no: str, organization_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Org life, recorded by the side that holds the member: at the member's own
        organization or, for a certificate holder, at the host of a certificate valid that
        day (or an organization below that host)."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_org_life(s, ctx, registration_no, organization_code))

    def record_dues(
        self, registration_no: str, month: str, amount: Any,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_dues(s, ctx, registration_no, month, amount))

    # --- transfers ---------------------------------------------------------------------

    def request_transfer(
        self, registration_no: str, to_organization_code: str, *, reason: str, basis: str,
        evidence: dict[str, str] | None = None, performance_record: str | None = None,
        probation_override_reason: str | None = None, transfer_id: UUID | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """A transfer request; `transfer_id` (a new one by default) lets a caller that must
        be reproducible (the simulation) choose it: one already taken is refused."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.request(
            s, ctx, registration_no, to_organization_code, reason=reason, basis=basis,
            evidence=evidence, performance_record=performance_record,
            probation_override_reason=probation_override_reason, transfer_id=transfer_id,
        ))

    def decline_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.decline(s, ctx, transfer_id, reason))

    def issue_letter(
        self, transfer_id: str, valid_days: int = DEFAULT_VALID_DAYS,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.issue_letter(s, ctx, transfer_id, valid_days))

    def extend_letter(
        self, transfer_id: str, valid_until: date,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        if not isinstance(valid_until, date):
            raise ValidationError("valid_until must be a date")
        return self._run(lambda s: transfers.extend_letter(s, ctx, transfer_id, valid_until))

    def cancel_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.cancel(s, ctx, transfer_id, reason))

    def reject_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.reject(s, ctx, transfer_id, reason))

    def receive_member(
        self, transfer_id: str, organization_code: str, late_certificate: str | None = None,
        *, presented_by: str = "member", agent_name: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt: the member lands in a member-holding organization in the target's
        subtree and changes organization of record, in this one save (which closes the
        member's open certificate). `presented_by`: the member, or an agent (他人代办),
        optionally named."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.receive(
            s, ctx, transfer_id, organization_code, late_certificate, presented_by, agent_name))

    def return_receipt(
        self, transfer_id: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt (回执) goes from the receiving committee straight to the sender."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.return_receipt(s, ctx, transfer_id))

    # --- certificates ------------------------------------------------------------------

    def issue_certificate(
        self, registration_no: str, *, kind: str, purpose: str, valid_until: date,
        host_organization_code: str | None = None, host_description: str | None = None,
        contact_person: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: certificates.issue(
            s, ctx, registration_no, kind=kind, purpose=purpose, valid_until=valid_until,
            host_organization_code=host_organization_code, host_description=host_description,
            contact_person=contact_person,
        ))

    def return_certificate(
        self, certificate_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: certificates.return_(s, ctx, certificate_no))

    # --- first-responder cases (首问责任制) ------------------------------------------------

    def open_case(
        self, organization_code: str, *, name: str, request: str, registration_no: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The organization a person first asks owns the case until it is closed; the
        returned `code` is the case id."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: cases.open_(
            s, ctx, organization_code, name=name, registration_no=registration_no, request=request))

    def close_case(
        self, case_id: str, outcome: str, note: str | None = None, registration_no: str | None = None,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: cases.close(
            s, ctx, case_id, outcome=outcome, note=note, registration_no=registration_no))

    # --- operators -----------------------------------------------------------------------

    def grant_operator(
        self, name: str, role: str, organization_code: str,
        *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> tuple[Recorded, str]:
        """A new operator, acting in `role` over `organization_code`'s subtree. Returns the
        bearer token, which is stored nowhere: show it once."""
        ctx = self.context(actor, None, request_id)
        token = new_token()
        recorded = self._run(lambda s: operators.grant(s, ctx, token, name, role, organization_code))
        if recorded.code != str(operator_id_for(token)):  # granted by this key's first run
            raise Conflict(
                f"operator {recorded.code} was granted by the first run of this request, whose "
                "answer (with the token, shown once) was lost: revoke it and grant another"
            )
        return recorded, token

    def revoke_operator(
        self, operator_id: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, None, request_id)
        return self._run(lambda s: operators.revoke(s, ctx, operator_id))


    # --- members' own access (domain/ledger/member_access.py) ----------------------------

    def issue_member_access(
        self, registration_no: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> tuple[Recorded, str]:
        """A member's token, replacing the earlier one; stored nowhere: show it once."""
        ctx = self.context(actor, None, request_id)
        token = new_member_token(registration_key(registration_no) or "")
        recorded = self._run(lambda s: member_access.issue(s, ctx, registration_no, token))
        if recorded.code != token_digest(token):  # issued by this key's first run
            raise Conflict(
                f"member {recorded.registration_no}'s token was issued by the first run of this "
                "request, whose answer (with the token, shown once) was lost: issue another"
            )
        return recorded, token

    def revoke_member_access(
        self, registration_no: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, None, request_id)
        return self._run(lambda s: member_access.revoke(s, ctx, registration_no))


    def request_own_transfer(
        self, registration_no: str, to_organization_code: str, *, reason: str, basis: str,
        evidence: dict[str, str] | None = None, performance_record: str | None = None,
        probation_override_reason: str | None = None, on: date | None = None,
        request_id: str | None = None,
    ) -> Recorded:
        """A member's own transfer request (self-service, seed 002)."""
        ctx = self.context(SYSTEM, on, request_id)
        return self._run(lambda s: member_access.request_own_transfer(
            s, ctx, registration_no, to_organization_code, reason=reason, basis=basis,
            evidence=evidence, performance_record=performance_record,
            probation_override_reason=probation_override_reason,
        ))

    def send_member_report(
        self, registration_no: str, text: str, *, request_id: str | None = None,
    ) -> Recorded:
        """A mobile member's regular report (定期汇报) to the home organization."""
        ctx = self.context(SYSTEM, None, request_id)
        return self._run(lambda s: member_access.send_report(s, ctx, registration_no, text))

