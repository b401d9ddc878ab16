"""The province imported file by file with the import's snapshots off and on, in one run.

    .venv/bin/python scripts/bench_import_snapshots.py --store postgres
    .venv/bin/python scripts/bench_import_snapshots.py --store sqlite --members 300000 --no-docs

An import leaves a snapshot of each organization it saved (`LEDGER_IMPORT_SNAPSHOTS`,
README "Importing rosters"), so that the next file's import loads each branch from one row
instead of from an event for every member it ever received. This script builds the same
store from the same files (`bench_province.py`'s: the synthetic province's organizations,
then its members in files of `--part`) once for each setting in `--order` (default off,
on, off, on: each setting twice, alternating, so that a drift in the machine's load meets
both), through `api.importing.import_file` with the product's default workers, and prints
for each: the members' seconds, each file's check phase (loading the rows' organizations is
most of what grows with the store), the snapshots written and the room they take. It
replaces the section "## Import: snapshots of what it saved" of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from bench_api import POSTGRES_URL, log  # noqa: E402
from bench_import import ON, ledger_on  # noqa: E402
from bench_province import drop, files, store_url  # noqa: E402

from api.importing import import_file  # noqa: E402

TITLE = "## Import: snapshots of what it saved"


def snapshot_rows(kind: str, url: str) -> tuple[int, int]:
    """Rows of the snapshots table and its bytes (PostgreSQL: with its index; SQLite: 0)."""
    if kind == "postgres":
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*), pg_total_relation_size('ledger_snapshots') "
                               "FROM ledger_snapshots").fetchone()
            return (int(row[0]), int(row[1])) if row else (0, 0)
    import sqlite3
    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        return int(conn.execute("SELECT count(*) FROM stored_snapshots").fetchone()[0]), 0


def build(kind: str, url: str, snapshots: bool, args: argparse.Namespace) -> dict[str, Any]:
    orgs, parts = files(args.dir, args.members, args.seed, False, args.part)
    drop(kind, url)
    ledger = ledger_on(url, LEDGER_IMPORT_SNAPSHOTS="true" if snapshots else "false")
    figures: dict[str, Any] = {"snapshots": snapshots, "load_start": [round(x, 2) for x in os.getloadavg()],
                               "files": []}
    try:
        started = time.perf_counter()
        result = import_file(ledger, orgs, "organizations", on=ON)
        assert not result.problems, result.problems[:3]
        figures["organizations_s"] = round(time.perf_counter() - started, 1)
        began = time.perf_counter()
        for number, path in enumerate(parts, start=1):
            started = time.perf_counter()
            result = import_file(ledger, path, "members", on=ON)
            assert not result.problems, result.problems[:3]
            figures["files"].append({"s": round(time.perf_counter() - started, 1), "workers": result.workers,
                                     **{k: round(v, 1) for k, v in result.seconds.items()}})
            log(f"{kind}, snapshots {'on' if snapshots else 'off'}: file {number}/{len(parts)} "
                f"{figures['files'][-1]}")
        figures["members_s"] = round(time.perf_counter() - began, 1)
        figures["snapshot_rows"], figures["snapshot_bytes"] = snapshot_rows(kind, url)
    finally:
        ledger.close()
    figures["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def section(run: dict[str, Any]) -> str:
    m = run["machine"]
    by = {flag: [b for b in run["builds"] if b["snapshots"] is flag] for flag in (False, True)}

    def span(values: list[float], unit: str = " s") -> str:
        return " / ".join(f"{v:,.1f}" for v in values) + unit

    def cell(flag: bool, pick: Any) -> str:
        return span([pick(b) for b in by[flag]])

    def mean(flag: bool) -> float:
        return statistics.mean(b["members_s"] for b in by[flag])

    rows = [
        ("members, all files (each build)", cell(False, lambda b: b["members_s"]),
         cell(True, lambda b: b["members_s"])),
        ("organizations", cell(False, lambda b: b["organizations_s"]),
         cell(True, lambda b: b["organizations_s"])),
        ("first file: check phase", cell(False, lambda b: b["files"][0]["check"]),
         cell(True, lambda b: b["files"][0]["check"])),
        ("last file: check phase", cell(False, lambda b: b["files"][-1]["check"]),
         cell(True, lambda b: b["files"][-1]["check"])),
        ("last file: record phase", cell(False, lambda b: b["files"][-1]["record"]),
         cell(True, lambda b: b["files"][-1]["record"])),
        ("snapshots at the end: rows", " / ".join(f"{b['snapshot_rows']:,}" for b in by[False]),
         " / ".join(f"{b['snapshot_rows']:,}" for b in by[True])),
    ]
    if run["store"] == "postgres":
        rows.append(("snapshots at the end: table and index",
                     span([b["snapshot_bytes"] / 2**20 for b in by[False]], " MiB"),
                     span([b["snapshot_bytes"] / 2**20 for b in by[True]], " MiB")))
    table = ["| figure | snapshots off | snapshots on |", "|---|---:|---:|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    ratio = mean(False) / mean(True) if by[True] and by[False] else float("nan")
    return "\n".join([
        TITLE, "",
        "Figures from `scripts/bench_import_snapshots.py`: the same province store built from the same files "
        "once for each setting of `LEDGER_IMPORT_SNAPSHOTS`, alternating, in one run (`api.importing.import_file`, "
        "the product's default workers; the views are not built). With snapshots on, each import leaves a snapshot "
        "of every organization it saved, and the next file's import loads each branch from it (README "
        "\"Importing rosters\").", "",
        f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; load average (1, 5, 15 min) "
        f"{', '.join(map(str, m['load_start']))} at the start and {', '.join(map(str, run['load_end']))} at the end. "
        f"{run['name']} ({m['postgres'] if run['store'] == 'postgres' else 'SQLite ' + m['sqlite']}), "
        f"Python {m['python']}, eventsourcing {m['eventsourcing']}. {run['members']:,} members in files of "
        f"{run['part']:,}; builds in the order {', '.join(run['order'])}.", "",
        "```sh", run["command"], "```", "",
        *table, "",
        f"**Snapshots on / off, members' time: {ratio:.2f}× as fast** (the means of the builds above).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--part", type=int, default=100_000, help="members per imported file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--order", default="off,on,off,on", help="the settings, in the order built")
    parser.add_argument("--dir", type=Path, default=Path("/work/tmp-province"), help="files and SQLite stores")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    order = [word.strip() for word in args.order.split(",")]
    if not order or any(word not in ("on", "off") for word in order) or args.members < 1 or args.part < 1:
        parser.error("--order: on and off, separated by commas; --members and --part at least 1")
    args.dir.mkdir(parents=True, exist_ok=True)
    url = store_url(args.store, "province", args.dir, args.members)
    run: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                           "machine": benchlib.machine(POSTGRES_URL), "store": args.store,
                           "name": {"postgres": "PostgreSQL", "sqlite": "SQLite"}[args.store],
                           "members": args.members, "part": args.part, "order": order, "builds": []}
    for word in order:
        run["builds"].append(build(args.store, url, word == "on", args))
        log(f"{args.store}, snapshots {word}: {run['builds'][-1]['members_s']} s of members")
    run["load_end"] = [round(x, 2) for x in os.getloadavg()]
    run["command"] = " ".join([".venv/bin/python scripts/bench_import_snapshots.py", f"--store {args.store}",
                               *([f"--members {args.members}"] if args.members != 1_000_000 else []),
                               *([f"--order {args.order}"] if order != ["off", "on", "off", "on"] else [])])
    (args.dir / f"snapshots-{args.store}-{args.members}.json").write_text(json.dumps(run, indent=2, default=str))
    text = section(run)
    print(text)
    if not args.no_docs:
        benchlib.replace_section(args.docs, text, TITLE)
        print(f"docs: {args.docs} ({TITLE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
