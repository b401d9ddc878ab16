"""A small history for the report and audit commands: members of XW-C1 in 2026, one
transfer inside the committee (received, receipt returned), one out of it left in transit
past its letter's validity, a temporary certificate never returned, org life and dues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.ledger import Ledger
from tests.factories import admit, person


@dataclass
class Story:
    moved: str  # transferred XW-C1-B1 → XW-C1-B2 in October 2026
    in_transit: str  # letter to QH-C1-B1 issued in September 2026, never received
    certified: str  # temporary certificate out since August 2026, never returned
    imported: str  # imported into XW-C1-B1 in October 2026
    admitted: str  # admitted (probationary) into XW-C1-B3 in October 2026
    internal_transfer: str
    letter_no: str
    certificate_no: str


def tell_story(ledger: Ledger) -> Story:
    """Needs tests/factories.py's tree, registered on 2020-01-01."""
    moved = admit(ledger, 1, "XW-C1-B1")
    in_transit = admit(ledger, 2, "XW-C1-B1")
    certified = admit(ledger, 3, "XW-C1-B2")
    imported = admit(ledger, 4, "XW-C1-B1", on=date(2026, 10, 8))
    admitted = ledger.admit_member(
        "XW-C1-B3", **person(5, joined_on=date(2026, 10, 12)), on=date(2026, 10, 12),
    ).registration_no
    assert admitted is not None

    certificate = ledger.issue_certificate(
        certified, kind="temporary", purpose="study", valid_until=date(2026, 9, 30),
        host_description="外地培训班", on=date(2026, 8, 1),
    )
    out = ledger.request_transfer(in_transit, "QH-C1-B1", reason="job_change", basis="household",
                                  on=date(2026, 9, 1))
    assert out.transfer_id is not None
    ledger.issue_letter(out.transfer_id, on=date(2026, 9, 2))

    inside = ledger.request_transfer(moved, "XW-C1-B2", reason="graduation", basis="household",
                                     on=date(2026, 10, 5))
    assert inside.transfer_id is not None
    letter = ledger.issue_letter(inside.transfer_id, on=date(2026, 10, 6))
    ledger.receive_member(inside.transfer_id, "XW-C1-B2", on=date(2026, 10, 9))
    ledger.return_receipt(inside.transfer_id, on=date(2026, 10, 12))
    ledger.record_org_life(moved, "XW-C1-B2", on=date(2026, 10, 20))
    ledger.record_dues(moved, "2026-10", "12.50", on=date(2026, 10, 21))
    assert letter.letter_no is not None and certificate.certificate_no is not None
    return Story(moved=moved, in_transit=in_transit, certified=certified, imported=imported,
                 admitted=admitted, internal_transfer=inside.transfer_id, letter_no=letter.letter_no,
                 certificate_no=certificate.certificate_no)
