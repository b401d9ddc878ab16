"""Temporary and mobile member certificates: issue, return, read one, list a subtree's
from the home side or the host's (the members it hosts, seed 004)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from api.access import CERTIFICATE_ROLES, check_certificate_visible, list_scope
from api.deps import CurrentCaller, ServicesDep
from api.presenters import certificate_public
from api.routes.common import Limit, MinPosition, Offset, command, router
from api.schemas import CertificateCreate, CertificatePublic, CertificatesPublic, OnRequest
from domain.vocabulary import CertificateKind, CertificateListStatus

routes = router("/v1/certificates", "certificates")


@routes.post("", status_code=201, response_model=CertificatePublic)
def issue_certificate(body: CertificateCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(
        operator, CERTIFICATE_ROLES, services.ledger.issue_certificate,
        body.registration_no, kind=body.kind, purpose=body.purpose, valid_until=body.valid_until,
        host_organization_code=body.host_organization_code, host_description=body.host_description,
        contact_person=body.contact_person, on=body.on,
    )
    assert recorded.certificate_no is not None
    return certificate_public(services, recorded.certificate_no, recorded.position)


@routes.post("/{certificate_no}/return", response_model=CertificatePublic)
def return_certificate(certificate_no: str, services: ServicesDep, operator: CurrentCaller,
                       body: OnRequest | None = None) -> Any:
    recorded = command(operator, CERTIFICATE_ROLES, services.ledger.return_certificate, certificate_no,
                       on=body.on if body else None)
    return certificate_public(services, certificate_no, recorded.position)


@routes.get("", response_model=CertificatesPublic)
def list_certificates(
    services: ServicesDep, operator: CurrentCaller,
    organization_code: Annotated[str | None, Query(description="default: the operator's organization")] = None,
    kind: Annotated[CertificateKind | None, Query()] = None,
    status: Annotated[CertificateListStatus | None, Query()] = None,
    side: Annotated[Literal["home", "host"] | None, Query(
        description="home: members of the subtree away; host: members the subtree hosts; default both")] = None,
    registration_no: Annotated[str | None, Query()] = None,
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    """The certificates whose home (or host, or either) lies in the organization's subtree."""
    code = list_scope(services, operator, organization_code)
    with services.queries(min_position) as queries:
        rows, count = queries.certificates(code, kind=kind, status=status, side=side,
                                           registration_no=registration_no, limit=limit, offset=offset)
    services.record_access(operator, "certificates", scope=code)  # the rows name members
    return {"data": rows, "count": count}


@routes.get("/{certificate_no}", response_model=CertificatePublic)
def get_certificate(certificate_no: str, services: ServicesDep, operator: CurrentCaller,
                    min_position: MinPosition = None) -> Any:
    check_certificate_visible(services, operator, certificate_no)
    answer = certificate_public(services, certificate_no)
    services.record_access(operator, "certificate", registration_no=answer["registration_no"])
    return answer
