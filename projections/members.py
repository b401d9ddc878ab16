"""Read model of members: where each is now (the locator), where each was on any date
(stints, for as-of rosters), and monthly activity (org life, dues) for inactivity flags.

Tables: proj_members (one row a member), proj_stints (one row per continuous stay:
`held` at an organization or `in_transit` from it, [from_on, to_on)), proj_activity (a
member's org life and dues of a month), proj_last_activity (a narrow row a member: the
last activity's date, its month and the latest active month before that one, '' for
none; where the member is held now and since when, or when its last held stint ended;
and when it entered the ledger. Activity events rewrite it, not the wide member row. Its
indexes find the members inactive over a window, and where they are held, without
scanning everyone's activity or joining the wide tables).
"""

from __future__ import annotations

from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from domain.calendar import month_text, months_between
from domain.member import Member
from domain.vocabulary import INACTIVE_MONTHS
from projections.db import ViewDatabase
from projections.tables import Row, Table

MEMBERS = Table(
    "proj_members",
    ["member_id", "registration_no", "name", "gender", "birth_date", "category",
     "household_region", "joined_on", "origin", "status", "probation_ends_on", "confirmed_on",
     "place", "organization_code", "transfer_id", "since", "stint_key", "left_reason", "gone_on",
     "enrolled_on"],
    ["member_id"],
    ["CREATE TABLE IF NOT EXISTS proj_members (member_id TEXT PRIMARY KEY, "
     "registration_no TEXT NOT NULL UNIQUE, name TEXT NOT NULL, gender TEXT NOT NULL, "
     "birth_date TEXT NOT NULL, category TEXT NOT NULL, household_region TEXT NOT NULL, "
     "joined_on TEXT NOT NULL, origin TEXT NOT NULL, status TEXT NOT NULL, probation_ends_on TEXT, "
     "confirmed_on TEXT, place TEXT NOT NULL, organization_code TEXT NOT NULL, transfer_id TEXT, "
     "since TEXT NOT NULL, stint_key INTEGER NOT NULL, left_reason TEXT, gone_on TEXT, "
     "enrolled_on TEXT NOT NULL)",
     "CREATE INDEX IF NOT EXISTS proj_members_org ON proj_members (organization_code, place)",
     "CREATE INDEX IF NOT EXISTS proj_members_name ON proj_members (name)"],
    index_only=True,  # counted and listed from covering indexes
)
STINTS = Table(
    "proj_stints",
    ["registration_no", "start_position", "organization_code", "kind", "transfer_id", "from_on", "to_on", "since"],
    ["registration_no", "start_position"],
    # `since`: the day the member has been of record at the organization (a roster's
    # `since`): a stint in transit, and the stay back home after a letter cancelled or
    # rejected, keep the one of the stay before
    ["CREATE TABLE IF NOT EXISTS proj_stints (registration_no TEXT NOT NULL, "
     "start_position INTEGER NOT NULL, organization_code TEXT NOT NULL, kind TEXT NOT NULL, "
     "transfer_id TEXT, from_on TEXT NOT NULL, to_on TEXT, since TEXT NOT NULL, "
     "PRIMARY KEY (registration_no, start_position)) WITHOUT ROWID",
     "CREATE INDEX IF NOT EXISTS proj_stints_org ON proj_stints (organization_code, from_on)"],
)
ACTIVITY = Table(
    "proj_activity",
    ["registration_no", "month", "org_life", "dues", "dues_fen"],
    ["registration_no", "month"],
    ["CREATE TABLE IF NOT EXISTS proj_activity (registration_no TEXT NOT NULL, month TEXT NOT NULL, "
     "org_life INTEGER NOT NULL, dues INTEGER NOT NULL, dues_fen INTEGER NOT NULL, "
     "PRIMARY KEY (registration_no, month)) WITHOUT ROWID"],
)


LAST_ACTIVITY = Table(
    "proj_last_activity",
    ["registration_no", "last_activity_on", "last_month", "previous_month", "quiet_from", "held_org",
     "held_from", "held_to", "enrolled_on"],
    ["registration_no"],
    ["CREATE TABLE IF NOT EXISTS proj_last_activity (registration_no TEXT PRIMARY KEY, "
     "last_activity_on TEXT, last_month TEXT NOT NULL, previous_month TEXT NOT NULL, quiet_from TEXT, "
     # held_org, held_from: where and since when the member is held now (held_to NULL); when
     # it is not held now, held_to is the day its last held stint ended.
     "held_org TEXT, held_from TEXT NOT NULL, held_to TEXT, enrolled_on TEXT NOT NULL) WITHOUT ROWID",
     # The inactivity check of the members held now (partial, covering indexes: held_to,
     # always NULL in them, too, or SQLite would read each row for it): those with
     # no activity since before a window, by their last active month;
     "CREATE INDEX IF NOT EXISTS proj_last_activity_last ON proj_last_activity "
     "(last_month, held_from, enrolled_on, held_org, registration_no, last_activity_on, held_to) WHERE held_to IS NULL",
     # those active again after a quiet spell of more than 6 months (quiet_from: the month
     # before it; NULL when the last two active months are closer), by its start;
     "CREATE INDEX IF NOT EXISTS proj_last_activity_quiet ON proj_last_activity "
     "(quiet_from, last_month, held_from, enrolled_on, held_org, registration_no, last_activity_on, held_to) "
     "WHERE held_to IS NULL AND quiet_from IS NOT NULL",
     # and those whose last two active months are both after a window (a day in the past).
     "CREATE INDEX IF NOT EXISTS proj_last_activity_previous ON proj_last_activity (previous_month) "
     "WHERE held_to IS NULL",
     # The few others who were held on a past day: they left their stint, or began the
     # current one, after it. (Partial, so that "held now" is never looked up by them.)
     "CREATE INDEX IF NOT EXISTS proj_last_activity_held_to ON proj_last_activity (held_to) "
     "WHERE held_to IS NOT NULL",
     "CREATE INDEX IF NOT EXISTS proj_last_activity_held_from ON proj_last_activity (held_from, registration_no) "
     "WHERE held_to IS NULL"],
    index_only=True,  # counted and listed from covering indexes
)
QUIET_MONTHS = INACTIVE_MONTHS  # a quiet spell longer than this can hold a whole inactivity window


def quiet_from(previous_month: str, last_month: str) -> str | None:
    """The last active month before a quiet spell of more than QUIET_MONTHS months that
    ends with the last active month ('' when there is no earlier active month); None when
    the last two active months are closer, or there is none."""
    if not last_month:
        return None
    if not previous_month:
        return ""
    return previous_month if months_between(previous_month, last_month) > QUIET_MONTHS else None


class MembersView:
    def __init__(self) -> None:
        self.members, self.stints, self.activity = MEMBERS.fresh(), STINTS.fresh(), ACTIVITY.fresh()
        self.last_activity = LAST_ACTIVITY.fresh()
        self.tables = (self.members, self.stints, self.activity, self.last_activity)

    def member(self, db: ViewDatabase, event: Any) -> Row:
        row = self.members.originator_row(db, event)
        assert row is not None, f"no member row for {event.originator_id}"
        return row

    def _stay(self, db: ViewDatabase, row: Row, position: int, on: str,
              kind: str | None, organization_code: str | None = None, back: bool = False) -> None:
        """End the current stint on `on`; start a new one of `kind` unless the member is gone.
        In transit, or `back` home (a letter cancelled or rejected), the member is still of
        record where it was held: its `since` stays."""
        current = self.stints.get(db, (row["registration_no"], row["stint_key"]))
        assert current is not None
        current["to_on"] = on
        self.stints.touch(current)
        last = self.last_activity.get(db, (row["registration_no"],))
        assert last is not None, f"no activity row for {row['registration_no']}"
        if kind == "held":
            last.update(held_org=organization_code or row["organization_code"], held_from=on, held_to=None)
        elif current["kind"] == "held":
            last.update(held_org=None, held_to=on)
        self.last_activity.touch(last)
        if kind is None:
            return
        code = organization_code or row["organization_code"]
        since = row["since"] if kind == "in_transit" or back else on
        self.stints.put({"registration_no": row["registration_no"], "start_position": position,
                         "organization_code": code, "kind": kind,
                         "transfer_id": row["transfer_id"] if kind == "in_transit" else None,
                         "from_on": on, "to_on": None, "since": since}, new=True)  # keyed by this event's position
        row["stint_key"], row["organization_code"], row["since"] = position, code, since

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Member.Enrolled, position: int, db: ViewDatabase) -> None:
        on = event.on.isoformat()
        self.members.put({
            "member_id": str(event.originator_id), "registration_no": event.registration_no,
            "name": event.name, "gender": event.gender, "birth_date": event.birth_date.isoformat(),
            "category": event.category, "household_region": event.household_region,
            "joined_on": event.joined_on.isoformat(),
            "origin": "imported" if isinstance(event, Member.Imported) else "admitted",
            "status": event.status,
            "probation_ends_on": event.probation_ends_on.isoformat() if event.probation_ends_on else None,
            "confirmed_on": None, "place": "held", "organization_code": event.organization_code,
            "transfer_id": None, "since": on, "stint_key": position, "left_reason": None,
            "gone_on": None, "enrolled_on": on,
        }, new=True)  # a member's first event: its rows are new
        self.last_activity.put({"registration_no": event.registration_no, "last_activity_on": None,
                                "last_month": "", "previous_month": "", "quiet_from": None,
                                "held_org": event.organization_code,
                                "held_from": on, "held_to": None, "enrolled_on": on}, new=True)
        self.stints.put({"registration_no": event.registration_no, "start_position": position,
                         "organization_code": event.organization_code, "kind": "held",
                         "transfer_id": None, "from_on": on, "to_on": None, "since": on}, new=True)

    @apply.register
    def _(self, event: Member.Confirmed, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        row.update(status="full", confirmed_on=event.on.isoformat(), probation_ends_on=None)
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.TransferOpened, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        row["transfer_id"] = event.transfer_id
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.TransferClosed, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        row["transfer_id"] = None
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.WentInTransit, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        self._stay(db, row, position, event.on.isoformat(), "in_transit")
        row["place"] = "in_transit"
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.Received, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        row["transfer_id"] = None
        self._stay(db, row, position, event.on.isoformat(), "held", event.organization_code)
        row["place"] = "held"
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.ReturnedHome, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        row["transfer_id"] = None
        self._stay(db, row, position, event.on.isoformat(), "held", back=True)
        row["place"] = "held"
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.MovedOnDissolution, position: int, db: ViewDatabase) -> None:
        row = self.member(db, event)
        self._stay(db, row, position, event.on.isoformat(), "held", event.organization_code)
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.Died, position: int, db: ViewDatabase) -> None:
        self._gone(db, event, position, "deceased", None)

    @apply.register
    def _(self, event: Member.Left, position: int, db: ViewDatabase) -> None:
        self._gone(db, event, position, "left", event.reason)

    def _gone(self, db: ViewDatabase, event: Any, position: int, place: str, reason: str | None) -> None:
        row = self.member(db, event)
        self._stay(db, row, position, event.on.isoformat(), None)
        row.update(place=place, left_reason=reason, gone_on=event.on.isoformat())
        self.members.touch(row)

    @apply.register
    def _(self, event: Member.OrgLifeAttended, position: int, db: ViewDatabase) -> None:
        self._active(db, event, 1, 0, 0)

    @apply.register
    def _(self, event: Member.DuesPaid, position: int, db: ViewDatabase) -> None:
        # Counted in the month paid: arrears paid later don't rewrite past inactivity.
        self._active(db, event, 0, 1, int(Decimal(event.amount) * 100))

    def _active(self, db: ViewDatabase, event: Any, org_life: int, dues: int, dues_fen: int) -> None:
        registration_no = self.member(db, event)["registration_no"]
        on = event.on.isoformat()
        month = month_text(event.on)
        last_key = (registration_no,)
        last = self.last_activity.get(db, last_key)
        assert last is not None, f"no activity row for {event.originator_id}"
        last_on, previous_last = last["last_activity_on"], last["last_month"]
        if last_on is None or last_on < on:
            last["last_activity_on"] = on
        if month > previous_last:
            last["previous_month"], last["last_month"] = previous_last, month
            last["quiet_from"] = quiet_from(previous_last, month)
        elif last["previous_month"] < month < previous_last:
            last["previous_month"] = month
            last["quiet_from"] = quiet_from(month, previous_last)
        self.last_activity.touch(last, last_key)
        key = (registration_no, month)
        # No activity row is later than the member's last active month (before this event).
        activity = None if month > previous_last else self.activity.get(db, key)
        if activity is None:  # none in the table, nor put since: activity rows are never deleted
            self.activity.insert(key, {"registration_no": registration_no, "month": month,
                                       "org_life": org_life, "dues": dues, "dues_fen": dues_fen})
            return
        activity["org_life"] += org_life
        activity["dues"] += dues
        activity["dues_fen"] += dues_fen
        self.activity.touch(activity, key)
