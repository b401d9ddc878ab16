"""Use cases on certificates (DOMAIN.md §6): each checks its rules, then records."""

from __future__ import annotations

from datetime import date

from domain.base import Context
from domain.certificate import Certificate
from domain.errors import NotFound, SameOrganization
from domain.ledger.rules import check_open_period, held_member, jurisdiction
from domain.ledger.session import Recorded, Session
from domain.member import Member
from domain.organization import Organization


def issue(
    session: Session, ctx: Context, registration_no: str, *, kind: str, purpose: str,
    valid_until: date, host_organization_code: str | None, host_description: str | None,
    contact_person: str | None,
) -> Recorded:
    member, home = held_member(ctx, session, registration_no)
    member.check_held()
    member.check_no_open_certificate()
    sides = [home]
    if host_organization_code:
        host = session.org(host_organization_code)
        host.check_active()
        if host.code == home.code:
            raise SameOrganization("the host is the member's own organization")
        sides.append(host)
    check_open_period(ctx, session, *sides)
    committee = session.committee_of(home)
    prefix = "T" if kind == "temporary" else "M"

    number = committee.take_number(ctx, f"certificate-{ctx.on.year}", member.registration_no)
    certificate = session.add(Certificate.issue(
        ctx, certificate_no=f"{committee.code}-{prefix}{ctx.on.year}-{number:05d}",
        kind=kind, registration_no=member.registration_no, home_organization_code=home.code,
        host_organization_code=host_organization_code or None,
        host_description=(host_description or "").strip() or None,
        purpose=(purpose or "").strip(), contact_person=(contact_person or "").strip() or None,
        valid_until=valid_until,
    ))
    member.note_certificate(ctx, certificate.certificate_no)
    for host in sides[1:]:  # the host's figure changes: its subtree can't move before this
        host.note_hosting(ctx, certificate.certificate_no)
    return Recorded(0, registration_no=member.registration_no, certificate_no=certificate.certificate_no)


def close_open(session: Session, ctx: Context, member: Member, reason: str,
               transfer_id: str | None = None) -> list[Organization]:
    """Close the member's open certificate(s) in the save that moves or ends the member's
    relationship (a formal transfer's receipt, a death, a leaving), so that no certificate
    counts a member who is no longer of record at its home. Returns the organizations whose
    figures change (homes and hosts), for the caller's open-period check."""
    touched: list[Organization] = []
    for certificate_no in member.open_certificates:
        certificate = session.certificate(certificate_no)
        certificate.close(ctx, reason, transfer_id)
        member.note_certificate_closed(ctx, certificate_no)
        touched.append(session.org(certificate.home_organization_code))
        if certificate.host_organization_code:
            host = session.org(certificate.host_organization_code)
            host.note_hosting(ctx, certificate_no)
            touched.append(host)
    return touched


def return_(session: Session, ctx: Context, certificate_no: str) -> Recorded:
    rights = jurisdiction(ctx, session)
    try:
        certificate = session.certificate(certificate_no)
    except NotFound as error:
        raise rights.unknown(error, f"certificate {certificate_no}") from None
    home = session.org(certificate.home_organization_code)
    host_code = certificate.host_organization_code
    if not (host_code is not None and rights.holds(host_code)):
        rights.check(home.code, f"certificate {certificate.certificate_no}")
    hosts = [session.org(host_code)] if host_code else []
    sides = [home, *hosts]
    check_open_period(ctx, session, *sides)

    certificate.return_(ctx)
    session.member(certificate.registration_no).note_certificate(
        ctx, certificate.certificate_no, returned=True)
    for host in hosts:
        host.note_hosting(ctx, certificate.certificate_no)
    return Recorded(0, registration_no=certificate.registration_no,
                    certificate_no=certificate.certificate_no)
