"""Resident ID claims: one living person holds one registration number.

Invariant: a claim (id derived from a keyed digest of the ID number, never the number)
names at most one living member; it is released when that member dies or leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.base import Context, LedgerAggregate
from domain.errors import DuplicateRegistration
from domain.identifiers import id_claim_id


class IdClaim(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        registration_no: str | None


    class Claimed(LedgerAggregate.Created):
        registration_no: str

        def change(self, claim: IdClaim) -> None:
            claim.registration_no = self.registration_no

    class Reclaimed(LedgerAggregate.Bookkeeping):
        registration_no: str

        def change(self, claim: IdClaim) -> None:
            claim.registration_no = self.registration_no

    class Released(LedgerAggregate.Bookkeeping):
        def change(self, claim: IdClaim) -> None:
            claim.registration_no = None

    @classmethod
    def claim(cls, ctx: Context, digest: str, registration_no: str) -> IdClaim:
        return cls._create(
            cls.Claimed, id=id_claim_id(digest), **ctx.meta(), registration_no=registration_no
        )

    def reclaim(self, ctx: Context, registration_no: str) -> None:
        if self.registration_no is not None:
            raise DuplicateRegistration(
                "this resident ID number already belongs to a living member "
                f"({self.registration_no})"
            )
        self.record(self.Reclaimed, ctx, registration_no=registration_no)

    def release(self, ctx: Context) -> None:
        self.record(self.Released, ctx)
