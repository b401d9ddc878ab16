"""The rules that span aggregates (an aggregate's own rules live in its class), each a
named `check_*` raising a `LedgerError` before anything is recorded, over a `Session`."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from weakref import WeakKeyDictionary

from domain.base import Context
from domain.case import Case
from domain.errors import (
    BeforeLastEvent,
    ConfirmationDue,
    Conflict,
    DuplicateRegistration,
    InvalidTransition,
    NotFound,
    PerformanceRecordRequired,
    PeriodClosed,
    ProbationEnding,
)
from domain.identifiers import make_registration_no, member_id, registration_key
from domain.jurisdiction import Jurisdiction
from domain.ledger.session import Session
from domain.member import Member
from domain.organization import Organization

PROBATION_ENDING_DAYS = 90
PERFORMANCE_RECORD_AFTER_DAYS = 180


def jurisdiction(ctx: Context, session: Session) -> Jurisdiction:
    """The acting operator's rights (domain/jurisdiction.py), over the tree as the session
    has it."""
    return Jurisdiction(ctx.actor.organization_code, session.codes)


def check_scope(ctx: Context, session: Session, org: Organization) -> None:
    """An operator acts on its own organization and everything below it."""
    jurisdiction(ctx, session).check(org.code)


def held_member(ctx: Context, session: Session, registration_no: str) -> tuple[Member, Organization]:
    """A member the operator holds (where it is of record), with that organization. An
    unknown number is refused like a member outside the jurisdiction."""
    rights, member = known_member(ctx, session, registration_no)
    rights.check_member(member.registration_no, member.organization_code)
    return member, session.org(member.organization_code)


def known_member(ctx: Context, session: Session, registration_no: str) -> tuple[Jurisdiction, Member]:
    """The operator's rights and the member; an unknown number is refused as the rights say
    (`Jurisdiction.unknown`: like a member outside, below a root)."""
    rights = jurisdiction(ctx, session)
    try:
        return rights, session.member(registration_no)
    except NotFound as error:
        raise rights.unknown(error, f"member {registration_key(registration_no) or registration_no}") from None


def check_open_period(ctx: Context, session: Session, *orgs: Organization, filed: bool = True) -> None:
    """A filed month is frozen for the filing organization's whole subtree, and nothing
    is effective before the last restructuring (registration, move, dissolution) of
    any organization it touches or of their ancestors: reports see one tree per date.
    `filed=False` checks the restructurings only (a request's target, none of whose
    figures a request changes). A refusal names an ancestor only to an operator who may
    see it."""
    month = f"{ctx.on:%Y-%m}"

    def name(node: Organization, org: Organization) -> str:
        if node is org or jurisdiction(ctx, session).sees(node.code):
            return node.code
        return f"an organization above {org.code}"

    for org in orgs:
        for node in _chain(session, org):
            if filed and node.filed_months and node.filed_months[-1] >= month:
                raise PeriodClosed(
                    f"{name(node, org)} has filed {node.filed_months[-1]}: nothing may be "
                    f"recorded on {ctx.on} or earlier"
                )
            if ctx.on < node.last_on:
                raise BeforeLastEvent(
                    f"effective date {ctx.on} is before the last change to organization "
                    f"{name(node, org)} ({node.last_on})"
                )


# Each session's organization chains as `check_open_period` last walked them, by the code
# of the organization at their foot: a batch or a chunk of an import judges hundreds of
# commands on one session, most of them below the same few committees and departments.
_CHAINS: WeakKeyDictionary[Session, dict[str, list[Organization]]] = WeakKeyDictionary()


def _chain(session: Session, org: Organization) -> list[Organization]:
    """`session.chain(org)`, walked once a session: the chain kept from an earlier walk (the
    organization's, or an ancestor's below which this one's is walked) is taken as long as
    each of its links still holds, each node the session's own working copy and each parent
    code the next node's (a move, or a working copy replaced, walks the chain again)."""
    chains = _CHAINS.get(session)
    if chains is None:
        chains = _CHAINS[session] = {}
    walked: list[Organization] = []
    node: Organization | None = org
    while node is not None:
        kept = chains.get(node.code)
        if kept is not None and _linked(session, kept) and kept[0] is node:
            chain = walked + kept
            break
        walked.append(node)
        if len(walked) > 64:
            raise AssertionError(f"organization tree is cyclic at {org.code}")
        node = session.org(node.parent_code) if node.parent_code is not None else None
    else:
        chain = walked
    for i in range(len(walked)):
        chains[chain[i].code] = chain[i:]
    return chain


def _linked(session: Session, chain: list[Organization]) -> bool:
    by_id = session.by_id
    for node, parent in pairwise(chain):
        if by_id.get(node.id) is not node or node.parent_code != parent.code:
            return False
    return by_id.get(chain[-1].id) is chain[-1] and chain[-1].parent_code is None


def check_after_subtree_activity(ctx: Context, session: Session, org: Organization) -> None:
    """A restructuring can't be back-dated before what its members already did, nor before
    a certificate it hosts was issued, returned or closed (`last_member_on`)."""
    pending = [org]
    while pending:
        node = pending.pop()
        latest = [node.last_member_on] + [session.member(no).last_on for no in node.members]
        for day in latest:
            if day is not None and ctx.on < day:
                raise BeforeLastEvent(
                    f"effective date {ctx.on} is before events already recorded for members "
                    f"of {node.code} ({day})"
                )
        pending.extend(session.org(child) for child in node.children)


def check_probation(
    ctx: Context, member: Member, performance_record: str | None, override: str | None
) -> None:
    """Probation rules of seed 003 for a probationary member's transfer."""
    if member.status != "probationary" or member.probation_ends_on is None:
        return
    check_confirmation_due(ctx, member)
    if (member.probation_ends_on - ctx.on).days <= PROBATION_ENDING_DAYS and not (override or "").strip():
        raise ProbationEnding(
            f"probation ends on {member.probation_ends_on}, within {PROBATION_ENDING_DAYS} "
            "days: transfer after confirmation, or give probation_override_reason"
        )
    if (ctx.on - member.joined_on).days > PERFORMANCE_RECORD_AFTER_DAYS and not (
        performance_record or ""
    ).strip():
        raise PerformanceRecordRequired(
            f"more than {PERFORMANCE_RECORD_AFTER_DAYS} days into probation: the developing "
            "organization's performance_record goes with the member"
        )


def check_confirmation_due(ctx: Context, member: Member) -> None:
    """A member whose probation has ended is confirmed (or not) by the old
    organization before any letter goes out."""
    if member.status == "probationary" and member.probation_ends_on and ctx.on >= member.probation_ends_on:
        raise ConfirmationDue(
            f"probation ended on {member.probation_ends_on}: the organization confirms "
            "(or not) before any transfer"
        )


def duplicate_id(ctx: Context, session: Session, registration_no: str) -> DuplicateRegistration:
    """The refusal of a resident ID number already registered: its holder is named only to
    an operator who holds it."""
    holder = session.member(registration_no)
    if jurisdiction(ctx, session).holds(holder.organization_code):
        return DuplicateRegistration(
            f"this resident ID number already belongs to a living member ({registration_no})"
        )
    return DuplicateRegistration("this resident ID number already belongs to a living member")


def next_registration_no(session: Session, region: str, joined_on: date) -> str:
    """The first free registration number of the region and day."""
    for sequence in range(1, 1000):
        number = make_registration_no(region, joined_on, sequence)
        if not session.exists(member_id(number)):
            return number
    raise Conflict(f"all 999 registration numbers of region {region} on {joined_on} are used")


def hosts_on(ctx: Context, session: Session, member: Member) -> list[str]:
    """The hosts (organization codes) of the member's certificates valid on the day: issued
    by then, not yet past their validity, returned or closed."""
    hosts = []
    for event in session.events(member):
        if isinstance(event, Member.CertificateIssued):
            certificate = session.certificate(event.certificate_no)
            host = certificate.host_organization_code
            ends = min(day for day in (certificate.returned_on, certificate.closed_on, certificate.valid_until)
                       if day is not None)
            if host and certificate.issued_on <= ctx.on <= ends:
                hosts.append(host)
    return hosts


def home_or_host_member(
    ctx: Context, session: Session, registration_no: str, at: Organization | None = None,
) -> tuple[Member, Organization, list[str]]:
    """A member for org life or dues (DOMAIN.md §6: holders of a certificate attend the
    host's org life and pay dues there): the operator holds the member where it is of record,
    or is on the host's side (at or above the host, or below it; for org life at a place
    inside a host: holding that place) of one of its certificates valid that day. To anyone
    else the member is refused like an unknown one.
    Returns the member, its home and the hosts of that day."""
    rights, member = known_member(ctx, session, registration_no)
    home = session.org(member.organization_code)
    hosts = hosts_on(ctx, session, member)
    if not rights.holds(home.code):
        # the host's side, at or above a host or below it; org life at a place inside a host
        # only by one who holds that place, and never at the member's home (a place neither
        # home nor inside a host is the command's `member_not_held` to a caller who hosts)
        scope = ctx.actor.organization_code
        hosting = any(rights.holds(host) or (scope is not None and session.is_within(session.org(scope), host))
                      for host in hosts)
        if at is not None and any(session.is_within(at, host) for host in hosts):
            hosting = hosting and rights.holds(at.code)
        elif at is not None and at.code == home.code:
            hosting = False
        if not hosting:
            raise rights.refusal(f"member {member.registration_no}")
    return member, home, hosts


def check_placed(ctx: Context, session: Session, case: Case, registration_no: str | None) -> None:
    """A first-responder case is closed as `placed` only once the person it names is held
    by an organization and has attended org life on or after the day the case was opened
    (seed 003: until they can "参加一个党组织的活动"). The refusal is the same whether the
    number is unknown, the member elsewhere or not yet active: it reveals nothing."""
    if registration_no is None:
        raise InvalidTransition(
            f"case {case.case_id} names no member: give the registration_no of the person placed"
        )
    refusal = InvalidTransition(
        f"case {case.case_id} is not placed yet: the person must be held by an organization and "
        f"have attended org life on or after {case.opened_on}"
    )
    try:
        member = session.member(registration_no)
    except NotFound:
        raise refusal from None
    if member.place != "held":
        raise refusal
    for event in session.events(member):
        if isinstance(event, Member.OrgLifeAttended) and case.opened_on <= event.on <= ctx.on:  # type: ignore[attr-defined]
            return
    raise refusal
