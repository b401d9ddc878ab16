"""`ledger simulate`: a realistic synthetic history (seed 001's sizes, or a province); and
`ledger demo`, the demo city.

The history comes from `api.simulation` (the generator the demo and the benchmarks use)
and goes into the configured store through the Ledger's own commands. The same seed, scale and
dates record the same events; only the recording timestamps differ.

A store that already holds events is refused (api/simulation/runs.py): `--replace` empties
a store only when every event in it was written by a simulation, so it can't destroy or
pollute real records; stop the API and any projection worker first.
"""

from __future__ import annotations

import json
import time
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli.common import err, fail, open_engine, open_ledger, progress_bar
from api.cli.operators import ADMIN_TOKEN, keep_setting, writable_setting_file
from api.simulation.generator import Generator
from api.simulation.runs import empty_store, only_simulated, plan_dates, summary
from api.simulation.trees import SCALES
from domain.errors import Conflict, LedgerError

commands = typer.Typer()


class DemoScale(StrEnum):
    city = "city"
    small = "small"


class Scale(StrEnum):
    """The simulation's scales (api/simulation/trees.py SCALES)."""

    small = "small"
    city = "city"
    province = "province"


class SummaryFormat(StrEnum):
    text = "text"
    json = "json"


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


@commands.command()
def demo(
    seed: Annotated[int, typer.Option(help="the random seed: the same seed, the same city")] = 1,
    scale: Annotated[DemoScale, typer.Option(help="city (seed 001's sizes) or small (a county, for trying out)")]
    = DemoScale.city,
    env_file: Annotated[Path | None, typer.Option(help="also keep the admin token in this file, as "
                                                       "LEDGER_ADMIN_TOKEN=... (see operator ensure-admin)")] = None,
) -> None:
    """Load the demo city (seed 001's sizes) into an empty store; prints an admin token last."""
    from api.demo import load_demo

    if env_file is not None:
        writable_setting_file(env_file)  # before loading: a demo loaded can't be loaded again
    ledger = open_ledger()
    try:
        token = load_demo(ledger, seed=seed, progress=err, scale_name=scale.value)
    except LedgerError as error:
        fail(error)
    from projections.sealer import seal_with_progress

    engine = open_engine(ledger)
    with progress_bar("sealing") as bar:
        seal_with_progress(ledger, engine.db, bar)
    with progress_bar("building views") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        engine.catch_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
    typer.echo(token)  # first: should the file fail after all, the token is not lost
    if env_file is not None:
        keep_setting(env_file, ADMIN_TOKEN, token)


@commands.command()
def simulate(
    scale: Annotated[Scale, typer.Option(help="small (a county), city (seed 001's sizes) or province "
                                              "(~1,000,000 members, ~50,000 organizations)")] = Scale.city,
    seed: Annotated[int, typer.Option(help="the random seed: the same seed and dates, the same events")] = 1,
    start: Annotated[str | None, typer.Option(help="the history's first day YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="its last day YYYY-MM-DD (default yesterday)")] = None,
    years: Annotated[int | None, typer.Option(help="years up to --end (default 1; 3 for province)")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="empty the store first; only if everything in it came from a simulation")] = False,
    views: Annotated[bool, typer.Option(help="bring the views up to date afterwards")] = True,
    format: Annotated[SummaryFormat, typer.Option(help="the summary as text or json")] = SummaryFormat.text,
) -> None:
    """Generate a realistic history into the configured store (an empty one); prints a summary."""
    ledger = open_ledger()
    try:
        chosen = plan_dates(SCALES[scale.value], ledger.today(), start, end, years)
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
            empty_store(ledger, open_engine(ledger))
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

    engine = open_engine(ledger)
    with progress_bar("sealing") as bar:
        seal_with_progress(ledger, engine.db, bar)
    if views:
        with progress_bar("building views") as bar:
            task = bar.add_task("events", total=ledger.max_position())
            engine.catch_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
    engine.db.close()
    ledger.close()
    data = summary(stats, chosen, views)
    if format is SummaryFormat.json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_summary(data)
