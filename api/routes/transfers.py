"""Transfers: request, issue, decline, receive, return the receipt, reject, cancel, extend;
read one or list them. The sending side acts on its members' transfers, the receiving
side on transfers addressed into its subtree; both sides may read a transfer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.access import TRANSFER_ROLES, check_transfer_visible, list_scope
from api.deps import Caller, CurrentCaller, ServicesDep
from api.presenters import transfer_public
from api.routes.common import LIST_TYPES, Limit, MinPosition, Offset, command, list_answer, router
from api.schemas import (
    ExtendRequest,
    IssueRequest,
    OnRequest,
    ReasonRequest,
    ReceiveRequest,
    TransferCreate,
    TransferPublic,
    TransfersPublic,
)
from api.services import Services
from api.web.letter import letter_facts, render_letter
from domain.identifiers import registration_key
from domain.ledger.session import Recorded
from domain.vocabulary import TransferStatus
from projections.queries import Queries

routes = router("/v1/transfers", "transfers")


@routes.post("", status_code=201, response_model=TransferPublic)
def request_transfer(body: TransferCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(
        operator, TRANSFER_ROLES, services.ledger.request_transfer,
        body.registration_no, body.to_organization_code, reason=body.reason, basis=body.basis,
        evidence=body.evidence.model_dump() if body.evidence else None,
        performance_record=body.performance_record, probation_override_reason=body.probation_override_reason,
        on=body.on,
    )
    assert recorded.transfer_id is not None
    return transfer_public(services, recorded.transfer_id, recorded.position)


@routes.get("", response_model=TransfersPublic, responses=LIST_TYPES)
def list_transfers(
    request: Request, services: ServicesDep, operator: CurrentCaller,
    status: Annotated[TransferStatus | None, Query()] = None,
    organization_code: Annotated[str | None, Query()] = None,
    letter_no: Annotated[str | None, Query()] = None,
    registration_no: Annotated[str | None, Query(description="as written, or in lower case")] = None,
    direction: Annotated[Literal["in", "out", "both"], Query(description="in, out or both")] = "both",
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    code = list_scope(services, operator, organization_code)
    with services.queries(min_position) as queries:
        rows, count = queries.transfers(code, status=status, letter_no=letter_no,
                                        registration_no=registration_key(registration_no) or registration_no,
                                        direction=direction, limit=limit, offset=offset)
    return list_answer(request, list(Queries.TRANSFER_COLUMNS), rows, count)


@routes.get("/{transfer_id}", response_model=TransferPublic)
def get_transfer(transfer_id: str, services: ServicesDep, operator: CurrentCaller,
                 min_position: MinPosition = None) -> Any:
    check_transfer_visible(services, operator, transfer_id)
    return transfer_public(services, transfer_id)


@routes.get("/{transfer_id}/letter", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the letter, printable on A4"}})
def letter(transfer_id: str, services: ServicesDep, operator: CurrentCaller,
           min_position: MinPosition = None) -> HTMLResponse:
    """The printable letter (介绍信) with its stub (存根) and receipt (回执); either side may
    print it, as either side may read the transfer. 409 invalid_transition before issue."""
    check_transfer_visible(services, operator, transfer_id)
    facts = letter_facts(services, transfer_id)
    services.record_access(operator, "letter", registration_no=facts["registration_no"])
    return HTMLResponse(render_letter(facts))


# The commands on one transfer: each answers the transfer as it stands after it.

def acted_on(services: Services, operator: Caller, run: Callable[..., Recorded], transfer_id: str, *args: Any,
             **fields: Any) -> dict[str, Any]:
    """A command of an admin or clerk on one transfer, answered with the transfer after it."""
    recorded = command(operator, TRANSFER_ROLES, run, transfer_id, *args, **fields)
    return transfer_public(services, transfer_id, recorded.position)


@routes.post("/{transfer_id}/issue", response_model=TransferPublic)
def issue(transfer_id: str, services: ServicesDep, operator: CurrentCaller,
          body: IssueRequest | None = None) -> Any:
    body = body or IssueRequest()  # every field has its default: a POST without a body issues for 30 days
    return acted_on(services, operator, services.ledger.issue_letter, transfer_id, body.valid_days, on=body.on)


@routes.post("/{transfer_id}/decline", response_model=TransferPublic)
def decline(transfer_id: str, body: ReasonRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.decline_transfer, transfer_id, body.reason, on=body.on)


@routes.post("/{transfer_id}/receive", response_model=TransferPublic)
def receive(transfer_id: str, body: ReceiveRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.receive_member, transfer_id, body.organization_code,
                    body.late_certificate, presented_by=body.presented_by, agent_name=body.agent_name, on=body.on)


@routes.post("/{transfer_id}/return-receipt", response_model=TransferPublic)
def return_receipt(transfer_id: str, services: ServicesDep, operator: CurrentCaller,
                   body: OnRequest | None = None) -> Any:
    return acted_on(services, operator, services.ledger.return_receipt, transfer_id, on=body.on if body else None)


@routes.post("/{transfer_id}/reject", response_model=TransferPublic)
def reject(transfer_id: str, body: ReasonRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.reject_transfer, transfer_id, body.reason, on=body.on)


@routes.post("/{transfer_id}/cancel", response_model=TransferPublic)
def cancel(transfer_id: str, body: ReasonRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.cancel_transfer, transfer_id, body.reason, on=body.on)


@routes.post("/{transfer_id}/extend", response_model=TransferPublic)
def extend(transfer_id: str, body: ExtendRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.extend_letter, transfer_id, body.valid_until, on=body.on)
