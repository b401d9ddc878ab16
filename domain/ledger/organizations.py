"""Use cases on organizations (DOMAIN.md §3): each checks its rules, then records."""

from __future__ import annotations

from domain.base import Context
from domain.errors import Conflict, OutOfJurisdiction, TransferOpen, ValidationError
from domain.identifiers import organization_id
from domain.ledger.certificates import close_open
from domain.ledger.rules import check_after_subtree_activity, check_open_period, check_scope
from domain.ledger.session import Recorded, Session
from domain.organization import Organization


def register(
    session: Session, ctx: Context, code: str, name: str, kind: str, parent_code: str | None,
    region: str,
) -> Recorded:
    parent = None
    if parent_code is None:
        if ctx.actor.organization_code is not None:
            raise OutOfJurisdiction("only set-up registers a root department")
    else:
        parent = session.org(parent_code)
        check_scope(ctx, session, parent)
        check_open_period(ctx, session, parent)
    if isinstance(code, str) and session.exists(organization_id(code)):
        raise Conflict(f"organization code {code!r} is taken")
    session.add(Organization.register(ctx, code, name, kind, parent, region))
    return Recorded(0, code=code)


def dissolve(session: Session, ctx: Context, code: str, successor_code: str) -> Recorded:
    org, successor = session.org(code), session.org(successor_code)
    check_restructuring(ctx, session, org, successor,
                        "the successor can't sit inside the dissolved organization")
    members = [session.member(no) for no in sorted(org.members)]
    for member in members:
        if member.transfer_id is not None:
            raise TransferOpen(
                f"member {member.registration_no} has open transfer {member.transfer_id}: "
                "finish, decline or cancel it before dissolving"
            )
    if members:
        successor.check_can_hold()
    children = [session.org(child) for child in sorted(org.children)]

    org.dissolve(ctx, successor)
    touched = []
    for member in members:
        # a certificate the dissolved organization issued ends with it, as when a member
        # is received elsewhere: the successor issues its own
        touched += close_open(session, ctx, member, "dissolved")
        member.move_on_dissolution(ctx, successor.code)
        org.detach_member(ctx, member.registration_no)
        successor.attach_member(ctx, member.registration_no)
    for child in children:
        if child.status != "active":
            continue
        child.move(ctx, successor, cause="dissolution")
        org.detach_child(ctx, child.code)
        successor.attach_child(ctx, child.code)
    check_open_period(ctx, session, *touched)  # the certificates' hosts
    return Recorded(0, code=code)


def move(session: Session, ctx: Context, code: str, parent_code: str) -> Recorded:
    """Whole-organization transfer (整建制转移): its members move with it."""
    org, new_parent = session.org(code), session.org(parent_code)
    check_restructuring(ctx, session, org, new_parent, "an organization can't move under its own subtree")
    old_parent = session.org(org.parent_code) if org.parent_code else None

    org.move(ctx, new_parent)
    if old_parent is not None:
        old_parent.detach_child(ctx, org.code)
    new_parent.attach_child(ctx, org.code)
    return Recorded(0, code=code)


def check_restructuring(ctx: Context, session: Session, org: Organization, other: Organization,
                        inside: str) -> None:
    """A dissolution or a move: both organizations held, the other (the successor or the new
    parent) not inside `org` (refused with `inside`), the period open for both, and nothing
    back-dated before what `org`'s members already did."""
    check_scope(ctx, session, org)
    check_scope(ctx, session, other)
    if session.is_within(other, org.code):
        raise ValidationError(inside)
    check_open_period(ctx, session, org, other)
    check_after_subtree_activity(ctx, session, org)


def file_month(session: Session, ctx: Context, code: str, month: str) -> Recorded:
    """Filing (报送) freezes a month and every earlier one for the subtree."""
    org = session.org(code)
    check_scope(ctx, session, org)

    org.file_month(ctx, month)
    return Recorded(0, code=code)
