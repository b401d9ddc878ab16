"""The bodies of the API's answers, built from the Ledger's records: a route parses,
authorizes, calls the Ledger and hands the result here. `position` is the global position
of what a command recorded (None on a read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from api.schemas import OrganizationPublic
from api.services import Services
from domain.flags import member_flags
from domain.ledger.session import Recorded
from domain.member_access import MemberAccess

T = TypeVar("T")


def transfer_public(services: Services, transfer_id: str, position: int | None = None) -> dict[str, Any]:
    if position is not None:  # a command's answer: the transfer as the command saved it
        return {**services.ledger.recorded_transfer(transfer_id), "position": position}
    return {**services.ledger.transfer(transfer_id).summary(), "position": position}


def certificate_public(services: Services, certificate_no: str, position: int | None = None) -> dict[str, Any]:
    return {**services.ledger.certificate(certificate_no).summary(), "position": position}


def case_public(services: Services, case_id: str, position: int | None = None) -> dict[str, Any]:
    return {**services.ledger.case(case_id).summary(services.ledger.today()), "position": position}


def organization_public(services: Services, code: str, position: int | None = None) -> OrganizationPublic:
    return OrganizationPublic(**services.ledger.organization(code).summary(), position=position)


def operator_public(services: Services, operator_id: str, position: int | None = None) -> dict[str, Any]:
    found = services.ledger.operator(operator_id)
    granted, revoked = getattr(found, "granted_on", None), getattr(found, "revoked_on", None)  # (older snapshots)
    return {"operator_id": str(found.id), "name": found.name, "role": found.role,
            "organization_code": found.organization_code, "active": found.active,
            "granted_on": granted.isoformat() if granted else None,
            "revoked_on": revoked.isoformat() if revoked else None, "position": position}


def member_public(services: Services, registration_no: str, position: int | None = None) -> dict[str, Any]:
    """The member's record, place and flags: those read off its own state (domain/flags.py),
    then those the views find, each once."""
    member = services.ledger.member(registration_no)
    today = services.ledger.today()
    open_transfer = member.transfer_id if member.place == "in_transit" else None
    flags = member_flags(member, services.ledger.transfer(open_transfer) if open_transfer else None, today)
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


def report_public(registration_no: str, event: MemberAccess.ReportSent) -> dict[str, Any]:
    """A mobile member's regular report as sent."""
    return {"registration_no": registration_no, "sent_on": event.on, "recorded_at": event.timestamp.isoformat(),
            "organization_code": event.organization_code, "certificate_no": event.certificate_no,
            "text": event.text}


def access_issued(recorded: Recorded, token: str) -> dict[str, Any]:
    """A member's new token, shown this once."""
    return {"registration_no": recorded.registration_no, "token": token, "position": recorded.position}


def access_revoked(recorded: Recorded) -> dict[str, Any]:
    return {"registration_no": recorded.registration_no, "active": False, "position": recorded.position}


def month_filed(code: str, month: str, recorded: Recorded) -> dict[str, Any]:
    return {"organization_code": code, "month": month, "filed": True, "position": recorded.position}


def located(services: Services, registration_no: str, place_kind: str, code: str) -> dict[str, Any]:
    """Where a member's relationship is: the organization and its committee, by name; nothing personal."""
    committee = services.ledger.committee_of(code)
    with services.queries() as queries:
        names = queries.organization_names([code, committee])
    return {"registration_no": registration_no, "place_kind": place_kind, "organization_code": code,
            "organization_name": names.get(code), "committee_code": committee,
            "committee_name": names.get(committee)}


def page_of(items: list[T], offset: int, limit: int, present: Callable[[T], Any]) -> dict[str, Any]:
    """A page of a list held whole, each item of the page presented: `{data, count}`."""
    return {"data": [present(item) for item in items[offset:offset + limit]], "count": len(items)}
