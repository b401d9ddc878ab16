"""Benchmark of `ledger import`: a province-scale roster imported into a fresh store.

    .venv/bin/python scripts/bench_import.py                       # ~50,000 organizations, 1,000,000 members
    .venv/bin/python scripts/bench_import.py --members 200000      # a sample
    .venv/bin/python scripts/bench_import.py --members 5000 --store both --no-docs   # a quick run

What it does:
  1. writes two CSV files in --work-dir: the organizations of the synthetic province
     (`api.simulation.tree_province`: 13 cities, 95 counties, ~50,000 organizations) and
     `--members` members spread over its branches and service centers by their weights,
     with valid registration and resident ID numbers (deterministic by --seed);
  2. for each store (a fresh PostgreSQL schema over TCP on 127.0.0.1, and/or a fresh SQLite
     file): imports the organizations, then the members, through `api.importing.import_file`
     (exactly what `ledger import` runs), timing its phases: read (parse and check every
     cell, duplicates within the file), check (what the ledger holds, then the domain's rules:
     each row judged once by the Ledger's command, in chunks of up to 600 aggregates (3,000
     on SQLite), each chunk on top of the ones before, their results kept), record (the kept
     chunks saved as judged, one save each);
  3. the baseline, in the same run: the read phase alone over the same members file (the
     raw rate of reading and validating the file without touching the store); the ratio is
     the end-to-end import rate over it;
  4. prints the figures as JSON and replaces the section "## Import" of docs/BENCHMARKS.md.
The schema (and the SQLite file) are dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from api.importing import MEMBER_COLUMNS, ORGANIZATION_COLUMNS, import_file  # noqa: E402
from api.importing.job import _Import  # noqa: E402
from api.simulation import BENCH_DATA_KEYS, GIVEN, HOLDING_KINDS, SURNAMES, tree_province  # noqa: E402
from domain.errors import DuplicateRegistration  # noqa: E402
from domain.identifiers import check_character, make_registration_no  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import store_env  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
ID_KEY = "import-benchmark-id-key"  # synthetic people only: not a secret
ON = date(2025, 1, 2)
FULL = 1_000_000  # the province's members
CATEGORIES = ("cadre", "worker", "farmer", "retiree", "student", "other")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def write_files(work: Path, members: int, seed: int) -> tuple[Path, Path, int]:
    """The two files; returns their paths and how many holding organizations got members."""
    rng = random.Random(f"bench-import:{seed}")
    specs = tree_province(rng)
    orgs_path, members_path = work / "organizations.csv", work / "members.csv"
    with orgs_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([c.name for c in ORGANIZATION_COLUMNS])
        for s in specs:
            writer.writerow([s.code, s.name, s.kind, s.parent or "", s.region])
    holding = [s for s in specs if s.kind in HOLDING_KINDS and not s.outside]
    if members < FULL:  # a sample keeps the province's density: the first counties' organizations, full
        everything = sum(s.weight for s in holding)
        share, kept = 0.0, []
        for spec in holding:
            if share >= everything * members / FULL:
                break
            kept.append(spec)
            share += spec.weight
        holding = kept
    cumulative, total = [], 0.0
    for s in holding:
        total += s.weight
        cumulative.append(total)
    ids: Counter[tuple[str, date]] = Counter()
    numbers: Counter[tuple[str, date]] = Counter()
    with members_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([c.name for c in MEMBER_COLUMNS])
        for _ in range(members):
            org = rng.choices(holding, cum_weights=cumulative)[0]
            region = org.region
            birth = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
            while True:
                ids[(region, birth)] += 1
                if ids[(region, birth)] <= 499:
                    break
                birth += timedelta(days=1)
            male = rng.random() < 0.7
            sequence = 2 * ids[(region, birth)] - (1 if male else 0)
            first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
            joined = min(birth + timedelta(days=rng.randrange(18 * 366, 40 * 365)), date(2024, 12, 31))
            while True:
                numbers[(region, joined)] += 1
                if numbers[(region, joined)] <= 999:
                    break
                joined -= timedelta(days=1)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            probationary = joined > date(2024, 1, 1)
            writer.writerow([
                make_registration_no(region, joined, numbers[(region, joined)]), name,
                first17 + check_character(first17), "male" if male else "female", birth.isoformat(),
                joined.isoformat(), "probationary" if probationary else "full", rng.choice(CATEGORIES),
                org.code, region, f"{region}单位{rng.randint(1, 999)}", "",
            ])
    return orgs_path, members_path, len(holding)


def holding_total(seed: int) -> int:
    """Branches and service centers of the province (the full roster's)."""
    specs = tree_province(random.Random(f"bench-import:{seed}"))
    return sum(1 for s in specs if s.kind in HOLDING_KINDS and not s.outside)


def ledger_on(url: str, **settings: str) -> Ledger:
    env = store_env(url)
    env["LEDGER_ID_KEY"] = ID_KEY
    env["LEDGER_DATA_KEYS"] = BENCH_DATA_KEYS
    return Ledger({**env, **settings}, today=lambda: ON)


def baseline(ledger: Ledger, path: Path) -> dict[str, Any]:
    """Reading and checking every cell of the members file, and the duplicates within it:
    the import's first phase alone, without the store."""
    job = _Import(ledger, path, "members", encoding=None, sheet=None, on=ON, progress=None)
    started = time.perf_counter()
    rows = job.read()
    job.duplicates(rows, "registration_no", DuplicateRegistration, "registration number")
    job.duplicates(rows, "id_card_no", DuplicateRegistration, "resident ID number")
    seconds = time.perf_counter() - started
    assert not job.result.problems, job.result.problems[:5]
    return {"rows": len(rows), "seconds": round(seconds, 2), "rate": round(len(rows) / seconds)}


def run_store(kind: str, url: str, orgs: Path, members: Path, workers: int | None) -> dict[str, Any]:
    """Both files imported into the store of `url`, the members by `workers` processes
    (None: the product's default); the figures."""
    ledger = ledger_on(url)
    figures: dict[str, Any] = {"store": kind}
    try:
        figures["baseline"] = baseline(ledger, members)
        log(f"{kind}: baseline read+validate {figures['baseline']['rate']:,} rows/s")
        for label, path in (("organizations", orgs), ("members", members)):
            last = [0.0]

            def progress(phase: str, done: int, total: int, label: str = label, last: list[float] = last) -> None:
                now = time.monotonic()
                if now - last[0] > 30 or done == total:
                    last[0] = now
                    log(f"{kind} {label}: {phase} {done:,}/{total:,}")

            started = time.perf_counter()
            cpu = cpu_seconds()
            result = import_file(ledger, path, label, on=ON, progress=progress,
                                 workers=workers if label == "members" else None)
            seconds = time.perf_counter() - started
            if result.problems:
                raise SystemExit(f"{label}: {len(result.problems)} problems, e.g. {result.problems[:3]}")
            figures[label] = {
                "rows": result.rows, "recorded": result.recorded, "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu_seconds() - cpu, 1), "rate": round(result.recorded / seconds),
                "workers": result.workers,
                "phases": {k: round(v, 1) for k, v in result.seconds.items()},
                "position": result.position,
                "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            log(f"{kind}: {label} {result.recorded:,} in {seconds:,.0f} s ({result.recorded / seconds:,.0f}/s)")
        again = time.perf_counter()
        repeat = import_file(ledger, orgs, "organizations", on=ON)
        figures["reimport_organizations"] = {"skipped": repeat.skipped, "recorded": repeat.recorded,
                                             "seconds": round(time.perf_counter() - again, 1)}
        figures["events"] = ledger.max_position()
        figures["ratio"] = round(figures["members"]["rate"] / figures["baseline"]["rate"], 4)
    finally:
        ledger.close()
    return figures




def cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (the import's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(kind: str, directory: Path, keep: bool, orgs: Path, members: Path, workers: int | None) -> dict[str, Any]:
    """`run_store` on a fresh store of `kind` (a PostgreSQL schema, or a SQLite file in
    `directory`), dropped afterwards unless `keep`."""
    if kind == "postgres":
        schema = f"bench_import_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
        try:
            return run_store(kind, url, orgs, members, workers)
        finally:
            if not keep:
                with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    db = directory / f"import-{uuid.uuid4().hex[:8]}.db"
    try:
        return run_store(kind, f"sqlite:///{db}", orgs, members, workers)
    finally:
        if not keep:
            for suffix in ("", "-wal", "-shm", ".turn"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)


def phases(figures: dict[str, Any]) -> str:
    p = figures["phases"]
    return f"{figures['seconds']:,} ({p.get('read', 0)} / {p.get('check', 0)} / {p.get('record', 0)})"


def render(run: dict[str, Any]) -> str:
    m, stores = run["machine"], run["stores"]
    names = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
    head = "| figure | " + " | ".join(names[s["store"]] for s in stores) + " |"
    rule = "|---|" + "---:|" * len(stores)

    def row(label: str, get: Any) -> str:
        return f"| {label} | " + " | ".join(get(s) for s in stores) + " |"

    lines = [
        "## Import", "",
        "`ledger import` (`api.importing.import_file`) of a synthetic province's rosters from "
        "`scripts/bench_import.py`: the organizations file first, then the members file, into a fresh store. "
        "The import reads and checks every cell, looks up every row in the ledger, judges every row once by "
        "the Ledger's own commands (`register_organization`, `import_member`) in chunks of up to 600 "
        "aggregates (3,000 on SQLite; a twentieth of the file's, at least 100), each chunk on top of the ones "
        "before, keeping "
        "what they decided, and only when no row has a problem saves the kept chunks as judged, one save "
        "each (domain/ledger/checked.py). A members file of 20,000 rows or more is split by organization among "
        "worker processes, one per core, each deciding and recording its part (api/importing/parts.py); the "
        "same members are then imported by one process (`workers=1`) into a fresh store, in the same run. The "
        "baseline is the first phase alone (reading the CSV and checking every cell and the duplicates within "
        "the file, no store); the ratio is the end-to-end member import rate over it.", "",
        f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; load average "
        f"(1/5/15 min) {' / '.join(f'{x:.2f}' for x in run['load_start'])} at the start and "
        f"{' / '.join(f'{x:.2f}' for x in run['load_end'])} at the end (a shared machine: other jobs ran "
        f"alongside). PostgreSQL {m['postgres']} over TCP on 127.0.0.1, SQLite {m['sqlite']}, Python "
        f"{m['python']}, eventsourcing {m['eventsourcing']}, psycopg {m['psycopg']}.", "",
    ]
    if run["members"] < 1_000_000:
        lines += [f"**A sample:** {run['members']:,} members instead of the province's 1,000,000 "
                  f"({run['sample_reason']}). The organizations file is the full province; the sample's "
                  f"members fill the branches of its first counties at the province's density "
                  f"({run['holding_used']:,} branches and service centers, about "
                  f"{run['members'] // max(run['holding_used'], 1)} members each; the full roster has "
                  f"{FULL // max(run['holding_total'], 1)} in each of {run['holding_total']:,}), so the batches "
                  "and the cost per member are those of the full import.", ""]
    lines += ["Reproduce:", "", "```sh", run["command"], "```", "", head, rule,
              row("organizations in the file", lambda s: f"{s['organizations']['rows']:,}"),
              row("organizations: import time, s (read / check / record)", lambda s: phases(s["organizations"])),
              row("organizations per second", lambda s: f"{s['organizations']['rate']:,}"),
              row("members in the file", lambda s: f"{s['members']['rows']:,}"),
              row("members: import time, s (read / check / record)", lambda s: phases(s["members"])),
              row("members: processes (`workers`)", lambda s: f"{s['members']['workers']}"),
              row("members: CPU s of the importing processes", lambda s: f"{s['members']['cpu_seconds']:,}"),
              row("peak memory of the importing process so far, MiB", lambda s: f"{s['members']['peak_mib']:,}"),
              row("**members per second** (end to end)", lambda s: f"**{s['members']['rate']:,}**"),
              row("the same members by one process: members per second; s (read / check / record); CPU s",
                  lambda s: (f"{s['one_process']['rate']:,}; {phases(s['one_process'])}; "
                             f"{s['one_process']['cpu_seconds']:,}") if "one_process" in s else "not run"),
              row("in parts / one process", lambda s: (
                  f"{s['members']['rate'] / s['one_process']['rate']:.2f}" if "one_process" in s else "")),
              row("baseline: read + check cells, rows per second", lambda s: f"{s['baseline']['rate']:,}"),
              row("ratio import / baseline", lambda s: f"{s['ratio']}"),
              row("events in the store after the import", lambda s: f"{s['events']:,}"),
              row("re-import of the organizations file: recorded / skipped, s", lambda s: (
                  f"{s['reimport_organizations']['recorded']} / {s['reimport_organizations']['skipped']:,}, "
                  f"{s['reimport_organizations']['seconds']}")),
              ""]
    slow = max(stores, key=lambda s: s["members"]["seconds"])
    share = slow["members"]["phases"].get("record", 0) / slow["members"]["seconds"]
    lines += [f"Where the time goes ({names[slow['store']]}): recording is {share:.0%} of the member import "
              f"(three events a member: the member's import, its resident-ID claim, and its branch's roster "
              f"entry, saved as the check judged them); the importing processes used "
              f"{slow['members']['cpu_seconds']:,} CPU s in {slow['members']['seconds']:,} s of wall time (the "
              "database server's CPU is not counted). At the sample's rate the full million would take about "
              f"{FULL / slow['members']['rate'] / 60:,.0f} minutes; the files of the whole province name "
              "organizations all over it, which the sample hardly shows (\"Import: the goal, and where the time "
              "goes\", below, measures the whole).", ""]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return benchlib.machine(POSTGRES_URL, ("openpyxl",))


def write_docs(path: Path, section: str) -> None:
    benchlib.replace_section(path, section, "## Import")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000, help="members in the file (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", choices=("postgres", "sqlite", "both"), default="postgres")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bench_import"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    parser.add_argument("--sample-reason", default="the full million takes too long on this shared machine",
                        help="said in the docs when --members is below 1,000,000")
    parser.add_argument("--keep", action="store_true", help="keep the schema and the SQLite file")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes importing the members (default: the product's, api/importing/parts.py); "
                        "with more than one, the members are also imported by one process, for the ratio")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = datetime.now(UTC)
    log(f"writing the files ({args.members:,} members)")
    orgs, members, holding_used = write_files(args.work_dir, args.members, args.seed)
    stores: list[dict[str, Any]] = []
    for kind in (("postgres", "sqlite") if args.store == "both" else (args.store,)):
        figures = measure(kind, args.work_dir, args.keep, orgs, members, args.workers)
        if figures["members"]["workers"] > 1:  # the same members imported by one process, in the same run
            log(f"{kind}: the members again, into a fresh store, by one process")
            figures["one_process"] = measure(kind, args.work_dir, args.keep, orgs, members, 1)["members"]
        stores.append(figures)
    command = ".venv/bin/python scripts/bench_import.py" + (
        f" --members {args.members}" if args.members != 1_000_000 else "") + (
        f" --store {args.store}" if args.store != "postgres" else "") + (
        f" --seed {args.seed}" if args.seed != 1 else "") + (
        f" --workers {args.workers}" if args.workers is not None else "")
    run = {"date": f"{started:%Y-%m-%d %H:%M} UTC", "machine": machine(), "load_start": load_start,
           "load_end": [round(x, 2) for x in os.getloadavg()], "members": args.members,
           "sample_reason": args.sample_reason, "command": command, "holding_used": holding_used,
           "holding_total": holding_total(args.seed), "stores": stores}
    print(json.dumps(run, indent=2, ensure_ascii=False))
    if not args.no_docs:
        write_docs(args.docs, render(run))
        log(f"wrote the section ## Import of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
