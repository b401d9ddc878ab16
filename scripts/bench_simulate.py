"""Benchmark of the demo's history: the simulation (`api/simulation.py`) against the generator
of an earlier revision, in the same run.

    .venv/bin/python scripts/bench_simulate.py                      # city (the demo), both stores
    .venv/bin/python scripts/bench_simulate.py --baseline 4e38833 --rounds 2 --no-docs

The baseline is `api/simulation.py` as it stood at `--baseline` (by default the last revision
whose generator built the aggregates and saved them itself, without the Ledger's commands),
loaded from git beside the current one. Each round generates the demo's history (seed 1, the
city, the year up to yesterday) into a fresh store with each generator in turn, baseline
first; the figures are wall and CPU seconds and events. The ratio is the current generator's
events per second over the baseline's, per store, over all rounds. Writes the section
"## Simulation" of docs/BENCHMARKS.md unless --no-docs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

import api.simulation as current  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import store_env  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
BASELINE = "4e38833"  # the generator that saved the aggregates itself
ID_KEY = "simulation-benchmark-id-key"  # synthetic people only: not a secret


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load_baseline(revision: str, work: Path) -> ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:api/simulation.py"],
                            check=True, capture_output=True, text=True).stdout
    path = work / f"simulation_{revision}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"simulation_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def one(generator: ModuleType, store: str, today: date, work: Path) -> dict[str, Any]:
    scale = replace(generator.SCALES["city"], start=today - timedelta(days=365), end=today - timedelta(days=1))
    schema = f"bench_sim_{uuid.uuid4().hex[:8]}"
    if store == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    else:
        url = f"sqlite:///{work / schema}.db"
    env = store_env(url)
    env["LEDGER_ID_KEY"] = ID_KEY
    ledger = Ledger(env, today=lambda: today)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        stats = generator.generate(ledger, scale, 1)
        figures = {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                   "events": stats["events"], "members": stats["members"]}
    finally:
        ledger.close()
        if store == "postgres":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work / schema}.db{suffix}").unlink(missing_ok=True)
    return figures


def render(run: dict[str, Any]) -> str:
    m = run["machine"]
    names = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
    lines = [
        "## Simulation", "",
        "The demo's history (`ledger demo`: the city of seed 001, the year up to yesterday, seed 1) generated "
        "by `api/simulation.py`, which records every act through the Ledger's own commands in batches "
        "(`domain/ledger/steps.py`), against the generator of revision "
        f"`{run['baseline']}`, which built the aggregates and saved them itself (its own copy of the rules). "
        "Both run in the same process, one after the other, each into a fresh store; the ratio is the current "
        "generator's events per second over the baseline's (above 1.0: faster).", "",
        f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}); load average (1/5/15 min) "
        f"{' / '.join(f'{x:.2f}' for x in run['load_start'])} at the start and "
        f"{' / '.join(f'{x:.2f}' for x in run['load_end'])} at the end (a shared machine). PostgreSQL "
        f"{m['postgres']} over TCP on 127.0.0.1, SQLite {m['sqlite']}, Python {m['python']}.", "",
        "Reproduce:", "", "```sh", run["command"], "```", "",
        "| store | generator | round | events | wall s | CPU s | events/s |", "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in run["rows"]:
        lines.append(f"| {names[row['store']]} | {row['generator']} | {row['round']} | {row['events']:,} | "
                     f"{row['seconds']:.1f} | {row['cpu']:.1f} | {row['events'] / row['seconds']:,.0f} |")
    lines.append("")
    for store, ratio in run["ratios"].items():
        lines.append(f"- {names[store]}: ratio current / baseline **{ratio['rate']:.2f}** in events per second "
                     f"({ratio['cpu']:.2f} in CPU seconds per event, baseline over current).")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="the git revision of the baseline generator")
    parser.add_argument("--store", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bench_simulate"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    baseline = load_baseline(args.baseline, args.work_dir)
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = datetime.now(UTC)
    today = date.today()
    rows: list[dict[str, Any]] = []
    stores = ("postgres", "sqlite") if args.store == "both" else (args.store,)
    for round_ in range(1, args.rounds + 1):
        for store in stores:
            for label, generator in (("baseline", baseline), ("current", current)):
                figures = one(generator, store, today, args.work_dir)
                rows.append({"store": store, "generator": label, "round": round_, **figures})
                log(f"{store} {label}: {figures['events']:,} events in {figures['seconds']:.1f} s "
                    f"(CPU {figures['cpu']:.1f} s)")
    ratios = {}
    for store in stores:
        def total(label: str, key: str, store: str = store) -> float:
            return sum(r[key] for r in rows if r["store"] == store and r["generator"] == label)

        ratios[store] = {
            "rate": (total("current", "events") / total("current", "seconds"))
            / (total("baseline", "events") / total("baseline", "seconds")),
            "cpu": (total("baseline", "cpu") / total("baseline", "events"))
            / (total("current", "cpu") / total("current", "events")),
        }
    command = ".venv/bin/python scripts/bench_simulate.py" + (
        f" --baseline {args.baseline}" if args.baseline != BASELINE else "") + (
        f" --store {args.store}" if args.store != "both" else "") + (
        f" --rounds {args.rounds}" if args.rounds != 1 else "")
    run = {"date": f"{started:%Y-%m-%d %H:%M} UTC", "machine": benchlib.machine(POSTGRES_URL),
           "load_start": load_start, "load_end": [round(x, 2) for x in os.getloadavg()],
           "baseline": args.baseline, "command": command, "rows": rows, "ratios": ratios}
    print(json.dumps(run, indent=2, default=str))
    if not args.no_docs:
        benchlib.replace_section(args.docs, render(run), "## Simulation")
        log(f"wrote the section ## Simulation of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
