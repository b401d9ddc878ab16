"""The ledger's vocabulary: every kind, status, reason, role and category, and the limits
the rules count with, in one place.

Each closed set of words is written once, as a `Literal` type; its tuple (for the rules'
`in` tests, their messages, and the SQL and pages that list them) is read from the type,
so the two can't drift. The words are what the stored events and the JSON hold: plain
strings, in the order given here (the OpenAPI document lists them in this order too).
The aggregates (domain/*.py), the API's schemas, the views and the pages import them from
here.
"""

from __future__ import annotations

from typing import Literal, get_args

# --- organizations ---------------------------------------------------------------------------

OrganizationKind = Literal["department", "work_committee", "committee", "general_branch", "branch",
                           "service_center"]
ORGANIZATION_KINDS: tuple[OrganizationKind, ...] = get_args(OrganizationKind)
# The kinds that hold members.
HOLDING_KINDS: tuple[OrganizationKind, ...] = ("branch", "service_center")
# The kinds that issue and receive letters: the "committee" of an organization is the nearest
# of these at or above it.
COMMITTEE_KINDS: tuple[OrganizationKind, ...] = ("committee", "work_committee", "service_center", "department")
OrganizationStatus = Literal["active", "dissolved"]
ORGANIZATION_STATUSES: tuple[OrganizationStatus, ...] = get_args(OrganizationStatus)

# --- operators -------------------------------------------------------------------------------

Role = Literal["admin", "clerk", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)

# --- members ---------------------------------------------------------------------------------

MemberStatus = Literal["probationary", "full"]
MEMBER_STATUSES: tuple[MemberStatus, ...] = get_args(MemberStatus)
Gender = Literal["male", "female"]
GENDERS: tuple[Gender, ...] = get_args(Gender)
Category = Literal["cadre", "student", "military_transferee", "auxiliary_police", "retiree", "worker", "farmer",
                   "other"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
LeaveReason = Literal["expelled", "withdrew", "self_withdrawal"]
LEAVE_REASONS: tuple[LeaveReason, ...] = get_args(LeaveReason)
# Where a member is: held by one organization, in transit on one letter, or gone.
PlaceKind = Literal["held", "in_transit", "deceased", "left"]
PLACE_KINDS: tuple[PlaceKind, ...] = get_args(PlaceKind)
Origin = Literal["admitted", "imported"]
ORIGINS: tuple[Origin, ...] = get_args(Origin)

# --- transfers -------------------------------------------------------------------------------

TransferReason = Literal["job_change", "graduation", "military_transfer", "retirement_relocation", "mobile_work",
                         "other"]
TRANSFER_REASONS: tuple[TransferReason, ...] = get_args(TransferReason)
# Workplace first (labor contract), then residence (deed or lease), then household.
Basis = Literal["workplace", "residence", "household"]
BASES: tuple[Basis, ...] = get_args(Basis)
EvidenceKind = Literal["labor_contract", "property_deed", "lease"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = get_args(EvidenceKind)
EVIDENCE_FOR_BASIS: dict[str, tuple[EvidenceKind, ...]] = {
    "workplace": ("labor_contract",), "residence": ("property_deed", "lease"),
}
# Who presented the letter at the receiving side (seed 001: "他人代办"): the member, or an agent.
Presenter = Literal["member", "agent"]
PRESENTERS: tuple[Presenter, ...] = get_args(Presenter)
TransferStatus = Literal["requested", "issued", "received", "receipt_returned", "declined", "cancelled",
                         "rejected"]
TRANSFER_STATUSES: tuple[TransferStatus, ...] = get_args(TransferStatus)
Route = Literal["within_committee", "within_county", "cross_county", "cross_province"]
ROUTES: tuple[Route, ...] = get_args(Route)
# Stops a member makes on paper for each route (seed 000), and with network transfer.
PAPER_STOPS: dict[str, int] = {"within_committee": 3, "within_county": 4, "cross_county": 6, "cross_province": 6}
NETWORK_STOPS = 2

# --- certificates ----------------------------------------------------------------------------

CertificateKind = Literal["temporary", "mobile"]
CERTIFICATE_KINDS: tuple[CertificateKind, ...] = get_args(CertificateKind)
CertificateStatus = Literal["issued", "returned", "closed"]
CERTIFICATE_STATUSES: tuple[CertificateStatus, ...] = get_args(CertificateStatus)
# A certificate in a list: one not yet returned nor closed is `open`.
CertificateListStatus = Literal["open", "returned", "closed"]

# --- first-responder cases -------------------------------------------------------------------

CaseOutcome = Literal["placed", "not_a_member", "withdrawn"]
CASE_OUTCOMES: tuple[CaseOutcome, ...] = get_args(CaseOutcome)
CaseStatus = Literal["open", "closed"]
CASE_STATUSES: tuple[CaseStatus, ...] = get_args(CaseStatus)

# --- the overdue list ------------------------------------------------------------------------

OverdueKind = Literal["overdue_letter", "unreturned_receipt", "unreturned_certificate", "inactive_6m",
                      "stale_request", "open_case"]
OVERDUE_KINDS: tuple[OverdueKind, ...] = get_args(OverdueKind)

# --- limits ----------------------------------------------------------------------------------

DEFAULT_VALID_DAYS = 30  # a letter's validity when none is asked
MAX_VALID_DAYS = 90  # a letter's validity from issue, extensions included
RECEIPT_DUE_DAYS = 30  # the receipt is due back this many days after the member was received
CASE_OVERDUE_AFTER_DAYS = 30  # a case open longer is an `open_case` row on the overdue list
STALE_REQUEST_AFTER_DAYS = 30  # a request neither issued nor declined for longer is a `stale_request` row
INACTIVE_MONTHS = 6  # no org life and no dues for this many full months: an `inactive` row
# A probationary member's transfer: within this many days of the end of probation it needs an
# override reason; more than this many days into probation, the performance record goes with it.
PROBATION_ENDING_DAYS = 90
PERFORMANCE_RECORD_AFTER_DAYS = 180
BOUNCED_AFTER = 2  # declined or rejected transfers that make a member `bounced`
TEMPORARY_MAX_MONTHS = 6  # a temporary certificate covers at most this; a mobile one more
NAME_MAX = 100  # a person's name: a member's, an operator's, an agent's, a case's
ORGANIZATION_NAME_MAX = 200
TEXT_MAX = 500  # a reason, a note, a case's request
REPORT_MAX_CHARS = 2000  # a member's own report to the home organization
