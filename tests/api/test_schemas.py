"""The API's bodies take their words and limits from the domain's vocabulary: every enum
the OpenAPI document states is a vocabulary tuple, in its order, and every name routes
import from `api.schemas` is still there."""

from __future__ import annotations

from typing import Any

import pytest

import api.schemas
from api.app import create_app
from domain import vocabulary
from domain.settings import Settings

DOC = create_app(Settings(id_key="schemas-test-key-0123456789")).openapi()  # type: ignore[arg-type]

ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("OrganizationCreate", "kind"): vocabulary.ORGANIZATION_KINDS,
    ("OrganizationPublic", "status"): vocabulary.ORGANIZATION_STATUSES,
    ("OperatorCreate", "role"): vocabulary.ROLES,
    ("MemberCreate", "gender"): vocabulary.GENDERS,
    ("MemberCreate", "status"): vocabulary.MEMBER_STATUSES,
    ("MemberCreate", "category"): vocabulary.CATEGORIES,
    ("MemberPublic", "status"): vocabulary.MEMBER_STATUSES,
    ("MemberPublic", "origin"): vocabulary.ORIGINS,
    ("MePublic", "status"): vocabulary.MEMBER_STATUSES,
    ("MePublic", "origin"): vocabulary.ORIGINS,
    ("LeaveRequest", "reason"): vocabulary.LEAVE_REASONS,
    ("Place", "kind"): vocabulary.PLACE_KINDS,
    ("Evidence", "kind"): vocabulary.EVIDENCE_KINDS,
    ("OwnTransferCreate", "reason"): vocabulary.TRANSFER_REASONS,
    ("OwnTransferCreate", "basis"): vocabulary.BASES,
    ("TransferCreate", "reason"): vocabulary.TRANSFER_REASONS,
    ("TransferCreate", "basis"): vocabulary.BASES,
    ("ReceiveRequest", "presented_by"): vocabulary.PRESENTERS,
    ("CertificateCreate", "kind"): vocabulary.CERTIFICATE_KINDS,
    ("CertificateRow", "status"): ("open", "returned", "closed"),
    ("CaseClose", "outcome"): vocabulary.CASE_OUTCOMES,
    ("CasePublic", "status"): vocabulary.CASE_STATUSES,
}


def enum_of(prop: dict[str, Any]) -> list[str] | None:
    if "enum" in prop:
        return list(prop["enum"])
    return next((list(option["enum"]) for option in prop.get("anyOf", []) if "enum" in option), None)


def test_every_enum_of_the_document_is_a_vocabulary_tuple() -> None:
    found = {(name, field): enum_of(prop) for name, schema in DOC["components"]["schemas"].items()
             for field, prop in schema.get("properties", {}).items() if enum_of(prop) is not None}
    assert found == {key: list(words) for key, words in ENUMS.items()}


@pytest.mark.parametrize(("schema", "field", "limit", "value"), [
    ("IssueRequest", "valid_days", "maximum", vocabulary.MAX_VALID_DAYS),
    ("IssueRequest", "valid_days", "default", vocabulary.DEFAULT_VALID_DAYS),
    ("OperatorCreate", "name", "maxLength", vocabulary.NAME_MAX),
    ("MemberCreate", "name", "maxLength", vocabulary.NAME_MAX),
    ("OrganizationCreate", "name", "maxLength", vocabulary.ORGANIZATION_NAME_MAX),
    ("ReasonRequest", "reason", "maxLength", vocabulary.TEXT_MAX),
    ("ReportCreate", "text", "maxLength", vocabulary.REPORT_MAX_CHARS),
])
def test_the_documents_limits_are_the_domains(schema: str, field: str, limit: str, value: int) -> None:
    assert DOC["components"]["schemas"][schema]["properties"][field][limit] == value


def test_every_body_is_read_from_api_schemas() -> None:
    """The names the routes, scripts and tests import (`from api.schemas import X`)."""
    for name in ("OrganizationCreate", "DissolveRequest", "MoveRequest", "OrganizationPublic", "OrganizationsPublic",
                 "OperatorCreate", "OperatorCreated", "OperatorPublic", "OperatorsPublic", "MemberCreate",
                 "OnRequest", "LeaveRequest", "OrgLifeRequest", "DuesRequest", "Place", "MemberPublic",
                 "HistoryPublic", "RosterPublic", "Evidence", "OwnTransferCreate", "TransferCreate", "IssueRequest",
                 "ReasonRequest", "ReceiveRequest", "ExtendRequest", "TransferPublic", "TransfersPublic",
                 "CertificateCreate", "CertificatePublic", "CertificatesPublic", "CaseCreate", "CaseClose",
                 "CasePublic", "CasesPublic", "FileRequest", "OverduePublic", "MemberAccessCreated",
                 "MemberAccessRevoked", "ReportCreate", "ReportPublic", "ReportsPublic", "MePublic",
                 "Code", "Month", "Name", "Day", "Text", "RegistrationNo", "domain_check"):
        assert hasattr(api.schemas, name), name
        assert name in api.schemas.__all__, name
