"""Members' own access (self-service, seed 002): a clerk issues or revokes a member's token
(`/v1/members/{registration_no}/access`); with it the member reads its own record, letter,
certificates and history, requests its own transfer and, as a mobile member, sends regular
reports (`/v1/me`), which the home side lists (`/v1/members/{registration_no}/reports`).

A member's token opens the /v1/me routes and nothing else (api/deps.py answers 403 on every
other route); an operator's token does not open /v1/me (403).
"""

from __future__ import annotations

from typing import Any

from api.deps import CurrentMember, CurrentOperator, ServicesDep
from api.routes.common import Limit, MinPosition, Offset, rights, router
from api.routes.members import MEMBER_ROLES, check_member_visible, member_public
from api.routes.transfers import public as transfer_public
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
from api.services import Services, member_history
from domain.member_access import MemberAccess

access_routes = router("/v1/members", "members")
routes = router("/v1/me", "me")


def report_public(registration_no: str, event: MemberAccess.ReportSent) -> dict[str, Any]:
    return {"registration_no": registration_no, "sent_on": event.on, "recorded_at": event.timestamp.isoformat(),
            "organization_code": event.organization_code, "certificate_no": event.certificate_no,
            "text": event.text}


# --- the home side: the token, the reports --------------------------------------------------------

@access_routes.post("/{registration_no}/access", status_code=201, response_model=MemberAccessCreated)
def issue_access(registration_no: str, services: ServicesDep, operator: CurrentOperator) -> Any:
    """A member's token, shown this once; it replaces the member's earlier one."""
    operator.require(*MEMBER_ROLES)
    recorded, token = services.ledger.issue_member_access(
        registration_no, actor=operator.actor, request_id=operator.request_id)
    return {"registration_no": recorded.registration_no, "token": token, "position": recorded.position}


@access_routes.post("/{registration_no}/access/revoke", response_model=MemberAccessRevoked)
def revoke_access(registration_no: str, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*MEMBER_ROLES)
    recorded = services.ledger.revoke_member_access(
        registration_no, actor=operator.actor, request_id=operator.request_id)
    return {"registration_no": recorded.registration_no, "active": False, "position": recorded.position}


@access_routes.get("/{registration_no}/reports", response_model=ReportsPublic)
def list_reports(registration_no: str, services: ServicesDep, operator: CurrentOperator,
                 limit: Limit = 100, offset: Offset = 0) -> Any:
    """The member's regular reports sent to organizations in the operator's subtree, oldest first."""
    check_member_visible(services, operator, registration_no)
    decide = rights(services, operator)
    number = services.ledger.member(registration_no).registration_no
    found = [e for e in services.ledger.member_reports(number) if decide.holds(e.organization_code)]
    return {"data": [report_public(number, e) for e in found[offset:offset + limit]], "count": len(found)}


# --- the member -----------------------------------------------------------------------------------

def me_public(services: Services, registration_no: str) -> dict[str, Any]:
    """The member's record and place, its open transfer with the letter, its open certificates."""
    ledger = services.ledger
    record = member_public(services, registration_no)
    member = ledger.member(registration_no)
    transfer = ledger.transfer(member.transfer_id) if member.transfer_id else None
    codes = [member.organization_code, *([transfer.from_organization_code, transfer.to_organization_code]
                                         if transfer else [])]
    with services.queries() as queries:
        names = queries.organization_names(codes)
    own = None
    if transfer is not None:
        own = {"transfer_id": transfer.transfer_id, "status": transfer.status, "letter_no": transfer.letter_no,
               "valid_until": transfer.valid_until, "from_organization_code": transfer.from_organization_code,
               "from_organization_name": names.get(transfer.from_organization_code, ""),
               "to_organization_code": transfer.to_organization_code,
               "to_organization_name": names.get(transfer.to_organization_code, ""),
               "requested_on": transfer.requested_on, "issued_on": transfer.issued_on}
    return {**record, "organization_name": names.get(member.organization_code, ""), "transfer": own,
            "certificates": [c.summary() for c in ledger.open_certificates(registration_no)]}


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
