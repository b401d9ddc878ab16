"""Use cases on transfers (DOMAIN.md §5): a request, then the sending side's steps (issue,
extend, cancel, decline) and the receiving side's (receive, reject, return the receipt).
Each checks its rules, then records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import UUID

from domain.base import Context
from domain.errors import Conflict, NotInTargetSubtree, SameOrganization
from domain.ledger.certificates import close_open
from domain.ledger.rules import (
    check_confirmation_due,
    check_open_period,
    check_probation,
    held_member,
    jurisdiction,
)
from domain.ledger.session import Recorded, Session
from domain.member import Member
from domain.transfer import Transfer, classify_route

TransferAct = Callable[[Transfer, Member, Session], "Recorded | None"]


def request(
    session: Session, ctx: Context, registration_no: str, to_organization_code: str, *,
    reason: str, basis: str, evidence: dict[str, str] | None, performance_record: str | None,
    probation_override_reason: str | None, transfer_id: UUID | None = None,
) -> Recorded:
    member, home = held_member(ctx, session, registration_no)
    member.check_held()
    member.check_no_open_transfer()
    target = session.org(to_organization_code)
    if target.code == home.code:
        raise SameOrganization(f"member {member.registration_no} is already held by {home.code}")
    target.check_can_be_target()
    check_probation(ctx, member, performance_record, probation_override_reason)
    check_open_period(ctx, session, home)
    # nor before the target (or an organization above it) was registered, moved or
    # dissolved, as its issue would be; the target's filing is not the request's to respect
    check_open_period(ctx, session, target, filed=False)
    route = classify_route(
        session.committee_of(home).code, session.committee_of(target).code,
        home.region, target.region,
    )

    if transfer_id is not None and session.exists(transfer_id):
        raise Conflict(f"transfer id {transfer_id} is taken")

    transfer = session.add(Transfer.request(
        ctx, transfer_id=transfer_id, registration_no=member.registration_no, from_organization_code=home.code,
        to_organization_code=target.code, reason=reason, basis=basis,
        evidence=dict(evidence) if evidence else None,
        performance_record=(performance_record or "").strip() or None,
        probation_override_reason=(probation_override_reason or "").strip() or None,
        route=route,
    ))
    member.open_transfer(ctx, transfer.transfer_id)
    return Recorded(0, registration_no=member.registration_no, transfer_id=transfer.transfer_id)


# Whose figures each step changes (projections/figures.py), and so whose filed months it
# must respect: the sender's alone for a request's decline and a letter's issue, extension,
# cancellation and rejection (letters issued, cancelled, rejected, in transit, overdue: all
# counted at the sender); both sides' for the receipt, which moves the member from one to
# the other, and for the receipt's return, which closes the sender's loop as it is counted
# where the member was received.
SENDER, BOTH = ("from",), ("from", "to", "into")


def on_transfer(session: Session, ctx: Context, transfer_id: str, side: str, act: TransferAct,
                figures: tuple[str, ...] = SENDER) -> Recorded:
    """A command on a transfer by its sending side ("from") or its receiving side ("to"):
    the committee that issues or receives letters for that side, or an operator above it.
    The months filed on the sides whose `figures` it changes are closed to it; on every
    side, nothing before the last restructuring."""
    transfer = session.transfer(transfer_id)
    home = session.org(transfer.from_organization_code)
    side_org = home if side == "from" else session.receiving_org(transfer.to_organization_code)
    jurisdiction(ctx, session).check(session.committee_of(side_org).code, f"transfer {transfer.transfer_id}")
    member = session.member(transfer.registration_no)
    sides = {"from": home, "to": session.org(transfer.to_organization_code)}
    if transfer.received_in_code:
        sides["into"] = session.org(transfer.received_in_code)
    check_open_period(ctx, session, *(org for key, org in sides.items() if key in figures))
    check_open_period(ctx, session, *(org for key, org in sides.items() if key not in figures), filed=False)
    result = act(transfer, member, session)
    return result or Recorded(
        0, registration_no=transfer.registration_no, transfer_id=transfer.transfer_id,
        letter_no=transfer.letter_no,
    )


def decline(session: Session, ctx: Context, transfer_id: str, reason: str) -> Recorded:
    def act(transfer: Transfer, member: Member, _: Session) -> None:
        transfer.decline(ctx, reason)
        member.close_transfer(ctx, transfer.transfer_id)

    return on_transfer(session, ctx, transfer_id, "from", act)


def issue_letter(session: Session, ctx: Context, transfer_id: str, valid_days: int) -> Recorded:
    def act(transfer: Transfer, member: Member, session: Session) -> None:
        transfer.check_status("requested")
        check_confirmation_due(ctx, member)
        if member.status == "probationary" and not transfer.probation_override_reason:
            check_probation(ctx, member, transfer.performance_record, None)
        home = session.org(transfer.from_organization_code)
        target = session.org(transfer.to_organization_code)
        target.check_can_be_target()
        committee = session.committee_of(home)
        route = classify_route(
            committee.code, session.committee_of(target).code, home.region, target.region
        )

        number = committee.take_number(ctx, f"letter-{ctx.on.year}", transfer.transfer_id)
        letter_no = f"{committee.code}-{ctx.on.year}-{number:05d}"
        transfer.issue(ctx, letter_no, committee.code, valid_days, route)
        member.go_in_transit(ctx, transfer.transfer_id, letter_no)

    return on_transfer(session, ctx, transfer_id, "from", act)


def extend_letter(session: Session, ctx: Context, transfer_id: str, valid_until: date) -> Recorded:
    return on_transfer(session, ctx, transfer_id, "from", lambda t, _m, _s: t.extend(ctx, valid_until))


def cancel(session: Session, ctx: Context, transfer_id: str, reason: str) -> Recorded:
    def act(transfer: Transfer, member: Member, _: Session) -> None:
        transfer.cancel(ctx, reason)
        member.return_home(ctx, transfer.transfer_id, "cancelled")

    return on_transfer(session, ctx, transfer_id, "from", act)


def reject(session: Session, ctx: Context, transfer_id: str, reason: str) -> Recorded:
    def act(transfer: Transfer, member: Member, _: Session) -> None:
        transfer.reject(ctx, reason)
        member.return_home(ctx, transfer.transfer_id, "rejected")

    return on_transfer(session, ctx, transfer_id, "to", act)


def receive(
    session: Session, ctx: Context, transfer_id: str, organization_code: str,
    late_certificate: str | None, presented_by: str = "member", agent_name: str | None = None,
) -> Recorded:
    """The receipt: the member lands in a member-holding organization in the target's
    subtree and changes organization of record, in this one save, which also closes the
    member's open certificate."""

    def act(transfer: Transfer, member: Member, session: Session) -> None:
        transfer.check_status("issued")
        into = session.org(organization_code)
        into.check_can_hold()
        target = session.receiving_org(transfer.to_organization_code)
        if not session.is_within(into, target.code):
            raise NotInTargetSubtree(f"{into.code} is not {target.code} or below it")
        home = session.org(transfer.from_organization_code)
        if into.code == home.code:
            raise SameOrganization(f"the member was sent from {home.code}")
        check_open_period(ctx, session, into)

        transfer.receive(ctx, into.code, late_certificate, presented_by, agent_name)
        member.arrive(ctx, transfer.transfer_id, into.code)
        home.detach_member(ctx, member.registration_no)
        into.attach_member(ctx, member.registration_no)
        # Counted once: the relationship has moved, so a certificate still open at the old
        # home (a mobile member transferred to where it worked) ends in this save.
        check_open_period(ctx, session, *close_open(session, ctx, member, "received", transfer.transfer_id))

    return on_transfer(session, ctx, transfer_id, "to", act, BOTH)


def return_receipt(session: Session, ctx: Context, transfer_id: str) -> Recorded:
    """The receipt (回执) goes from the receiving committee straight to the sender."""
    return on_transfer(session, ctx, transfer_id, "to", lambda t, _m, _s: t.return_receipt(ctx), BOTH)
