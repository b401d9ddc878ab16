"""Members' own access (self-service, seed 002): a clerk issues or revokes a member's token
(`/v1/members/{registration_no}/access`); with it the member reads its own record, letter,
certificates and history, requests its own transfer and, as a mobile member, sends regular
reports (`/v1/me`), which the home side lists (`/v1/members/{registration_no}/reports`).

A member's token opens the /v1/me routes and nothing else (api/deps.py answers 403 on every
other route); an operator's token does not open /v1/me (403).
"""

from __future__ import annotations

from typing import Any

from api.access import MEMBER_ROLES, check_member_visible, rights
from api.deps import CurrentCaller, CurrentMember, ServicesDep
from api.presenters import access_issued, access_revoked, me_public, page_of, report_public, transfer_public
from api.routes.common import Limit, MinPosition, Offset, command, router
from api.schemas import (
    HistoryPublic,
    MemberAccessCreated,
    MemberAccessRevoked,
    MePublic,
    OwnTransferCreate,
    ReportCreate,
    ReportPublic,
    ReportsPublic,
    TransferPublic,
)
from api.services import member_history

access_routes = router("/v1/members", "members")
routes = router("/v1/me", "me")


# --- the home side: the token, the reports --------------------------------------------------------

@access_routes.post("/{registration_no}/access", status_code=201, response_model=MemberAccessCreated)
def issue_access(registration_no: str, services: ServicesDep, operator: CurrentCaller) -> Any:
    """A member's token, shown this once; it replaces the member's earlier one."""
    recorded, token = command(operator, MEMBER_ROLES, services.ledger.issue_member_access, registration_no)
    return access_issued(recorded, token)


@access_routes.post("/{registration_no}/access/revoke", response_model=MemberAccessRevoked)
def revoke_access(registration_no: str, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, MEMBER_ROLES, services.ledger.revoke_member_access, registration_no)
    return access_revoked(recorded)


@access_routes.get("/{registration_no}/reports", response_model=ReportsPublic)
def list_reports(registration_no: str, services: ServicesDep, operator: CurrentCaller,
                 limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    """The member's regular reports sent to organizations in the operator's subtree, oldest first."""
    check_member_visible(services, operator, registration_no)
    decide = rights(services, operator)
    number = services.ledger.member(registration_no).registration_no
    found = [e for e in services.ledger.member_reports(number) if decide.holds(e.organization_code)]
    positions = report_positions(services, found)
    answer = page_of(found, offset, limit,
                     lambda e: {**report_public(number, e), "position": positions.get(e.originator_version)})
    services.record_access(operator, "reports", registration_no=number)  # the member's own words
    return answer


def report_positions(services: Any, reports: list[Any]) -> dict[int, int]:
    """The global positions of a member's reports (the events of one aggregate), by version."""
    if not reports:
        return {}
    sealer = services.sealer
    originator = reports[0].originator_id
    with services.pool.connection() as db:
        key = originator if db.kind == "postgres" else originator.hex  # as each store keeps it
        rows = db.query(f"SELECT originator_version, {sealer.column} FROM {sealer.events_table} "
                        "WHERE originator_id = ?", (key,))
    return {int(version): int(position) for version, position in rows}


# --- the member -----------------------------------------------------------------------------------

@routes.get("", response_model=MePublic)
def me(services: ServicesDep, member: CurrentMember, min_position: MinPosition = None) -> Any:
    answer = me_public(services, member.registration_no)
    services.record_access(member, "member", registration_no=member.registration_no)
    return answer


@routes.get("/history", response_model=HistoryPublic)
def my_history(services: ServicesDep, member: CurrentMember, limit: Limit = 1000, offset: Offset = 0,
               min_position: MinPosition = None) -> Any:
    with services.queries(min_position) as queries:
        answer = member_history(services.ledger, queries, member.registration_no, limit, offset)
    services.record_access(member, "history", registration_no=member.registration_no)
    return answer


@routes.post("/transfer-requests", status_code=201, response_model=TransferPublic)
def request_own_transfer(body: OwnTransferCreate, services: ServicesDep, member: CurrentMember) -> Any:
    """The member's own transfer request (党员自转移): the sending side then issues or declines it."""
    recorded = services.ledger.request_own_transfer(
        member.registration_no, body.to_organization_code, reason=body.reason, basis=body.basis,
        evidence=body.evidence.model_dump() if body.evidence else None,
        performance_record=body.performance_record, probation_override_reason=body.probation_override_reason,
        on=body.on, request_id=member.request_id,
    )
    assert recorded.transfer_id is not None
    return transfer_public(services, recorded.transfer_id, recorded.position)


@routes.post("/reports", status_code=201, response_model=ReportPublic)
def send_report(body: ReportCreate, services: ServicesDep, member: CurrentMember) -> Any:
    """A mobile member's regular report (定期汇报) to the home organization: only a member
    holding an open mobile member certificate sends one (409 `mobile_certificate_required`)."""
    recorded = services.ledger.send_member_report(member.registration_no, body.text, request_id=member.request_id)
    sent = next(e for e in reversed(services.ledger.member_reports(member.registration_no))
                if e.request_id == member.request_id)
    return {**report_public(member.registration_no, sent), "position": recorded.position}
