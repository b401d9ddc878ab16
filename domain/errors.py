"""Every refusal the ledger can give, one class per stable code.

A command that raises any of these has recorded nothing: the ledger checks every rule
before it saves, and its one `save()` per command is atomic.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of all refusals. `code` is stable and machine-readable (shared/API.md)."""

    code = "ledger_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or (self.__doc__ or self.code).strip().splitlines()[0])
        self.detail = str(self.args[0])


class ValidationError(LedgerError):
    """A field is missing, malformed or out of range."""

    code = "validation_error"


class NotFound(LedgerError):
    """The organization, member, transfer or certificate is not in the ledger."""

    code = "not_found"


class OutOfJurisdiction(LedgerError):
    """An operator acts only on its own organization and everything below it."""

    code = "out_of_jurisdiction"


class Forbidden(LedgerError):
    """An operator's role does not allow the act (an auditor changes nothing)."""

    code = "forbidden"


class FutureDate(LedgerError):
    """An effective date can't be in the future."""

    code = "future_date"


class BeforeLastEvent(LedgerError):
    """An event can't be effective before the last event of the same aggregate."""

    code = "before_last_event"


class DuplicateRegistration(LedgerError):
    """One person holds one registration number: the resident ID or the number is taken."""

    code = "duplicate_registration"


class InvalidRegistrationNo(LedgerError):
    """A registration number is 18 characters: region, date joined, sequence, MOD 11-2 check."""

    code = "invalid_registration_no"


class MemberNotHeld(LedgerError):
    """The member is not on an organization's roster (in transit, deceased or left)."""

    code = "member_not_held"


class TransferOpen(LedgerError):
    """A member has at most one open transfer: one place only."""

    code = "transfer_open"


class SameOrganization(LedgerError):
    """A transfer's target can't be the member's own organization."""

    code = "same_organization"


class OrganizationDissolved(LedgerError):
    """A dissolved organization holds no one, receives no one and issues nothing."""

    code = "organization_dissolved"


class CannotHoldMembers(LedgerError):
    """Only branches and service centers hold members; a department assigns none."""

    code = "cannot_hold_members"


class NotInTargetSubtree(LedgerError):
    """A member is received into a member-holding organization in the target's subtree."""

    code = "not_in_target_subtree"


class InvalidTransition(LedgerError):
    """The transfer, certificate, member or organization is not in a state that allows this."""

    code = "invalid_transition"


class LetterExpired(LedgerError):
    """A letter received after its validity needs a late certificate."""

    code = "letter_expired"


class ValidityTooLong(LedgerError):
    """A letter is valid for at most 90 days from issue, extensions included."""

    code = "validity_too_long"


class ProbationEnding(LedgerError):
    """A probationary member with 90 days or less of probation left is not transferred."""

    code = "probation_ending"


class PerformanceRecordRequired(LedgerError):
    """A member more than 180 days into probation moves with a performance record."""

    code = "performance_record_required"


class EvidenceRequired(LedgerError):
    """Basis workplace needs a labor contract; basis residence a property deed or lease."""

    code = "evidence_required"


class ProbationNotOver(LedgerError):
    """A probationary member is confirmed on or after the probation end date."""

    code = "probation_not_over"


class ConfirmationDue(LedgerError):
    """Probation has ended: the old organization confirms the member before any transfer."""

    code = "confirmation_due"


class CertificateOpen(LedgerError):
    """A member holds at most one open certificate, whatever its kind: counted once."""

    code = "certificate_open"


class UseFormalTransfer(LedgerError):
    """A temporary certificate covers at most 6 months; longer needs a formal transfer."""

    code = "use_formal_transfer"


class PeriodClosed(LedgerError):
    """A filed month is frozen: nothing may be back-dated into it."""

    code = "period_closed"


class MobileCertificateRequired(LedgerError):
    """Regular reports (定期汇报) are a mobile member's: only a member holding an open mobile
    member certificate (流动党员活动证) sends them to the home organization."""

    code = "mobile_certificate_required"


class Conflict(LedgerError):
    """A concurrent change won the race, or the record already exists; nothing was recorded."""

    code = "conflict"


ALL_ERRORS: tuple[type[LedgerError], ...] = tuple(
    cls for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, LedgerError) and cls is not LedgerError
)
