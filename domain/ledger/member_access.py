"""Use cases of a member's own access (seed 002): a clerk issues or revokes the member's
token; with it the member requests a transfer of their own (judged by the same rules as a
branch's request, the member acting as of their own organization) and, as a mobile member,
sends regular reports home."""

from __future__ import annotations

from dataclasses import replace

import domain.ledger.transfers as transfers
from domain.base import Actor, Context
from domain.certificate import Certificate
from domain.errors import InvalidTransition, MobileCertificateRequired
from domain.ledger.rules import held_member
from domain.ledger.session import Recorded, Session
from domain.member import Member
from domain.member_access import MemberAccess, access_id, token_digest


def member_actor(member: Member) -> Actor:
    """Who acts when a member acts: the member, as of the organization it is of record in."""
    return Actor(id=f"member:{member.registration_no}", organization_code=member.organization_code)


def access(session: Session, registration_no: str) -> MemberAccess | None:
    key = access_id(registration_no)
    return session.get(key, MemberAccess, f"access of member {registration_no}") if session.exists(key) else None


def issue(session: Session, ctx: Context, registration_no: str, token: str) -> Recorded:
    """By the side that holds the member; a new token replaces the earlier one."""
    member, _ = held_member(ctx, session, registration_no)
    member.check_not_gone()
    found = access(session, member.registration_no)
    if found is None:
        session.add(MemberAccess.open(ctx, member.registration_no, token))
    else:
        found.issue(ctx, token)
    return Recorded(0, registration_no=member.registration_no, code=token_digest(token))


def revoke(session: Session, ctx: Context, registration_no: str) -> Recorded:
    member, _ = held_member(ctx, session, registration_no)
    found = access(session, member.registration_no)
    if found is None:
        raise InvalidTransition(f"member {member.registration_no} has no working token")
    found.revoke(ctx)
    return Recorded(0, registration_no=member.registration_no)


def request_own_transfer(
    session: Session, ctx: Context, registration_no: str, to_organization_code: str, *,
    reason: str, basis: str, evidence: dict[str, str] | None, performance_record: str | None,
    probation_override_reason: str | None,
) -> Recorded:
    """The member's own request (党员自转移): a request like the branch's, then issued or
    declined by the sending side as any other."""
    member = session.member(registration_no)
    own = replace(ctx, actor=member_actor(member))
    return transfers.request(
        session, own, member.registration_no, to_organization_code, reason=reason, basis=basis,
        evidence=evidence, performance_record=performance_record,
        probation_override_reason=probation_override_reason,
    )


def open_mobile_certificate(session: Session, member: Member) -> Certificate | None:
    """The member's open mobile member certificate, if any (the latest issued)."""
    found = None
    for event in session.events(member):
        if isinstance(event, Member.CertificateIssued):
            certificate = session.certificate(event.certificate_no)
            if certificate.kind == "mobile" and certificate.status == "issued":
                found = certificate
    return found


def check_mobile(session: Session, member: Member) -> Certificate:
    """Regular reports are a mobile member's: one holding an open mobile certificate."""
    member.check_not_gone()
    certificate = open_mobile_certificate(session, member)
    if certificate is None:
        raise MobileCertificateRequired(
            f"member {member.registration_no} holds no open mobile member certificate: regular "
            "reports are sent by mobile members"
        )
    return certificate


def send_report(session: Session, ctx: Context, registration_no: str, text: str) -> Recorded:
    member = session.member(registration_no)
    certificate = check_mobile(session, member)
    found = access(session, member.registration_no)
    if found is None:
        raise InvalidTransition(f"member {member.registration_no} has no working token")
    found.send_report(replace(ctx, actor=member_actor(member)), text, member.organization_code,
                      certificate.certificate_no)
    return Recorded(0, registration_no=member.registration_no, certificate_no=certificate.certificate_no)
