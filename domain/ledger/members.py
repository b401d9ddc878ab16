"""Use cases on members (DOMAIN.md §4, §6): each checks its rules, then records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from domain.base import Context
from domain.errors import DuplicateRegistration, MemberNotHeld
from domain.idclaim import IdClaim
from domain.identifiers import (
    id_card_digest,
    id_claim_id,
    member_id,
    validate_id_card_no,
)
from domain.ledger.certificates import close_open
from domain.ledger.rules import (
    check_open_period,
    check_scope,
    duplicate_id,
    held_member,
    home_or_host_member,
    next_registration_no,
)
from domain.ledger.session import Recorded, Session
from domain.member import Member, one_year_after
from domain.organization import Organization

MemberAct = Callable[[Member, Organization, Session], None]


def enroll(
    session: Session, ctx: Context, *, event: type[Member.Enrolled], registration_no: str | None,
    organization_code: str, id_card_no: str, status: str, joined_on: date, household_region: str,
    **fields: Any,
) -> Recorded:
    """An admission or an import: a member of `organization_code`, its resident ID number
    claimed (unique among living members)."""
    org = session.org(organization_code)
    check_scope(ctx, session, org)
    org.check_can_hold()
    check_open_period(ctx, session, org)
    Member.checked_fields(ctx, {**fields, "status": status, "joined_on": joined_on,
                                "household_region": household_region})  # before any lookup
    digest = id_card_digest(validate_id_card_no(id_card_no), session.id_key)
    claim = None
    if session.exists(id_claim_id(digest)):
        claim = session.get(id_claim_id(digest), IdClaim, "id claim")
        if claim.registration_no is not None:
            raise duplicate_id(ctx, session, claim.registration_no)
    if registration_no is None:
        registration_no = next_registration_no(session, org.region, joined_on)
    elif session.exists(member_id(registration_no)):
        raise DuplicateRegistration(f"registration number {registration_no} is taken")

    member = session.add(Member.enroll(
        ctx, event, registration_no=registration_no, organization_code=org.code,
        id_digest=digest, status=status, joined_on=joined_on,
        probation_ends_on=one_year_after(joined_on) if status == "probationary" else None,
        household_region=household_region, **fields,
    ))
    org.attach_member(ctx, member.registration_no)
    if claim is None:
        session.add(IdClaim.claim(ctx, digest, member.registration_no))
    else:
        claim.reclaim(ctx, member.registration_no)
    return Recorded(0, registration_no=member.registration_no)


def on_member(session: Session, ctx: Context, registration_no: str, act: MemberAct) -> Recorded:
    """A command on a member the operator holds, in an open period of its organization."""
    member, org = held_member(ctx, session, registration_no)
    check_open_period(ctx, session, org)
    act(member, org, session)
    return Recorded(0, registration_no=member.registration_no)


def confirm(session: Session, ctx: Context, registration_no: str) -> Recorded:
    return on_member(session, ctx, registration_no, lambda m, _o, _s: m.confirm(ctx))


def _release(ctx: Context, member: Member, org: Organization, session: Session) -> None:
    org.detach_member(ctx, member.registration_no)
    session.get(id_claim_id(member.id_digest), IdClaim, "id claim").release(ctx)


def record_death(session: Session, ctx: Context, registration_no: str) -> Recorded:
    def act(member: Member, org: Organization, session: Session) -> None:
        member.die(ctx)
        _release(ctx, member, org, session)
        check_open_period(ctx, session, *close_open(session, ctx, member, "deceased"))

    return on_member(session, ctx, registration_no, act)


def record_leaving(session: Session, ctx: Context, registration_no: str, reason: str) -> Recorded:
    """Removal (expelled, withdrew, self-withdrawal) is always a clerk's explicit act."""

    def act(member: Member, org: Organization, session: Session) -> None:
        member.leave(ctx, reason)
        _release(ctx, member, org, session)
        check_open_period(ctx, session, *close_open(session, ctx, member, "left"))

    return on_member(session, ctx, registration_no, act)


def record_org_life(
    session: Session, ctx: Context, registration_no: str, organization_code: str
) -> Recorded:
    """Org life, at the member's own organization or, for a certificate holder, at the host
    of a certificate valid that day (or an organization below that host); recorded by the
    home side, or by the host's side for the members it hosts. Anywhere else is refused
    (`member_not_held`: the member is neither held nor hosted there)."""
    host = session.org(organization_code)
    member, home, hosts = home_or_host_member(ctx, session, registration_no, host)
    member.check_not_gone()
    host.check_active()
    if host.code != home.code and not any(session.is_within(host, code) for code in hosts):
        raise MemberNotHeld(
            f"member {member.registration_no} is neither held by {host.code} nor hosted there on "
            f"{ctx.on}: org life is recorded at {home.code} or at the host of a certificate valid that day"
        )
    check_open_period(ctx, session, home)

    member.attend_org_life(ctx, host.code)
    return Recorded(0, registration_no=member.registration_no)


def record_dues(session: Session, ctx: Context, registration_no: str, month: str, amount: Any) -> Recorded:
    """Dues, recorded by the home side, or by the host's side of a certificate valid that day."""
    member, home, _ = home_or_host_member(ctx, session, registration_no)
    check_open_period(ctx, session, home)
    member.pay_dues(ctx, month, amount)
    return Recorded(0, registration_no=member.registration_no)
