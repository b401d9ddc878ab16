"""Temporary and mobile member certificates: issue, return, read one, list a subtree's
from the home side or the host's (the members it hosts, seed 004)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from api.deps import CurrentOperator, Operator, ServicesDep
from api.routes.common import Limit, MinPosition, Offset, check_within, rights, router
from api.schemas import CertificateCreate, CertificatePublic, CertificatesPublic, OnRequest
from api.services import Services
from domain.errors import NotFound

routes = router("/v1/certificates", "certificates")


def public(services: Services, certificate_no: str, position: int | None = None) -> dict[str, Any]:
    return {**services.ledger.certificate(certificate_no).summary(), "position": position}


def check_visible(services: Services, operator: Operator, certificate_no: str) -> None:
    """The home side or the host's (domain/jurisdiction.py); an unknown number is refused
    like a certificate outside."""
    decide = rights(services, operator)
    try:
        certificate = services.ledger.certificate(certificate_no)
    except NotFound as error:
        raise decide.unknown(error, f"certificate {certificate_no}") from None
    decide.check_certificate_read(
        certificate.certificate_no, certificate.home_organization_code, certificate.host_organization_code)


@routes.post("", status_code=201, response_model=CertificatePublic)
def issue_certificate(body: CertificateCreate, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require("admin", "clerk")
    recorded = services.ledger.issue_certificate(
        body.registration_no, kind=body.kind, purpose=body.purpose, valid_until=body.valid_until,
        host_organization_code=body.host_organization_code, host_description=body.host_description,
        contact_person=body.contact_person, actor=operator.actor, on=body.on, request_id=operator.request_id,
    )
    assert recorded.certificate_no is not None
    return public(services, recorded.certificate_no, recorded.position)


@routes.post("/{certificate_no}/return", response_model=CertificatePublic)
def return_certificate(certificate_no: str, services: ServicesDep, operator: CurrentOperator,
                       body: OnRequest | None = None) -> Any:
    operator.require("admin", "clerk")
    recorded = services.ledger.return_certificate(
        certificate_no, actor=operator.actor, on=body.on if body else None, request_id=operator.request_id)
    return public(services, certificate_no, recorded.position)


@routes.get("", response_model=CertificatesPublic)
def list_certificates(
    services: ServicesDep, operator: CurrentOperator,
    organization_code: Annotated[str | None, Query(description="default: the operator's organization")] = None,
    kind: Annotated[Literal["temporary", "mobile"] | None, Query()] = None,
    status: Annotated[Literal["open", "returned", "closed"] | None, Query()] = None,
    side: Annotated[Literal["home", "host"] | None, Query(
        description="home: members of the subtree away; host: members the subtree hosts; default both")] = None,
    registration_no: Annotated[str | None, Query()] = None,
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    """The certificates whose home (or host, or either) lies in the organization's subtree."""
    code = organization_code or operator.organization_code
    check_within(services, operator, code)
    with services.queries(min_position) as queries:
        rows, count = queries.certificates(code, kind=kind, status=status, side=side,
                                           registration_no=registration_no, limit=limit, offset=offset)
    return {"data": rows, "count": count}


@routes.get("/{certificate_no}", response_model=CertificatePublic)
def get_certificate(certificate_no: str, services: ServicesDep, operator: CurrentOperator) -> Any:
    check_visible(services, operator, certificate_no)
    return public(services, certificate_no)
