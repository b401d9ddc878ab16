"""A simulation run into a configured store (`ledger simulate`): the history's dates, the
check that a store holds nothing but an earlier simulation before it is emptied, and the
summary of what the history holds.

A store that already holds events is refused: a simulation mixed into real records would
count people who do not exist. Only a store whose every event a simulation wrote (its
request ids and actors are the generator's) is emptied, so real records are never destroyed
or polluted.
"""

from __future__ import annotations

import re
from dataclasses import replace as with_fields
from datetime import date, timedelta
from typing import Any

from psycopg import sql as pgsql

from api.simulation.trees import Scale
from domain.errors import Conflict, ValidationError
from domain.identifiers import parse_iso_date
from domain.ledger import Ledger
from projections.engine import ProjectionEngine

DEFAULT_YEARS = {"small": 1, "city": 1, "province": 3}
# What every event a simulation writes carries: its request ids and its actors.
_SIMULATED = re.compile(rb'"actor":"(?:system|clerk-[^"]*)".*"request_id":"syn[0-9]+-[0-9]+"', re.DOTALL)


def _years_before(end: date, years: int) -> date:
    """The first day of the `years` years that end on `end`."""
    try:
        back = end.replace(year=end.year - years)
    except ValueError:  # 29 February
        back = end.replace(year=end.year - years, day=28)
    return back + timedelta(days=1)


def plan_dates(scale: Scale, today: date, start: str | None, end: str | None, years: int | None) -> Scale:
    """The scale with the history's first and last day: by default the years up to yesterday."""
    first = parse_iso_date(start, "--start") if start else None
    last = parse_iso_date(end, "--end") if end else today - timedelta(days=1)
    if first is not None and years is not None:
        raise ValidationError("give --start or --years, not both")
    if years is not None and not 1 <= years <= 10:
        raise ValidationError("--years is 1 to 10")
    if last > today:
        raise ValidationError(f"--end {last} is after today ({today}): a history can't be in the future")
    if first is None:
        first = _years_before(last, years or DEFAULT_YEARS[scale.name])
    if first.year < 1900:
        raise ValidationError("the history starts in 1900 at the earliest")
    if (last - first).days < scale.import_days + 28:
        raise ValidationError(
            f"the {scale.name} history needs more than {scale.import_days + 28} days "
            f"(the imports take its first {scale.import_days})"
        )
    return with_fields(scale, start=first, end=last)


def only_simulated(ledger: Ledger, page: int = 5000) -> bool:
    """Whether every stored event was written by a simulation."""
    after = 0
    while True:
        notifications = ledger.recorder.select_notifications(start=after, limit=page, inclusive_of_start=False)
        for notification in notifications:
            if not _SIMULATED.search(notification.state):
                return False
        if len(notifications) < page:
            return True
        after = notifications[-1].id


def empty_store(ledger: Ledger, engine: ProjectionEngine) -> None:
    """Delete every event and snapshot, and drop the views (rebuilt by the next catch-up)
    and the seals; closes the engine's view connection."""
    from projections.sealer import drop

    try:
        engine.drop()
        drop(engine.db)  # the seals go with the events they sealed
    finally:
        engine.db.close()
    recorders = [ledger.recorder] + ([ledger.snapshots.recorder] if ledger.snapshots else [])
    for recorder in recorders:
        datastore: Any = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", None)
        if datastore is None or table is None:
            raise Conflict("this store can't be emptied by `ledger simulate`; use a fresh one")
        schema = getattr(datastore, "schema", None)  # PostgreSQL's; SQLite has none
        statement: Any = (pgsql.SQL("DELETE FROM {}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(table))
                          if schema else 'DELETE FROM "{}"'.format(table.replace('"', '""')))
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(statement)


def summary(stats: dict[str, Any], scale: Scale, views: bool) -> dict[str, Any]:
    """What the history holds, by kind."""
    cases, transfers = stats["cases"], stats["transfers"]

    def group(prefix: str) -> dict[str, int]:
        return {key.split(".", 1)[1]: value for key, value in cases.items() if key.startswith(prefix + ".")}

    certificates = group("certificate")
    issued = sum(v for k, v in certificates.items() if k.endswith("_issued"))
    returned = sum(v for k, v in certificates.items() if k.endswith("_returned"))
    by_event = stats["by_event"]
    return {
        "scale": scale.name, "seed": stats["seed"], "start": scale.start.isoformat(),
        "end": scale.end.isoformat(), "events": stats["events"], "seconds": round(stats["seconds"], 1),
        "rate": stats["rate"], "organizations": stats["organizations"], "members": stats["members"],
        "members_admitted": by_event.get("Member.Admitted", 0),
        "members_deceased": by_event.get("Member.Died", 0), "members_left": by_event.get("Member.Left", 0),
        "members_inactive": cases.get("members.inactive", 0),
        "transfers": {
            "requested": sum(group("route").values()),
            "received_on_time": cases.get("letter.received_on_time", 0),
            "received_late": cases.get("letter.received_late", 0),
            "extended": cases.get("letter.extended", 0),
            "overdue": cases.get("letter.overdue", 0),
            "declined": transfers.get("declined", 0), "cancelled": transfers.get("cancelled", 0),
            "rejected": transfers.get("rejected", 0),
            "receipts_returned": transfers.get("receipt_returned", 0),
            "receipts_never_returned": transfers.get("receipt_unreturned", 0),
            "open_requested": transfers.get("open_requested", 0),
            "open_issued": transfers.get("open_issued", 0),
        },
        "routes": group("route"), "reasons": group("reason"),
        "certificates": {**certificates, "return_rate": round(returned / issued, 3) if issued else None},
        "organizations_dissolved": by_event.get("Organization.Dissolved", 0),
        "organizations_moved": by_event.get("Organization.Moved", 0),
        "views": "built" if views else "not built (run `ledger rebuild` or the worker)",
        "samples": stats["samples"],
    }
