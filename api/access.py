"""Who may read and act on what, for the API and the web pages alike: the roles each kind
of command needs and every jurisdiction check of a read. The decisions themselves are the
domain's (domain/jurisdiction.py); this module finds the records they are about."""

from __future__ import annotations

from api.deps import Caller
from api.services import Services
from domain.errors import NotFound
from domain.identifiers import registration_key
from domain.jurisdiction import ACT, AUDIT, MANAGE, Jurisdiction

# The roles each kind of command needs: the domain's (domain/jurisdiction.py), by resource.
ADMIN_ROLES = MANAGE  # organizations, operators, filing a month
TRANSFER_ROLES = ACT
MEMBER_ROLES = ACT
CERTIFICATE_ROLES = ACT
CASE_ROLES = ACT
AUDIT_ROLES = AUDIT  # the operators list


def rights(services: Services, operator: Caller) -> Jurisdiction:
    """The operator's jurisdiction: the one place that decides (domain/jurisdiction.py)."""
    return services.ledger.jurisdiction(operator.organization_code)


def check_within(services: Services, operator: Caller, code: str) -> None:
    """Reads, like commands, stay inside the operator's subtree (NotFound if unknown)."""
    rights(services, operator).check(code)


def within_or_above(services: Services, operator: Caller, code: str) -> None:
    """An organization inside the subtree, or one of the operator's own ancestors."""
    rights(services, operator).check_sees(code)


def list_scope(services: Services, operator: Caller, code: str | None) -> str:
    """The organization a list is about: `code`, or the operator's own; within its subtree."""
    chosen = code or operator.organization_code
    check_within(services, operator, chosen)
    return chosen


def check_member_visible(services: Services, operator: Caller, registration_no: str) -> None:
    """A member is visible where it is of record, to the receiving side of its open
    transfer, and where it was ever held (for history): domain/jurisdiction.py decides;
    an unknown number is refused like a member outside."""
    scope, decide = operator.organization_code, rights(services, operator)
    try:
        member = services.ledger.member(registration_no)
    except NotFound as error:
        raise decide.unknown(error, f"member {registration_key(registration_no) or registration_no}") from None
    receiving = services.ledger.transfer(member.transfer_id).to_organization_code if member.transfer_id else None

    def ever_held() -> bool:
        with services.queries() as queries:
            return queries.ever_held_within(member.registration_no, scope)

    decide.check_member_read(member.registration_no, member.organization_code, receiving, ever_held)


def check_transfer_visible(services: Services, operator: Caller, transfer_id: str) -> None:
    """Both sides read a transfer (domain/jurisdiction.py)."""
    transfer = services.ledger.transfer(transfer_id)
    sides = [transfer.from_organization_code, transfer.to_organization_code, transfer.received_in_code]
    rights(services, operator).check_transfer_read(transfer_id, sides)


def check_certificate_visible(services: Services, operator: Caller, certificate_no: str) -> None:
    """The home side or the host's (domain/jurisdiction.py); an unknown number is refused
    like a certificate outside."""
    decide = rights(services, operator)
    try:
        certificate = services.ledger.certificate(certificate_no)
    except NotFound as error:
        raise decide.unknown(error, f"certificate {certificate_no}") from None
    decide.check_certificate_read(
        certificate.certificate_no, certificate.home_organization_code, certificate.host_organization_code)


def check_case_visible(services: Services, operator: Caller, case_id: str) -> None:
    """A case is read in the subtree of the organization that owns it."""
    case = services.ledger.case(case_id)
    rights(services, operator).check(case.organization_code, f"case {case.case_id}")  # names no organization


def check_root_auditor(services: Services, operator: Caller) -> None:
    """The whole event stream, the access log and the verification: an auditor or admin of a root."""
    operator.require("auditor", "admin")
    rights(services, operator).check_root()
