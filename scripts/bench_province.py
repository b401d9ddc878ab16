"""The write side at province scale: a province-sized store against a small one, in one run.

    .venv/bin/python scripts/bench_province.py --store sqlite --reuse      # builds once, then reuses
    .venv/bin/python scripts/bench_province.py --store postgres --reuse
    .venv/bin/python scripts/bench_province.py --store sqlite --build-only   # just the stores
    .venv/bin/python scripts/bench_province.py --store sqlite --members 20000 --small-members 2000 --no-docs

What it does, for one store kind (a SQLite file, or a PostgreSQL database of its own):
  1. two stores, each built the fastest way the product offers, `ledger import` of generated
     files (`api.importing.import_file`, what the command runs; the files of
     `scripts/bench_import.py`): the province, the synthetic province's ~50,000 organizations
     and `--members` (default 1,000,000) members, imported in files of `--part` members;
     the small store, `--small-members` (default 5,000) members at the province's density and
     only the organizations above their branches. The views are brought up to date and
     (PostgreSQL) the database ANALYZEd. Kept under --dir (SQLite files) or as the databases
     `ledger_province` and `ledger_province_small`; `--reuse` takes them when their build
     finished, else they are built again;
  2. for each store, small first: `ledger serve` (one uvicorn process, inline views) started on
     a free port of 127.0.0.1, twice: (a) the time from launching it to its first answered read
     (GET /v1/members/{no}, sent every 50 ms until it answers 200), then, in a second launch, to
     its first answered command (POST /v1/transfers until it answers 201); (b) `--commands`
     transfers (request + issue + receive) of distinct members by one client over HTTP, the p50
     and p99 of each command kind; (c) the serving process's peak resident memory (VmHWM) after
     its first command and after the transfers;
  3. the figures and the ratios province / small on stdout, as JSON under --dir, and the
     section "## At province scale" of docs/BENCHMARKS.md (both store kinds, from each kind's
     latest results under --dir).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import resource
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from bench_api import HOST, POSTGRES_URL, free_port, log, serve_command, serve_env, serving
from bench_import import ID_KEY, ON, ledger_on, write_files
from bench_serve import COMMANDS, HttpDriver, memory, transfers

from api.importing import import_file
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine

ROOT = Path(__file__).resolve().parent.parent
TITLE = "## At province scale"
ROOT_CODE = "JS"  # the synthetic province's department (the file also holds organizations outside it)
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# --- the stores ---------------------------------------------------------------------------------

def store_url(kind: str, size: str, directory: Path, members: int) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / f'{size}-{members}.db'}"
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/ledger_province" + ("" if size == "province" else "_small")


def files(directory: Path, members: int, seed: int, small: bool, part: int) -> tuple[Path, list[Path]]:
    """The organizations file and the members files (`part` rows each), written once."""
    work = directory / f"files-{members}-{seed}"
    done = work / "done.json"
    if done.exists():
        listed = json.loads(done.read_text())
        return Path(listed["organizations"]), [Path(p) for p in listed["members"]]
    work.mkdir(parents=True, exist_ok=True)
    orgs, roster, _ = write_files(work, members, seed)
    with roster.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    header, body = rows[0], rows[1:]
    if small:  # only the organizations above the members' branches
        with orgs.open(newline="", encoding="utf-8") as file:
            org_rows = list(csv.reader(file))
        parent = {r[0]: r[3] for r in org_rows[1:]}
        keep: set[str] = set()
        for code in {r[header.index("organization_code")] for r in body}:
            while code and code not in keep:
                keep.add(code)
                code = parent.get(code, "")
        with orgs.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([org_rows[0], *(r for r in org_rows[1:] if r[0] in keep)])
    parts = []
    for start in range(0, len(body), part):
        path = work / f"members-{start // part:03d}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([header, *body[start:start + part]])
        parts.append(path)
    roster.unlink()
    done.write_text(json.dumps({"organizations": str(orgs), "members": [str(p) for p in parts]}))
    return orgs, parts


def drop(kind: str, url: str) -> None:
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url[len('sqlite:///'):]}{suffix}").unlink(missing_ok=True)
        return
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def build(kind: str, url: str, members: int, small: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Import the files into a fresh store, bring its views up to date; the figures of it."""
    orgs, parts = files(args.dir, members, args.seed, small, args.part)
    drop(kind, url)
    ledger = ledger_on(url)
    figures: dict[str, Any] = {"members": members, "load_start": [round(x, 2) for x in os.getloadavg()],
                               "workers": args.workers}  # None: the product's default
    try:
        started = time.perf_counter()
        result = import_file(ledger, orgs, "organizations", on=ON)
        assert not result.problems, result.problems[:3]
        figures["organizations"] = result.recorded
        figures["organizations_s"] = round(time.perf_counter() - started, 1)
        log(f"{kind}: {result.recorded:,} organizations in {figures['organizations_s']} s")
        began, recorded = time.perf_counter(), 0
        for number, path in enumerate(parts, start=1):
            if args.build_minutes and time.perf_counter() - began > 60 * args.build_minutes:
                log(f"{kind}: {args.build_minutes:g} minutes of importing members spent: stopping at {recorded:,}")
                break
            result = import_file(ledger, path, "members", on=ON, workers=args.workers)
            assert not result.problems, result.problems[:3]
            recorded += result.recorded
            log(f"{kind}: members file {number}/{len(parts)}, {recorded:,} members in "
                f"{time.perf_counter() - began:,.0f} s")
        figures["members_s"] = round(time.perf_counter() - began, 1)
        figures["members_recorded"] = recorded
        figures["import_peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        # the largest of the import's worker processes (api/importing/parts.py), 0 if none ran
        figures["import_worker_peak_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        figures["events"] = ledger.max_position()
        started = time.perf_counter()
        with contextlib.closing(ViewDatabase(url)) as db:
            ProjectionEngine(ledger, db).catch_up()
        figures["views_s"] = round(time.perf_counter() - started, 1)
        if kind == "postgres":
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
    finally:
        ledger.close()
    figures["load_end"] = [round(x, 2) for x in os.getloadavg()]
    log(f"{kind}: built {figures}")
    return figures


def adopt(kind: str, url: str, members: int) -> dict[str, Any]:
    """A province store whose build was stopped between saves (each save is whole): its views
    brought up to date, (PostgreSQL) ANALYZEd, and taken as it is."""
    figures: dict[str, Any] = {"members": members, "adopted": True,
                               "load_start": [round(x, 2) for x in os.getloadavg()]}
    ledger = ledger_on(url)
    try:
        figures["events"] = ledger.max_position()
        started = time.perf_counter()
        with contextlib.closing(ViewDatabase(url)) as db:
            ProjectionEngine(ledger, db).catch_up()
            figures["members_recorded"] = int(db.scalar("SELECT count(*) FROM proj_members") or 0)
            figures["organizations"] = int(db.scalar("SELECT count(*) FROM proj_organizations") or 0)
        figures["views_s"] = round(time.perf_counter() - started, 1)
        if kind == "postgres":
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
    finally:
        ledger.close()
    figures["load_end"] = [round(x, 2) for x in os.getloadavg()]
    log(f"{kind}: adopted {figures}")
    return figures


def the_store(kind: str, size: str, members: int, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    url = store_url(kind, size, args.dir, members)
    marker = args.dir / f"{kind}-{size}-{members}.built.json"
    if args.reuse and marker.exists():
        return url, json.loads(marker.read_text())
    marker.unlink(missing_ok=True)
    figures = adopt(kind, url, members) if args.adopt and size == "province" else build(
        kind, url, members, size == "small", args)
    marker.write_text(json.dumps(figures))
    return url, figures


def plan(url: str, count: int) -> dict[str, Any]:
    """`count` full members held in branches with no open transfer, each with another branch
    (the next one in code order, so every member moves), and the store's size."""
    with contextlib.closing(ViewDatabase(url)) as db:
        branches = [r[0] for r in db.query(
            "SELECT o.code FROM proj_organizations o JOIN proj_org_closure c ON c.descendant = o.code "
            "WHERE c.ancestor = ? AND o.kind = 'branch' AND o.status = 'active' ORDER BY o.code", (ROOT_CODE,))]
        held = int(db.scalar("SELECT count(*) FROM proj_members WHERE place = 'held'") or 0)
        organizations = int(db.scalar("SELECT count(*) FROM proj_organizations") or 0)
        moves: list[tuple[str, str, str]] = []
        step = max(1, len(branches) // (count + 1))  # spread over the whole tree
        for i in range(0, len(branches) * step, step):
            code = branches[i % len(branches)]
            rows = db.query("SELECT registration_no FROM proj_members WHERE organization_code = ? AND place = "
                            "'held' AND status = 'full' AND transfer_id IS NULL ORDER BY registration_no LIMIT 2",
                            (code,))
            target = branches[(i + 1) % len(branches)]
            moves.extend((r[0], code, target) for r in rows if all(r[0] != m[0] for m in moves))
            if len(moves) >= count:
                break
    if len(moves) < count:
        raise SystemExit(f"only {len(moves)} free members found below {ROOT_CODE}")
    return {"held": held, "organizations": organizations, "branches": len(branches), "moves": moves[:count]}


# --- measuring ----------------------------------------------------------------------------------

def get(port: int, path: str, token: str) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def first_read(url: str, token: str, number: str, work: Path, name: str) -> float:
    """Seconds from launching `ledger serve` to its first answered read."""
    port = free_port()

    def ready() -> bool:
        try:
            return get(port, f"/v1/members/{number}", token) == 200
        except (OSError, http.client.HTTPException):
            return False

    started = time.perf_counter()
    with serving(serve_command(port), serve_env(url, ID_KEY), work / f"{name}-read.log", ready, timeout=900):
        return time.perf_counter() - started


def first_command_then_transfers(url: str, token: str, moves: list[tuple[str, str, str]], on: date,
                                 time_limit: float, work: Path, name: str) -> dict[str, Any]:
    """Launch `ledger serve`: seconds to its first answered command, then one client's transfers."""
    port = free_port()
    driver = HttpDriver(port, token, on)
    (number, _home, target), rest = moves[0], moves[1:]
    first_id: list[str] = []

    def ready() -> bool:
        try:
            first_id.append(driver.request(number, target))
        except (OSError, http.client.HTTPException):
            return False
        except RuntimeError as error:
            if ": 503 " in str(error):
                return False
            raise
        return True

    started = time.perf_counter()
    with serving(serve_command(port), serve_env(url, ID_KEY), work / f"{name}-serve.log", ready,
                 timeout=900) as process:
        seconds = time.perf_counter() - started
        at_start = memory(process.pid)
        driver.issue(first_id[0])
        driver.receive(first_id[0], target)
        load = round(os.getloadavg()[0], 2)
        result = transfers(rest, driver, time_limit)
        after = memory(process.pid)
        driver.close()
    return {"first_command_s": round(seconds, 2), "memory_start": at_start, "memory_after": after,
            "load": load, "http": result}


def measure(kind: str, size: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    ledger = ledger_on(url)
    try:
        chosen = plan(url, args.commands + 2)
        _recorded, token = ledger.grant_operator(f"bench clerk {time.time_ns()}", "clerk", ROOT_CODE)
        events = ledger.max_position()
    finally:
        ledger.close()
    name = f"{kind}-{size}"
    on = datetime.now(UTC).date()
    log(f"{name}: {events:,} events, {chosen['held']:,} members held; first read")
    read_s = first_read(url, str(token), chosen["moves"][-1][0], args.dir, name)
    log(f"{name}: first read after {read_s:.2f} s; first command, then {args.commands} transfers")
    served = first_command_then_transfers(url, str(token), chosen["moves"][:-1], on, args.time_limit,
                                          args.dir, name)
    log(f"{name}: first command after {served['first_command_s']} s, {served['http']['transfers']} transfers, "
        f"{served['http']['by_command_ms']}, memory {served['memory_after']}")
    return {"events": events, "held": chosen["held"], "organizations": chosen["organizations"],
            "branches": chosen["branches"], "first_read_s": round(read_s, 2), **served}


# --- reporting ----------------------------------------------------------------------------------

def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def rows(run: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    p, s = run["province"], run["small"]
    out = [
        ("events in the store", f"{p['events']:,}", f"{s['events']:,}", ratio(p["events"], s["events"])),
        ("members held; organizations", f"{p['held']:,}; {p['organizations']:,}", f"{s['held']:,}; "
         f"{s['organizations']:,}", ratio(p["held"], s["held"])),
        ("(a) launch to first answered read (GET /v1/members/{no}), s", f"{p['first_read_s']:.2f}",
         f"{s['first_read_s']:.2f}", ratio(p["first_read_s"], s["first_read_s"])),
        ("(a) launch to first answered command (POST /v1/transfers, 201), s", f"**{p['first_command_s']:.2f}**",
         f"{s['first_command_s']:.2f}", ratio(p["first_command_s"], s["first_command_s"])),
    ]
    for c in COMMANDS:
        pc, sc = p["http"]["by_command_ms"][c], s["http"]["by_command_ms"][c]
        out.append((f"(b) {c}, p50 / p99 ms (n = {pc['n']})", f"{pc['median']:.1f} / {pc['p99']:.1f}",
                    f"{sc['median']:.1f} / {sc['p99']:.1f}",
                    f"{ratio(pc['median'], sc['median'])} / {ratio(pc['p99'], sc['p99'])}"))
    pa, sa = p["http"]["command_ms"], s["http"]["command_ms"]
    out += [
        ("(b) any command, p50 / p99 ms", f"**{pa['median']:.1f} / {pa['p99']:.1f}**",
         f"{sa['median']:.1f} / {sa['p99']:.1f}", f"{ratio(pa['median'], sa['median'])} / "
         f"{ratio(pa['p99'], sa['p99'])}"),
        ("(b) transfers (errors) in s", f"{p['http']['transfers']} ({p['http']['errors']}) in "
         f"{p['http']['seconds']:.1f}", f"{s['http']['transfers']} ({s['http']['errors']}) in "
         f"{s['http']['seconds']:.1f}", "–"),
        ("(c) peak RSS after the first command (VmHWM), MiB", f"{p['memory_start']['VmHWM']:,.0f}",
         f"{s['memory_start']['VmHWM']:,.0f}", ratio(p["memory_start"]["VmHWM"], s["memory_start"]["VmHWM"])),
        ("(c) peak RSS after the transfers (VmHWM), MiB", f"**{p['memory_after']['VmHWM']:,.0f}**",
         f"{s['memory_after']['VmHWM']:,.0f}", ratio(p["memory_after"]["VmHWM"], s["memory_after"]["VmHWM"])),
        ("load average (1 min) as the transfers began", f"{p['load']}", f"{s['load']}", "–"),
    ]
    return out


def table(run: dict[str, Any]) -> str:
    lines = ["| figure | province | small | province / small |", "|---|---:|---:|---:|"]
    return "\n".join([*lines, *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(run))])


def built_text(kind: str, b: dict[str, Any]) -> str:
    if b.get("adopted"):
        return (f"{NAMES[kind]}: {b['organizations']:,} organizations and {b['members_recorded']:,} members, "
                f"{b['events']:,} events, the import stopped between two saves (`--adopt`); views brought up "
                f"to date in {b['views_s']:,.0f} s (load average {b['load_start'][0]} at the start, "
                f"{b['load_end'][0]} at the end)")
    rate = b["members_recorded"] / b["members_s"] if b.get("members_s") else 0
    worker = b.get("import_worker_peak_mib")
    return (f"{NAMES[kind]}: {b['organizations']:,} organizations in {b['organizations_s']} s, "
            f"{b['members_recorded']:,} members in {b['members_s']:,.0f} s ({rate:,.0f} members/s, "
            f"{b['members_s'] / 60:.1f} min; peak RSS of the importing process {b['import_peak_mib']:,} MiB"
            + (f", of its largest worker {worker:,} MiB" if worker else "") + "), "
            f"{b['events']:,} events; views brought up to date in {b['views_s']:,.0f} s (load average "
            f"{b['load_start'][0]} at the start, {b['load_end'][0]} at the end)")


def section(runs: dict[str, dict[str, Any]]) -> str:
    lines = [TITLE, "",
             "`scripts/bench_province.py`: the write side on a province-sized store against a small one, in the "
             "same run. Both are built by `ledger import` (`api.importing.import_file`) of the files of "
             "`scripts/bench_import.py`: the synthetic province's organizations and its members (a roster of "
             "1,000,000, imported in files of 100,000; on a loaded machine the import may stop after a given "
             "time, `--build-minutes`, or be stopped by hand and the store taken as it is, `--adopt`: each "
             "table gives the members the store holds), and a small store of a few thousand members at the province's "
             "density with only the organizations above their branches; views brought up to date, PostgreSQL "
             "ANALYZEd (a database of its own each: `ledger_province`, `ledger_province_small`). Then, small "
             "store first, `ledger serve` (one uvicorn process, inline views) is launched on a free port: "
             "(a) the time from the launch to its first answered read (GET /v1/members/{no}, polled every "
             "50 ms until 200), and, in a second launch, to its first answered command (POST /v1/transfers "
             "until 201); (b) one client's transfers over HTTP (request + issue + receive of distinct members, "
             "each to another branch), p50 / p99 per command kind; (c) the serving process's peak resident "
             "memory (VmHWM from /proc/PID/status). The ratio column is province / small (above 1: slower, "
             "or bigger, at province scale). Under load the absolute figures are noisy: the load average is "
             "given with each run.", ""]
    for kind in ("sqlite", "postgres"):
        run = runs.get(kind)
        if not run:
            lines += [f"### {NAMES[kind]}", "", "Not measured yet.", ""]
            continue
        m, note = run["machine"], []
        if run["province"]["held"] < 1_000_000:
            b = run["built"]["province"]
            rate = (f" at {b['members_recorded'] / b['members_s']:,.0f} members/s" if b.get("members_s") else "")
            note = [f"**Not the whole province:** the province store holds {run['province']['held']:,} members "
                      f"of the roster's 1,000,000 (and all its {run['province']['organizations']:,} "
                      f"organizations): its import ran{rate} on a machine at a load average about "
                      f"{b['load_end'][0]:.0f}, and stopped there. The ratios compare a store "
                      f"{run['province']['held'] / max(run['small']['held'], 1):,.0f} times the small one's "
                      "members, not 200.", ""]
        store = (f"SQLite {m['sqlite']}" if kind == "sqlite" else
                 f"PostgreSQL {m['postgres']} over TCP on 127.0.0.1 (synchronous_commit {m['synchronous_commit']})")
        lines += [f"### {NAMES[kind]}", "", *note,
                  f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; load average "
                  f"(1/5/15 min) {' / '.join(f'{x:.2f}' for x in m['load_start'])} at the start and "
                  f"{' / '.join(f'{x:.2f}' for x in run['load_end'])} at the end (a shared machine: other jobs "
                  f"ran alongside). {store}, Python {m['python']}, eventsourcing {m['eventsourcing']}.", "",
                  "```sh", run["command"], "```", "", table(run), "",
                  f"- The stores' builds: province, {built_text(kind, run['built']['province'])}; small, "
                  f"{built_text(kind, run['built']['small'])}.", ""]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--members", type=int, default=1_000_000, help="the province's members")
    parser.add_argument("--small-members", type=int, default=5_000, help="the small store's members")
    parser.add_argument("--part", type=int, default=100_000, help="members per imported file")
    parser.add_argument("--commands", type=int, default=300, help="transfers a store (3 commands each)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds of transfers a store at most")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path("/work/tmp-province"), help="stores, files, results")
    parser.add_argument("--reuse", action="store_true", help="reuse the stores whose build finished")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--adopt", action="store_true",
                        help="take a province store whose build was stopped as it is (views brought up to date)")
    parser.add_argument("--build-minutes", type=float, default=0.0,
                        help="start no further members file after this many minutes of importing (0: no limit)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes importing each members file (default: the product's, api/importing/parts.py)")
    args = parser.parse_args(argv)
    if args.commands < 1 or args.small_members >= args.members or args.part < 1:
        parser.error("--commands at least 1, --small-members below --members, --part at least 1")
    args.dir.mkdir(parents=True, exist_ok=True)
    info = benchlib.machine(POSTGRES_URL)
    log(f"load average {info['load_start']}")
    built, urls = {}, {}
    for size, members in (("small", args.small_members), ("province", args.members)):
        urls[size], built[size] = the_store(args.store, size, members, args)
    if args.build_only:
        return 0
    run: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": info,
                           "built": built}
    for size in ("small", "province"):
        run[size] = measure(args.store, size, urls[size], args)
    run["load_end"] = [round(x, 2) for x in os.getloadavg()]
    run["command"] = " ".join([".venv/bin/python scripts/bench_province.py", f"--store {args.store}", "--reuse",
                               *([f"--members {args.members}"] if args.members != 1_000_000 else []),
                               *([f"--small-members {args.small_members}"] if args.small_members != 5_000 else []),
                               *([f"--commands {args.commands}"] if args.commands != 300 else [])])
    out = args.dir / f"results-{args.store}-{args.members}.json"
    if out.exists():
        shutil.copy(out, args.dir / f"results-{args.store}-{args.members}-{datetime.now():%Y%m%d-%H%M%S}.json")
    out.write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str))
    print(table(run))
    print(f"\nresults: {out}; load average at the end {run['load_end']}")
    if not args.no_docs:
        runs = {}
        for kind in ("sqlite", "postgres"):
            path = args.dir / f"results-{kind}-{args.members}.json"
            if path.exists():
                runs[kind] = json.loads(path.read_text())
        benchlib.replace_section(args.docs, section(runs), TITLE)
        print(f"docs: {args.docs} ({TITLE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
