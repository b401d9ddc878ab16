"""A member's own access (self-service, seed 002): the member's token and regular reports.

Invariant: a member has at most one working token at a time. Issuing one replaces the
earlier one, revoking ends it, and both are events, so an auditor can tell when the member
could act. The token itself is never stored, only its SHA-256 digest (like an operator's);
the token names the member's registration number, so a presented token finds its record
directly and is then compared with the digest in constant time. A mobile member's regular
reports (定期汇报) to the home organization are events of the same record.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import Context, LedgerAggregate
from domain.errors import InvalidTransition, ValidationError
from domain.identifiers import NAMESPACE, registration_key
from domain.vocabulary import REPORT_MAX_CHARS

TOKEN_PREFIX = "lmt_"
_TOKEN = re.compile("lmt_([0-9]{17}[0-9X])[.][A-Za-z0-9_-]{43}", re.ASCII)


def new_member_token(registration_no: str) -> str:
    """A member's token: the prefix, the registration number and 256 random bits."""
    return f"{TOKEN_PREFIX}{registration_no}.{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_registration_no(token: str) -> str | None:
    """The registration number a member's token names, or None if it is not shaped like one."""
    found = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    return registration_key(found.group(1)) if found else None


def is_member_token(token: str) -> bool:
    return token_registration_no(token) is not None


def access_id(registration_no: str) -> UUID:
    return uuid5(NAMESPACE, f"member-access:{registration_no}")


class MemberAccess(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        registration_no: str
        digest: str | None
        reports: int

    class Opened(LedgerAggregate.Created):
        """The member's first token."""

        registration_no: str
        digest: str

        def change(self, a: MemberAccess) -> None:
            a.registration_no, a.digest, a.reports = self.registration_no, self.digest, 0

    class TokenIssued(LedgerAggregate.Event):
        """A new token, replacing the earlier one (which stops working)."""

        digest: str

        def change(self, a: MemberAccess) -> None:
            a.digest = self.digest

    class TokenRevoked(LedgerAggregate.Event):
        def change(self, a: MemberAccess) -> None:
            a.digest = None

    class ReportSent(LedgerAggregate.Event):
        """A mobile member's regular report (定期汇报) to the home organization."""

        text: str
        organization_code: str
        certificate_no: str

        def change(self, a: MemberAccess) -> None:
            a.reports += 1

    @classmethod
    def open(cls, ctx: Context, registration_no: str, token: str) -> MemberAccess:
        return cls._create(
            cls.Opened, id=access_id(registration_no), **ctx.meta(),
            registration_no=registration_no, digest=token_digest(token),
        )

    def issue(self, ctx: Context, token: str) -> None:
        self.record(self.TokenIssued, ctx, digest=token_digest(token))

    def revoke(self, ctx: Context) -> None:
        if self.digest is None:
            raise InvalidTransition(f"member {self.registration_no} has no working token")
        self.record(self.TokenRevoked, ctx)

    def accepts(self, token: str) -> bool:
        """Whether `token` is the member's working token (compared in constant time)."""
        return self.digest is not None and hmac.compare_digest(self.digest, token_digest(token))

    def send_report(self, ctx: Context, text: str, organization_code: str, certificate_no: str) -> None:
        text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()  # a form's lines end CRLF
        if not text or len(text) > REPORT_MAX_CHARS:
            raise ValidationError(f"a report is 1-{REPORT_MAX_CHARS} characters")
        self.record(
            self.ReportSent, ctx, text=text, organization_code=organization_code,
            certificate_no=certificate_no,
        )
