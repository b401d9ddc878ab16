"""Flags and colours that the answers and pages show, decided from the records alone (no
database): a member's `confirmation_due` and `overdue_letter` flags, and the bands of the
overdue ledger (red: past due; yellow: due soon; green: done this month).

The flags the views find (an unreturned receipt, inactivity, a bounced member...) come from
the read side; these two are read off the member's and its open transfer's own state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from domain.member import Member
from domain.transfer import RECEIPT_DUE_DAYS, Transfer

DUE_SOON_DAYS = 7  # a letter still valid but due within this many days is yellow
YELLOW_KINDS = ("due_soon", "receipt_missing")
DONE_KIND = "done"


def member_flags(member: Member, transfer: Transfer | None, today: date) -> list[str]:
    """`confirmation_due`: a probationary member whose probation has ended; `overdue_letter`:
    a member in transit whose open transfer's letter is past its validity. `transfer` is the
    member's open transfer (None when it has none, or when it is not in transit)."""
    flags = []
    if member.status == "probationary" and member.probation_ends_on and today >= member.probation_ends_on:
        flags.append("confirmation_due")
    if member.place == "in_transit" and transfer is not None and transfer.valid_until \
            and today > transfer.valid_until:
        flags.append("overdue_letter")
    return flags


def overdue_band(kind: str) -> str:
    """The colour of a row of the overdue ledger by its kind: the overdue list's kinds are red."""
    if kind in YELLOW_KINDS:
        return "yellow"
    return "green" if kind == DONE_KIND else "red"


def overdue_bands(red_kinds: Iterable[str]) -> dict[str, str]:
    """Every kind of the overdue ledger with its colour: the overdue list's kinds (`red_kinds`),
    then the yellow ones, then `done`."""
    return {kind: overdue_band(kind) for kind in (*red_kinds, *YELLOW_KINDS, DONE_KIND)}


def due_soon_window(today: date) -> tuple[date, date]:
    """The letters due soon are valid until a day in this window (both ends included)."""
    return today, today + timedelta(days=DUE_SOON_DAYS)


def receipt_window_start(today: date) -> date:
    """Receipts of members received on or after this day are not yet overdue (yellow)."""
    return today - timedelta(days=RECEIPT_DUE_DAYS)


def receipt_due(received_on: date) -> date:
    """The day a receipt of a member received on `received_on` is due back."""
    return received_on + timedelta(days=RECEIPT_DUE_DAYS)


def done_since(today: date) -> date:
    """Transfers done (received, or their receipt back) since this day are green: this month."""
    return today.replace(day=1)
