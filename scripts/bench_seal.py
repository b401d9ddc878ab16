"""Benchmark of the sealed log (projections/sealer.py): what sealing costs the writes and
the rebuild, with it on and off in the same run, and how fast `ledger verify` recomputes
the chain.

    .venv/bin/python scripts/bench_seal.py                        # the demo city, both stores
    .venv/bin/python scripts/bench_seal.py --scale small --commands 100 --no-docs   # quick

For each store (a fresh SQLite file, a fresh PostgreSQL schema):
  1. the demo generator's history (`api/simulation/`, the scale chosen), not timed;
  2. sealing it from nothing (events/s), then `ledger verify`'s chain check with its
     progress bar on stderr (events/s);
  3. the rebuild of the views alone (off) and, as `ledger rebuild` runs it, after the
     chain check (on), twice each in turn: the best of each and their ratio;
  4. writes: `--commands` members imported one command at a time through the API's wiring
     (`api.services.Services`: the views inline), with the sealer stopped (off) and
     running (on), in turn, twice each: commands/s and their ratio, and the events left
     unsealed at the end of the "on" rounds (0: the sealer kept up).
A table on stdout, and the section "## Sealed log" of docs/BENCHMARKS.md replaced.

The province (about 7 million events) is not generated here (hours): generate it once with
`LEDGER_DATABASE_URL=postgresql://…?schema=province ledger simulate --scale province
--no-views`, then time `ledger verify` on it (its progress bar shows events/s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from api.demo import load_demo  # noqa: E402
from api.services import Services  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import Settings, store_env  # noqa: E402
from projections.db import ViewDatabase  # noqa: E402
from projections.engine import ProjectionEngine  # noqa: E402
from projections.sealer import TABLE, Sealer, drop, events_log, verify_chain  # noqa: E402
from tests.factories import person  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_BENCH_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
KEY = "bench-seal-" + uuid.uuid4().hex
err = Console(stderr=True)


def bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:,.0f} events/s"), TimeRemainingColumn(), console=err)


def timed_verify(ledger: Ledger, db: ViewDatabase) -> tuple[float, int]:
    """`ledger verify`'s chain check with its progress bar: seconds, events checked."""
    started = time.perf_counter()
    with bar() as progress:
        task = progress.add_task("verifying the sealed log", total=ledger.max_position(), rate=0.0)

        def moved(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total,
                            rate=done / max(time.perf_counter() - started, 1e-9))

        verdict = verify_chain(db, events_log(ledger, db), progress=moved)
    assert verdict.ok, verdict.as_dict()
    return time.perf_counter() - started, verdict.events


def rebuild_rounds(ledger: Ledger, url: str) -> dict[str, float]:
    """The views rebuilt alone and after the chain check, in turn, twice each (seconds)."""
    best = {"off": float("inf"), "on": float("inf")}
    for label in ("off", "on", "off", "on"):
        engine = ProjectionEngine(ledger, ViewDatabase(url))
        started = time.perf_counter()
        if label == "on":
            assert verify_chain(engine.db, events_log(ledger, engine.db)).ok
        engine.rebuild()
        best[label] = min(best[label], time.perf_counter() - started)
        engine.db.close()
        err.print(f"  rebuild {label}: {best[label]:.2f} s (best so far)")
    return best


def write_rounds(url: str, commands: int, branch: str) -> dict[str, Any]:
    """Members imported one command at a time through the API's wiring, the sealer stopped
    (off) or running (on), in turn, twice each: commands/s (best), events left unsealed."""
    settings = Settings(database_url=url, id_key=KEY)  # type: ignore[arg-type]
    services = Services(settings, today=date.today)
    rates = {"off": 0.0, "on": 0.0}
    unsealed: list[int] = []
    serial = 0
    try:
        for label in ("off", "on", "off", "on"):
            sealer = services.sealer
            if label == "off":
                sealer.stop()
                services.ledger.on_saved.remove(sealer.poke)
            started = time.perf_counter()
            for _ in range(commands):
                serial += 1
                services.ledger.import_member(branch, registration_no=None, status="full", on=date.today(),
                                              **person(500_000 + serial, name="基准",
                                                       joined_on=date(2019, 1, 1) + timedelta(days=serial)))
            elapsed = time.perf_counter() - started
            rates[label] = max(rates[label], commands / elapsed)
            if label == "on":
                # the events the sealer had not sealed when the last command returned
                db = ViewDatabase(url)
                last_sealed = int(db.scalar(f"SELECT coalesce(max(position), 0) FROM {TABLE}") or 0)
                unsealed.append(sum(1 for _ in db.query(
                    f"SELECT 1 FROM {sealer.events_table} WHERE {sealer.column} > ?", (last_sealed,))))
                db.close()
            else:
                services.ledger.on_saved.append(sealer.poke)
                sealer.seal()
                sealer.start()
            err.print(f"  writes {label}: {commands / elapsed:.1f} commands/s")
    finally:
        services.close()
    return {"off": rates["off"], "on": rates["on"], "unsealed": unsealed}


def one_store(kind: str, scale: str, commands: int, work_dir: Path) -> dict[str, Any]:
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{work_dir}/bench-seal.db"
    else:
        schema = f"bench_seal_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        url = f"{POSTGRES_URL}?schema={schema}"
    try:
        env = store_env(url)
        env["LEDGER_ID_KEY"] = KEY
        ledger = Ledger(env)
        err.print(f"{kind}: generating the {scale} history ...")
        load_demo(ledger, scale_name=scale)
        events = ledger.max_position()
        db = ViewDatabase(url)
        drop(db)
        started = time.perf_counter()
        sealed = Sealer(ledger, db)
        sealed.seal()
        seal_seconds = time.perf_counter() - started
        verify_seconds, checked = timed_verify(ledger, db)
        rebuild = rebuild_rounds(ledger, url)
        branch = str(db.scalar("SELECT code FROM proj_organizations WHERE kind = 'branch' AND status = 'active' "
                               "ORDER BY code LIMIT 1"))
        db.close()
        ledger.close()
        writes = write_rounds(url, commands, branch)
        return {"store": kind, "events": checked, "positions": events,
                "seal_rate": checked / seal_seconds, "verify_rate": checked / verify_seconds,
                "verify_seconds": verify_seconds, "rebuild_off": rebuild["off"], "rebuild_on": rebuild["on"],
                "rebuild_ratio": rebuild["on"] / rebuild["off"], "writes_off": writes["off"],
                "writes_on": writes["on"], "writes_ratio": writes["on"] / writes["off"],
                "unsealed": writes["unsealed"]}
    finally:
        if schema is not None:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def render(run: dict[str, Any]) -> str:
    rows = ["| store | events | sealing from nothing | `ledger verify` chain | rebuild off / on (ratio) "
            "| writes off / on, commands/s (ratio) | unsealed after the last command |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for r in run["results"]:
        rows.append(
            f"| {r['store']} | {r['events']:,} | {r['seal_rate']:,.0f} events/s | {r['verify_rate']:,.0f} events/s "
            f"| {r['rebuild_off']:.2f} s / {r['rebuild_on']:.2f} s ({r['rebuild_ratio']:.2f}) "
            f"| {r['writes_off']:.1f} / {r['writes_on']:.1f} ({r['writes_ratio']:.2f}) "
            f"| {', '.join(map(str, r['unsealed']))} |")
    m = run["machine"]
    return "\n".join([
        "## Sealed log", "",
        f"`scripts/bench_seal.py --scale {run['scale']} --commands {run['commands']}` on {run['date']}: "
        f"{m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Python {m['python']}, PostgreSQL {m['postgres']} "
        f"(synchronous_commit {m['synchronous_commit']}), SQLite {m['sqlite']}; load average at the start "
        f"{m['load_start']} (a shared machine: compare the ratios, measured in the same run, not the "
        "absolute figures).", "",
        *rows, "",
        "- **Sealing from nothing**: a store's whole log sealed in batches of 20,000 events a transaction "
        "(what a server does once on a store made before the seals).",
        "- **`ledger verify` chain**: the chain recomputed from the stored bytes against the seals, in one "
        "consistent read, with its progress bar (the views' own verification comes on top).",
        "- **Rebuild**: `engine.rebuild()` alone (off) against the chain check then the rebuild, as "
        "`ledger rebuild` runs them (on); best of two each, in turn. The chain check alone takes the "
        "events over the verify rate: " + "; ".join(
            f"{r['store']} {r['events'] / r['verify_rate']:.1f} s" for r in run["results"]) + " (a ratio "
        "below 1 is the machine's noise: other jobs share it).",
        "- **Writes**: members imported one command at a time through `api.services.Services` (views "
        "inline), the sealer stopped (off) or running on its thread, woken after each save (on); best "
        "of two rounds each, in turn. The save never waits for the sealer: what it costs is the sealer's "
        "own short transactions and CPU beside the writer's. *Unsealed after the last command*: the "
        "events not yet sealed the moment the last command returned, in each \"on\" round (the sealer "
        "seals them within its next wake-up).",
        "- **The province** (about 7 million events) is not generated by this script: generate it once "
        "with `ledger simulate --scale province --no-views` into a PostgreSQL schema and run `ledger "
        "verify` there; at the rates above the chain check of 7 million events would take " + "; ".join(
            f"{r['store']} {7_000_000 / r['verify_rate']:.0f} s" for r in run["results"]) + " (the goal: under "
        "5 minutes; not measured on the province itself).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["small", "city"], default="city")
    parser.add_argument("--commands", type=int, default=300, help="commands a round of writes")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    run: dict[str, Any] = {"scale": args.scale, "commands": args.commands, "date": date.today().isoformat(),
                           "machine": benchlib.machine(POSTGRES_URL), "results": []}
    with tempfile.TemporaryDirectory() as work:
        for kind in args.stores.split(","):
            run["results"].append(one_store(kind, args.scale, args.commands, Path(work)))
    section = render(run)
    print(section)
    print(json.dumps(run["results"], indent=2), file=sys.stderr)
    if not args.no_docs:
        benchlib.replace_section(args.docs, section, "## Sealed log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
