"""Jurisdiction: what an operator may do and read, decided here and nowhere else.

An operator has a role and one organization, its scope. It acts on that organization and
everything below it (its subtree), never beside or above it. Every right comes down to
one test, `Jurisdiction.holds(code)`: the scope is the organization or one of its
ancestors. The Ledger's commands and the API's reads (and the web pages) ask the same
`Jurisdiction`; the system itself (set-up, imports, simulations) has no scope and holds
everything.

- **Roles** (`check_role`): an admin manages organizations, members and operators; a
  clerk acts on members, transfers and certificates; an auditor reads and changes nothing.
- **Organizations.** Commands (register below, dissolve, move, file a month, grant an
  operator) need the organizations held. An organization's own record is read from
  inside the subtree or from below it (`sees`: one's own ancestors are no secret); its
  roster, overdue list, reports and transfers only from inside.
- **Members** are held where they are of record: the holding organization, or the
  sending one while in transit. Every command on a member (confirm, death, leave, org
  life, dues, a transfer request, a certificate) needs the member held. A member is read
  where it is of record, by the receiving side of its open transfer, and where it was
  ever held (its history).
- **Org life** is recorded by the side that holds the member, at the member's own
  organization or at the host of one of its certificates valid that day (DOMAIN.md §6:
  certificate holders attend the host's org life); dues by the side that holds it.
- **Transfers.** The sending side (issue, extend, cancel, decline) acts from the sending
  committee or above; the receiving side (receive, reject, return the receipt) from the
  receiving committee or above; both sides, and the organization received into, read it.
- **Certificates** are issued by the side that holds the member, returned by it or by the
  host's side, and read by either.

A refusal names nothing the caller may not see. Members and certificates have numbers
that can be guessed (region, date and sequence), so below a root a number the ledger
does not know and one outside the caller's jurisdiction are refused alike, with the same
words (`refusal`), while a root's operators learn `not_found`; a duplicate resident ID
names the member holding it only to a caller who holds that member. Organization codes
are no secret (a transfer names its target in another subtree, and must learn whether it
exists), nor are transfer and operator ids (random: knowing one means having been given it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from domain.errors import Forbidden, NotFound, OutOfJurisdiction
from domain.vocabulary import ROLES, Role

MANAGE: tuple[Role, ...] = ("admin",)  # organizations, operators, filing
ACT: tuple[Role, ...] = ("admin", "clerk")  # members, transfers, certificates
READ = ROLES
AUDIT: tuple[Role, ...] = ("admin", "auditor")  # the whole event stream, at a root

Chain = Callable[[str], Sequence[str]]
"""An organization's code and its ancestors', nearest first (NotFound if unknown)."""


def check_role(role: str, allowed: Collection[str]) -> None:
    """An operator's role allows the act (admin, clerk, auditor: see the module's rules)."""
    if role not in allowed:
        raise Forbidden(f"the {role} role can't do this (needs {' or '.join(allowed)})")


@dataclass(frozen=True)
class Jurisdiction:
    """The rights of an operator scoped to `scope` (None: the system, everywhere), over
    the organization tree that `chain` walks."""

    scope: str | None
    chain: Chain

    @property
    def everywhere(self) -> bool:
        return self.scope is None

    def holds(self, code: str) -> bool:
        """The one test: the scope is the organization or one of its ancestors."""
        return self.scope is None or self.scope in self.chain(code)

    def refusal(self, what: str) -> OutOfJurisdiction:
        """The refusal for anything outside (or unknown, for numbers that can be guessed):
        it names only what the caller gave and its own scope."""
        return OutOfJurisdiction(f"{what} is not within the jurisdiction of {self.scope}")

    def check(self, code: str, what: str | None = None) -> None:
        """Commands and subtree reads: the organization is held (NotFound if unknown)."""
        if not self.holds(code):
            raise self.refusal(what or f"organization {code}")

    def sees(self, code: str) -> bool:
        """An organization's own record: held, or one of the scope's own ancestors."""
        return self.holds(code) or (self.scope is not None and code in self.chain(self.scope))

    def check_sees(self, code: str) -> None:
        if not self.sees(code):
            raise self.refusal(f"organization {code}")

    def check_root(self) -> None:
        """The whole event stream is read from a root department only."""
        if not self.at_root:
            raise OutOfJurisdiction("the whole event stream is for operators of a root department")

    def unknown(self, error: NotFound, what: str) -> Exception:
        """What to raise for a member or certificate the ledger does not know: to an
        operator below a root, the same refusal as one outside its jurisdiction (so that
        guessing numbers learns nothing of other subtrees); to the system and to an
        operator of a root department, whose subtree is the whole tree, `not_found`
        (API.md: 404 unknown)."""
        return error if self.at_root else self.refusal(what)

    @property
    def at_root(self) -> bool:
        """The system, or an operator of a root department."""
        return self.scope is None or len(self.chain(self.scope)) == 1

    def check_member(self, registration_no: str, organization_code: str) -> None:
        """Commands on a member: held where it is of record."""
        if not self.holds(organization_code):
            raise self.refusal(f"member {registration_no}")

    def check_member_read(
        self, registration_no: str, organization_code: str, receiving_code: str | None,
        ever_held: Callable[[], bool],
    ) -> None:
        """A member's record and history: where it is of record, on the receiving side of
        its open transfer (`receiving_code`, its target), or where it was ever held."""
        if self.holds(organization_code) or (receiving_code is not None and self.holds(receiving_code)):
            return
        if self.scope is not None and ever_held():
            return
        raise self.refusal(f"member {registration_no}")

    def check_transfer_read(self, transfer_id: str, sides: Sequence[str | None]) -> None:
        """A transfer: its sending organization, its target or where it was received."""
        if not any(code and self.holds(code) for code in sides):
            raise self.refusal(f"transfer {transfer_id}")

    def check_certificate_read(self, certificate_no: str, home_code: str, host_code: str | None) -> None:
        """A certificate: the member's home side or the host's."""
        if not (self.holds(home_code) or (host_code is not None and self.holds(host_code))):
            raise self.refusal(f"certificate {certificate_no}")
