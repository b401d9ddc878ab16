"""`ledger simulate`: a realistic synthetic history (seed 001's sizes, or a province).

The history comes from `api.simulation` (the generator the demo and the benchmarks use)
and goes into the configured store through the Ledger's own commands. The same seed, scale and
dates record the same events; only the recording timestamps differ.

A store that already holds events is refused: a simulation mixed into real records would
count people who do not exist. `--replace` empties a store only when every event in it was
written by a simulation (its request ids and actors are the generator's), so it can't
destroy or pollute real records; stop the API and any projection worker first.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace as with_fields
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from psycopg import sql as pgsql
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli import _engine, app, err, fail, open_ledger, progress_bar
from api.simulation import SCALES, Generator, Scale
from domain.errors import Conflict, LedgerError, ValidationError
from domain.identifiers import parse_iso_date
from domain.ledger import Ledger

DEFAULT_YEARS = {"small": 1, "city": 1, "province": 3}
# What every event a simulation writes carries: its request ids and its actors.
_SIMULATED = re.compile(rb'"actor":"(?:system|clerk-[^"]*)".*"request_id":"syn[0-9]+-[0-9]+"', re.DOTALL)


class _Watched(Generator):
    """The generator, reporting each simulated day and each save to a progress bar."""

    def __init__(self, *args: Any, bar: Progress, task: Any, first_day: date, **options: Any) -> None:
        super().__init__(*args, **options)
        self.bar, self.task, self.first_day = bar, task, first_day

    def report(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.bar.update(self.task, completed=(self.day - self.first_day).days + 1,
                        events=self.stats.events, rate=self.stats.events / elapsed,
                        on=self.day.isoformat())


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


def empty_store(ledger: Ledger) -> None:
    """Delete every event and snapshot, and drop the views (rebuilt by the next catch-up)."""
    from projections.sealer import drop

    engine = _engine(ledger)
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


def _print_summary(data: dict[str, Any]) -> None:
    t = data["transfers"]
    lines = [
        f"simulated {data['scale']} (seed {data['seed']}), {data['start']} to {data['end']}: "
        f"{data['events']:,} events in {data['seconds']:,} s ({data['rate'] or 0:,}/s)",
        f"organizations {data['organizations']:,} (dissolved {data['organizations_dissolved']}, "
        f"moved {data['organizations_moved']}); members {data['members']:,} (admitted "
        f"{data['members_admitted']:,}, deceased {data['members_deceased']:,}, left {data['members_left']:,}, "
        f"inactive {data['members_inactive']:,})",
        f"transfers requested {t['requested']:,}: received on time {t['received_on_time']:,}, late "
        f"{t['received_late']:,} (extended {t['extended']:,}); overdue {t['overdue']:,}; declined "
        f"{t['declined']:,}, cancelled {t['cancelled']:,}, rejected {t['rejected']:,}; receipts returned "
        f"{t['receipts_returned']:,}, never returned {t['receipts_never_returned']:,}",
        "routes: " + ", ".join(f"{k} {v:,}" for k, v in data["routes"].items()),
        "reasons: " + ", ".join(f"{k} {v:,}" for k, v in data["reasons"].items()),
        "certificates: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in data["certificates"].items()
                                     if k != "return_rate")
        + f" (return rate {data['certificates']['return_rate']})",
        f"views: {data['views']}",
    ]
    for line in lines:
        typer.echo(line)


@app.command()
def simulate(
    scale: Annotated[str, typer.Option(help="small (a county), city (seed 001's sizes) or province "
                                            "(~1,000,000 members, ~50,000 organizations)")] = "city",
    seed: Annotated[int, typer.Option(help="the random seed: the same seed and dates, the same events")] = 1,
    start: Annotated[str | None, typer.Option(help="the history's first day YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="its last day YYYY-MM-DD (default yesterday)")] = None,
    years: Annotated[int | None, typer.Option(help="years up to --end (default 1; 3 for province)")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="empty the store first; only if everything in it came from a simulation")] = False,
    views: Annotated[bool, typer.Option(help="bring the views up to date afterwards")] = True,
    format: Annotated[str, typer.Option(help="the summary as text or json")] = "text",
) -> None:
    """Generate a realistic history into the configured store (an empty one); prints a summary."""
    if scale not in SCALES:
        err.print(f"[red]validation_error:[/red] --scale is one of {', '.join(SCALES)}")
        raise typer.Exit(2)
    if format not in ("text", "json"):
        err.print("[red]validation_error:[/red] --format is text or json")
        raise typer.Exit(2)
    ledger = open_ledger()
    try:
        chosen = plan_dates(SCALES[scale], ledger.today(), start, end, years)
        held = ledger.max_position()
        if held and not replace:
            raise Conflict(
                f"the store is not empty (last position {held:,}): `ledger simulate` writes only into an "
                "empty store; --replace empties one that holds nothing but an earlier simulation"
            )
        if held:
            err.print("checking that the store holds only a simulation ...")
            if not only_simulated(ledger):
                raise Conflict(
                    "the store holds events no simulation wrote: it is left as it is; "
                    "simulate into a fresh store"
                )
            empty_store(ledger)
            ledger.close()
            ledger = open_ledger()
        days = (chosen.end - chosen.start).days + 1
        with Progress(TextColumn("simulating"), BarColumn(), TextColumn("day {task.completed:,.0f}/{task.total:,.0f}"),
                      TextColumn("{task.fields[on]}"), TextColumn("{task.fields[events]:,} events"),
                      TextColumn("{task.fields[rate]:,.0f}/s"), TimeElapsedColumn(),
                      console=err, transient=False) as bar:
            task = bar.add_task("days", total=days, events=0, rate=0.0, on=chosen.start.isoformat())
            # Not on a terminal (a log file), the bar is drawn once at the end: a line every 5 s too.
            lines = None if err.is_terminal else (lambda line: err.print(line))
            generator = _Watched(ledger, chosen, seed, bar=bar, task=task, first_day=chosen.start,
                                 progress=lines)
            stats = generator.run().as_dict()
    except LedgerError as error:
        ledger.close()
        fail(error)
    from projections.sealer import seal_with_progress

    engine = _engine(ledger)
    with progress_bar("sealing") as bar:
        seal_with_progress(ledger, engine.db, bar)
    if views:
        with progress_bar("building views") as bar:
            task = bar.add_task("events", total=ledger.max_position())
            engine.catch_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
    engine.db.close()
    ledger.close()
    data = summary(stats, chosen, views)
    if format == "json":
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_summary(data)
