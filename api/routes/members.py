"""Members: admit or import, read (with flags), history, confirm, death, leave, activity."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.deps import CurrentOperator, Operator, ServicesDep
from api.routes.common import Limit, MinPosition, Offset, rights, router
from api.schemas import DuesRequest, HistoryPublic, LeaveRequest, MemberCreate, MemberPublic, OnRequest, OrgLifeRequest
from api.services import Services
from domain.errors import NotFound
from domain.ledger import Ledger
from projections.history import event_data, event_type
from projections.queries import Queries

routes = router("/v1/members", "members")

MEMBER_ROLES = ("admin", "clerk")


def check_member_visible(services: Services, operator: Operator, registration_no: str) -> None:
    """A member is visible where it is of record, to the receiving side of its open
    transfer, and where it was ever held (for history): domain/jurisdiction.py decides;
    an unknown number is refused like a member outside."""
    scope, decide = operator.organization_code, rights(services, operator)
    try:
        member = services.ledger.member(registration_no)
    except NotFound as error:
        raise decide.unknown(error, f"member {registration_no}") from None
    receiving = services.ledger.transfer(member.transfer_id).to_organization_code if member.transfer_id else None

    def ever_held() -> bool:
        with services.queries() as queries:
            return queries.ever_held_within(member.registration_no, scope)

    decide.check_member_read(member.registration_no, member.organization_code, receiving, ever_held)


def member_public(services: Services, registration_no: str, position: int | None = None) -> dict[str, Any]:
    member = services.ledger.member(registration_no)
    today = services.ledger.today()
    flags = []
    if member.status == "probationary" and member.probation_ends_on and today >= member.probation_ends_on:
        flags.append("confirmation_due")
    if member.place == "in_transit":
        transfer = services.ledger.transfer(member.transfer_id) if member.transfer_id else None
        if transfer and transfer.valid_until and today > transfer.valid_until:
            flags.append("overdue_letter")
    if not member.is_gone:
        with services.queries() as queries:
            rows, _ = queries.member_flags(member.registration_no, today)
            if queries.is_bounced(member.registration_no, today):
                rows.add("bounced")
        flags.extend(sorted(rows))
    flags = list(dict.fromkeys(flags))  # each flag once (an overdue letter is found both ways)
    return {
        "registration_no": member.registration_no, "name": member.name, "status": member.status,
        "probation_ends_on": member.probation_ends_on,
        "place": {"kind": member.place, "organization_code": member.organization_code,
                  "transfer_id": member.transfer_id},
        "flags": flags, "gender": member.gender, "category": member.category, "joined_on": member.joined_on,
        "origin": member.origin, "position": position,
    }


@routes.post("", status_code=201, response_model=MemberPublic)
def create_member(body: MemberCreate, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    fields: dict[str, Any] = body.model_dump(exclude={"registration_no", "status", "organization_code", "on"})
    common: dict[str, Any] = {"actor": operator.actor, "on": body.on, "request_id": operator.request_id}
    if body.registration_no is None and body.status == "probationary":
        recorded = services.ledger.admit_member(body.organization_code, **fields, **common)
    else:
        recorded = services.ledger.import_member(
            body.organization_code, registration_no=body.registration_no, status=body.status, **fields, **common
        )
    assert recorded.registration_no is not None
    return member_public(services, recorded.registration_no, recorded.position)


@routes.get("/{registration_no}", response_model=MemberPublic)
def get_member(registration_no: str, services: ServicesDep, operator: CurrentOperator,
               min_position: MinPosition = None) -> Any:
    if min_position:
        services.wait_for(min_position)
    check_member_visible(services, operator, registration_no)
    answer = member_public(services, registration_no)
    services.record_access(operator, "member", registration_no=answer["registration_no"])
    return answer


def member_history(ledger: Ledger, queries: Queries, registration_no: str,
                   limit: int = 1000, offset: int = 0) -> dict[str, Any]:
    """A member's history, oldest first, as `{data, count}` (also the CLI's `ledger history`)."""
    number = ledger.member(registration_no).registration_no
    rows, count = queries.history_entries(number, limit, offset)
    events: dict[str, dict[int, Any]] = {}
    for aggregate_id in {row[1] for row in rows}:  # one read of the store per aggregate
        events[aggregate_id] = {e.originator_version: e for e in ledger.aggregate_events(UUID(aggregate_id))}
    data = []
    for position, aggregate_id, version in rows:
        event = events[aggregate_id][version]
        data.append({"position": position, "type": event_type(event), "on": event.on.isoformat(),
                     "recorded_at": event.timestamp.isoformat(), "actor": event.actor,
                     "actor_organization": event.actor_organization, "request_id": event.request_id,
                     "data": event_data(event)})
    return {"data": data, "count": count}


def visible_history(registration_no: str, services: Services, operator: Operator,
                    limit: int = 1000, offset: int = 0, min_position: int | None = None) -> dict[str, Any]:
    """A member's history for an operator who may see it (else refused), not logged."""
    check_member_visible(services, operator, registration_no)
    with services.queries(min_position) as queries:
        return member_history(services.ledger, queries, registration_no, limit, offset)


@routes.get("/{registration_no}/history", response_model=HistoryPublic)
def history(registration_no: str, services: ServicesDep, operator: CurrentOperator,
            limit: Limit = 1000, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    answer = visible_history(registration_no, services, operator, limit, offset, min_position)
    services.record_access(operator, "history", registration_no=services.ledger.member(registration_no)
                           .registration_no)
    return answer


@routes.post("/{registration_no}/confirm", response_model=MemberPublic)
def confirm(registration_no: str, body: OnRequest, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.confirm_member(
        registration_no, actor=operator.actor, on=body.on, request_id=operator.request_id)
    return member_public(services, registration_no, recorded.position)


@routes.post("/{registration_no}/death", response_model=MemberPublic)
def death(registration_no: str, body: OnRequest, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.record_death(
        registration_no, actor=operator.actor, on=body.on, request_id=operator.request_id)
    return member_public(services, registration_no, recorded.position)


@routes.post("/{registration_no}/leave", response_model=MemberPublic)
def leave(registration_no: str, body: LeaveRequest, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.record_leaving(
        registration_no, body.reason, actor=operator.actor, on=body.on, request_id=operator.request_id)
    return member_public(services, registration_no, recorded.position)


@routes.post("/{registration_no}/org-life", response_model=MemberPublic)
def org_life(registration_no: str, body: OrgLifeRequest, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.record_org_life(
        registration_no, body.organization_code, actor=operator.actor, on=body.on, request_id=operator.request_id)
    return member_public(services, registration_no, recorded.position)


@routes.post("/{registration_no}/dues", response_model=MemberPublic)
def dues(registration_no: str, body: DuesRequest, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.record_dues(
        registration_no, body.month, str(body.amount), actor=operator.actor, on=body.on,
        request_id=operator.request_id)
    return member_public(services, registration_no, recorded.position)
