"""The vocabulary: each closed set of words written once, as a Literal type whose tuple is
read from it; the aggregates check against those tuples, and stored events hold the words
as plain JSON strings."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, get_args

import pytest

from domain import case, certificate, jurisdiction, member, operator, organization, transfer, vocabulary
from domain.certificate import Certificate
from domain.errors import ValidationError
from domain.ledger import Ledger
from domain.operator import Operator
from domain.organization import Organization
from domain.transfer import Transfer
from tests.factories import admit, build_tree

# Each runtime tuple and the Literal type it is read from.
PAIRS: list[tuple[tuple[str, ...], Any]] = [
    (vocabulary.ORGANIZATION_KINDS, vocabulary.OrganizationKind),
    (vocabulary.ORGANIZATION_STATUSES, vocabulary.OrganizationStatus),
    (vocabulary.ROLES, vocabulary.Role),
    (vocabulary.MEMBER_STATUSES, vocabulary.MemberStatus),
    (vocabulary.GENDERS, vocabulary.Gender),
    (vocabulary.CATEGORIES, vocabulary.Category),
    (vocabulary.LEAVE_REASONS, vocabulary.LeaveReason),
    (vocabulary.PLACE_KINDS, vocabulary.PlaceKind),
    (vocabulary.ORIGINS, vocabulary.Origin),
    (vocabulary.TRANSFER_REASONS, vocabulary.TransferReason),
    (vocabulary.BASES, vocabulary.Basis),
    (vocabulary.EVIDENCE_KINDS, vocabulary.EvidenceKind),
    (vocabulary.PRESENTERS, vocabulary.Presenter),
    (vocabulary.TRANSFER_STATUSES, vocabulary.TransferStatus),
    (vocabulary.ROUTES, vocabulary.Route),
    (vocabulary.CERTIFICATE_KINDS, vocabulary.CertificateKind),
    (vocabulary.CERTIFICATE_STATUSES, vocabulary.CertificateStatus),
    (vocabulary.CASE_OUTCOMES, vocabulary.CaseOutcome),
    (vocabulary.CASE_STATUSES, vocabulary.CaseStatus),
    (vocabulary.OVERDUE_KINDS, vocabulary.OverdueKind),
]


@pytest.mark.parametrize(("words", "literal"), PAIRS)
def test_each_tuple_is_its_literal_types_words_plain_strings_once(words: tuple[str, ...], literal: Any) -> None:
    assert words == get_args(literal)
    assert len(set(words)) == len(words)
    assert all(type(word) is str for word in words)  # not an enum: JSON and stored events hold the word


def test_the_subsets_are_drawn_from_their_sets() -> None:
    assert set(vocabulary.HOLDING_KINDS) < set(vocabulary.ORGANIZATION_KINDS)
    assert set(vocabulary.COMMITTEE_KINDS) < set(vocabulary.ORGANIZATION_KINDS)
    assert set(vocabulary.EVIDENCE_FOR_BASIS) < set(vocabulary.BASES)
    evidence = {kind for kinds in vocabulary.EVIDENCE_FOR_BASIS.values() for kind in kinds}
    assert evidence == set(vocabulary.EVIDENCE_KINDS)
    assert set(vocabulary.PAPER_STOPS) == set(vocabulary.ROUTES)
    assert {*jurisdiction.MANAGE, *jurisdiction.ACT, *jurisdiction.AUDIT} <= set(vocabulary.ROLES)


def test_the_aggregates_check_against_the_vocabulary_not_a_copy() -> None:
    """The names other modules import from the aggregates' modules are the vocabulary's."""
    assert organization.KINDS is vocabulary.ORGANIZATION_KINDS
    assert organization.HOLDING_KINDS is vocabulary.HOLDING_KINDS
    assert organization.COMMITTEE_KINDS is vocabulary.COMMITTEE_KINDS
    assert member.STATUSES is vocabulary.MEMBER_STATUSES
    assert (member.GENDERS, member.CATEGORIES) == (vocabulary.GENDERS, vocabulary.CATEGORIES)
    assert transfer.REASONS is vocabulary.TRANSFER_REASONS
    assert (transfer.BASES, transfer.EVIDENCE_KINDS) == (vocabulary.BASES, vocabulary.EVIDENCE_KINDS)
    assert (transfer.DEFAULT_VALID_DAYS, transfer.RECEIPT_DUE_DAYS) == (30, 30)
    assert certificate.KINDS is vocabulary.CERTIFICATE_KINDS
    assert case.OUTCOMES is vocabulary.CASE_OUTCOMES
    assert case.OVERDUE_AFTER_DAYS == vocabulary.CASE_OVERDUE_AFTER_DAYS == 30
    assert operator.ROLES is jurisdiction.ROLES is jurisdiction.READ is vocabulary.ROLES


@pytest.mark.parametrize("word", ["Branch", "branch ", "ｂranch", ""])
def test_a_word_outside_the_vocabulary_is_refused_with_the_vocabulary_in_the_message(
    ledger: Ledger, word: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        ledger.register_organization("X1", "X", word, None, "110101", on=date(2020, 1, 1))
    assert ", ".join(vocabulary.ORGANIZATION_KINDS) in refused.value.detail


def test_stored_events_hold_the_words_as_json_strings(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.grant_operator("张三", "clerk", "XW-C1")
    transfer_id = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                          on=date(2026, 9, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 9, 1))
    ledger.receive_member(transfer_id, "QH-C1-B1", presented_by="agent", agent_name="李四", on=date(2026, 9, 2))
    ledger.issue_certificate(number, kind="temporary", purpose="学习", valid_until=date(2027, 1, 1),
                             host_description="某大学", on=date(2026, 9, 3))
    states: dict[type, list[dict[str, Any]]] = {}
    start = 0
    while page := ledger.recorder.select_notifications(start=start, limit=500, inclusive_of_start=False):
        for stored in page:
            event = ledger.mapper.to_domain_event(stored)
            if isinstance(event, Organization.Registered | Operator.Granted | Transfer.Requested
                          | Transfer.MemberReceived | Certificate.Issued):
                states.setdefault(type(event), []).append(json.loads(stored.state))
        start = page[-1].id
    assert {s["kind"] for s in states[Organization.Registered]} <= set(vocabulary.ORGANIZATION_KINDS)
    assert '"kind": "branch"' in json.dumps(states[Organization.Registered])
    assert [s["role"] for s in states[Operator.Granted]] == ["clerk"]
    [requested] = states[Transfer.Requested]
    assert (requested["reason"], requested["basis"]) == ("job_change", "household")
    assert requested["route"] in vocabulary.ROUTES
    assert [s["presented_by"] for s in states[Transfer.MemberReceived]] == ["agent"]
    assert [s["kind"] for s in states[Certificate.Issued]] == ["temporary"]
    assert ledger.member(number).status in vocabulary.MEMBER_STATUSES
