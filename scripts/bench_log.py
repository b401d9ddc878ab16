"""Saves per second into the PostgreSQL event log: eventsourcing's recorder (a table lock
from each insert to its commit) against `domain.pglog.PostgresLogRecorder` (no table lock;
readers stop at the oldest transaction in flight), with 1, 4 and 8 concurrent writers.

    .venv/bin/python scripts/bench_log.py                               # docs updated
    .venv/bin/python scripts/bench_log.py --cluster shared=URL --cluster private=URL2
    .venv/bin/python scripts/bench_log.py --seconds 3 --repeat 1 --no-docs   # a quick run

What it does, for each number of writers, `--repeat` times, for each recorder and each
cluster (`--cluster`), in that order (so that they alternate as the machine's load drifts):
  1. a fresh PostgreSQL schema (TCP, 127.0.0.1), its tables created once by this process;
  2. the writers: separate processes started together, each with its own connection (the
     recorder's pool of one), saving aggregates of `--events` events each (state of
     `--state-bytes` bytes, the ledger's mean event size) one save after another, one
     transaction a save, for `--seconds` after a few untimed saves;
  3. meanwhile a tail in this process follows the log as the projection engine does
     (`select_notifications` after the last id read, pages of 500); at the end every
     stored id is checked against what the tail read (passed over, read twice, out of order).
The reference rows use the library's recorder with POSTGRES_ENABLE_DB_FUNCTIONS (its
inserts through a database function, which takes no lock): what no ordering at all costs,
and how often a tail then passes over an event.

Figures on stdout, the results as JSON on stderr's last line, and the section
"## Event log (PostgreSQL)" of docs/BENCHMARKS.md replaced (others kept) unless --no-docs.
The machine may be shared: the ratios within one run are what counts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from eventsourcing.persistence import StoredEvent  # noqa: E402

from api.simulation import BENCH_DATA_KEYS  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import store_env  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
ID_KEY = "bench-log-key-not-a-secret"
TOPIC = "domain.member:Member.Admitted"
WARM_UP = 5  # untimed saves per writer
TAIL_PAGE = 500
RECORDERS: dict[str, tuple[str, dict[str, str]]] = {
    "library": ("eventsourcing.postgres:PostgresApplicationRecorder", {}),
    "log": ("domain.pglog:PostgresLogRecorder", {}),
    "functions": ("eventsourcing.postgres:PostgresApplicationRecorder", {"POSTGRES_ENABLE_DB_FUNCTIONS": "y"}),
}
TEXT = {
    "library": "eventsourcing's recorder (table lock until commit)",
    "log": "`PostgresLogRecorder` (no table lock)",
    "functions": "reference: library with DB functions (no lock, no ordering)",
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def url_for(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def open_ledger(base: str, schema: str, recorder: str, *, create: bool = False) -> Ledger:
    topic, extra = RECORDERS[recorder]
    env = store_env(url_for(base, schema), create_tables=create)
    env.update({"LEDGER_ID_KEY": ID_KEY, "LEDGER_DATA_KEYS": BENCH_DATA_KEYS,
                "APPLICATION_RECORDER_TOPIC": topic, "POSTGRES_POOL_SIZE": "1",
                "POSTGRES_CONNECT_TIMEOUT": "30",  # a loaded machine may take seconds to connect
                "POSTGRES_MAX_OVERFLOW": "1", **extra})
    return Ledger(env)


def writer(base: str, schema: str, recorder: str, events: int, state_bytes: int, seconds: float,
           barrier: Any, results: Any) -> None:
    """One writer process: saves one after another for `seconds` once all have started."""
    ledger = open_ledger(base, schema, recorder)
    state = b"x" * state_bytes

    def save() -> None:
        originator = uuid.uuid4()
        ledger.recorder.insert_events([StoredEvent(originator, v, TOPIC, state) for v in range(1, events + 1)])

    try:
        for _ in range(WARM_UP):
            save()
        store = ledger.recorder
        held = (getattr(store, "held_back", 0), getattr(store, "held_back_seconds", 0.0))
        barrier.wait(timeout=120)
        cpu = time.process_time()
        start = time.perf_counter()
        end = start + seconds
        latencies: list[float] = []
        while (began := time.perf_counter()) < end:
            save()
            latencies.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - start
        latencies.sort()
        results.put({"saves": len(latencies), "elapsed": elapsed, "cpu": time.process_time() - cpu,
                     "held_back": getattr(store, "held_back", 0) - held[0],
                     "held_back_s": getattr(store, "held_back_seconds", 0.0) - held[1],
                     "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)]})
    finally:
        ledger.close()


class Tail(threading.Thread):
    """Follows the log from the start, as the projection engine does, until asked to finish
    and caught up."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(name="tail", daemon=True)
        self.ledger, self.seen = ledger, list[int]()
        self.finishing = threading.Event()

    def run(self) -> None:
        position = 0
        while True:
            finishing = self.finishing.is_set()
            page = self.ledger.recorder.select_notifications(
                start=position, limit=TAIL_PAGE, inclusive_of_start=False)
            self.seen.extend(n.id for n in page)
            if page:
                position = page[-1].id
            elif finishing:
                return
            else:
                time.sleep(0.002)


def phase(cluster: str, base: str, recorder: str, writers: int, args: argparse.Namespace) -> dict[str, Any]:
    schema = f"bench_log_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        open_ledger(base, schema, recorder, create=True).close()
        tail_ledger = open_ledger(base, schema, recorder)
        context = mp.get_context("spawn")
        barrier, results = context.Barrier(writers + 1), context.Queue()
        processes = [context.Process(target=writer, args=(base, schema, recorder, args.events, args.state_bytes,
                                                          args.seconds, barrier, results))
                     for _ in range(writers)]
        for process in processes:
            process.start()
        barrier.wait(timeout=120)
        tail = Tail(tail_ledger)
        tail.start()
        outcomes = [results.get(timeout=args.seconds + 120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        tail.finishing.set()
        tail.join(timeout=120)
        tail_ledger.close()
        with psycopg.connect(base, autocommit=True) as conn:
            stored = [row[0] for row in conn.execute(sql.SQL("SELECT notification_id FROM {} ORDER BY 1").format(
                sql.Identifier(schema, "ledger_events")))]
        seen = tail.seen
        saves = sum(o["saves"] for o in outcomes)
        elapsed = max(o["elapsed"] for o in outcomes)
        result = {
            "cluster": cluster, "recorder": recorder, "writers": writers, "saves": saves, "events": len(stored),
            "saves_per_s": saves / elapsed, "events_per_s": saves * args.events / elapsed,
            "p50_ms": 1000 * sorted(o["p50"] for o in outcomes)[len(outcomes) // 2],
            "p99_ms": 1000 * max(o["p99"] for o in outcomes),
            "writer_cpu_s": sum(o["cpu"] for o in outcomes),
            "held_back": sum(o["held_back"] for o in outcomes),
            "held_back_s": sum(o["held_back_s"] for o in outcomes),
            "tail_passed_over": len(set(stored) - set(seen)),
            "tail_twice": len(seen) - len(set(seen)),
            "tail_in_order": seen == sorted(seen),
        }
        log(f"{cluster}: {recorder:9} {writers} writers: {result['saves_per_s']:8.1f} saves/s, "
            f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms; "
            f"tail passed over {result['tail_passed_over']}")
        return result
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def tables(results: list[dict[str, Any]]) -> list[str]:
    """The tables of one cluster's phases."""
    counts = sorted({r["writers"] for r in results})
    by: dict[tuple[str, int], dict[str, Any]] = {}
    for key in {(r["recorder"], r["writers"]) for r in results}:
        runs = sorted((r for r in results if (r["recorder"], r["writers"]) == key), key=lambda r: r["saves_per_s"])
        median = runs[len(runs) // 2]  # its rate and latencies; counts summed over the runs
        by[key] = {**median, **{field: sum(r[field] for r in runs) for field in
                                ("saves", "events", "tail_passed_over", "held_back", "held_back_s", "writer_cpu_s")},
                   "runs": runs}
    recorders = [name for name in RECORDERS if any(r["recorder"] == name for r in results)]
    heads = " | ".join(f"{n} writer{'s' if n > 1 else ''}" for n in counts) + " |"
    rule = "|---|" + "---:|" * len(counts)

    def row(label: str, value: Any) -> str:
        return f"| {label} | " + " | ".join(value(n) for n in counts) + " |"

    lines = ["| saves per second (median run; all runs) | " + heads, rule]
    for name in recorders:
        lines.append(row(TEXT[name], lambda n, name=name: f"{by[(name, n)]['saves_per_s']:,.1f} ("
                         + ", ".join(f"{r['saves_per_s']:,.0f}" for r in by[(name, n)]['runs']) + ")"))
    if "library" in recorders and "log" in recorders:
        lines.append(row("**ratio `PostgresLogRecorder` / library**",
                         lambda n: f"**{by[('log', n)]['saves_per_s'] / by[('library', n)]['saves_per_s']:.2f}**"))
    lines += ["", "| save latency in the median run, ms (median writer's p50 / worst p99) | " + heads, rule]
    for name in recorders:
        lines.append(row(TEXT[name], lambda n, name=name: f"{by[(name, n)]['p50_ms']:.2f} / "
                         f"{by[(name, n)]['p99_ms']:.1f}"))
    lines += ["", "| tail: events passed over (of those stored, all runs) | " + heads, rule]
    for name in recorders:
        lines.append(row(TEXT[name], lambda n, name=name: f"{by[(name, n)]['tail_passed_over']:,} of "
                         f"{by[(name, n)]['events']:,}"))
    if "log" in recorders:
        lines += ["", "| `PostgresLogRecorder`: saves held back after their commit by an older transaction "
                  "(all runs) | " + heads, rule]
        lines.append(row("share of saves; mean wait, ms",
                         lambda n: f"{by[('log', n)]['held_back'] / by[('log', n)]['saves']:.0%}; "
                         f"{1000 * by[('log', n)]['held_back_s'] / max(by[('log', n)]['held_back'], 1):.1f}"))
    scaling = {name: by[(name, counts[-1])]["saves_per_s"] / by[(name, counts[0])]["saves_per_s"]
               for name in recorders}
    lines += ["", f"Scaling from {counts[0]} to {counts[-1]} writers: "
              + ", ".join(f"{name} {value:.2f}" for name, value in scaling.items()) + ".", ""]
    twice = [r for r in results if r["tail_twice"] or not r["tail_in_order"]]
    lines.append("- The tail read no event twice and every id in order in every phase." if not twice else
                 "- The tail read events twice or out of order in: "
                 + ", ".join(f"{r['recorder']} with {r['writers']}" for r in twice) + ".")
    lines.append("- Writers' CPU (s, all writers of all runs): " + "; ".join(
        f"{name} " + " / ".join(f"{by[(name, n)]['writer_cpu_s']:.1f}" for n in counts) for name in recorders)
        + ". The database server shares the machine's CPUs with the writers and the tail.")
    return lines


def section(results: list[dict[str, Any]], clusters: dict[str, str], machine: dict[str, Any],
            args: argparse.Namespace, started: datetime, load_end: list[float], command: str) -> str:
    lines = [
        "## Event log (PostgreSQL)",
        "",
        "Saves per second into the event store from `scripts/bench_log.py`: eventsourcing's PostgreSQL "
        "recorder, which locks the events table (EXCLUSIVE) from each save's insert to its commit so that "
        "positions become visible in order, against `domain.pglog.PostgresLogRecorder`, which takes no table "
        "lock (each row records its transaction; readers stop before the oldest transaction in flight; ids "
        "are drawn under a lock held for the INSERT alone; a save returns once its events are readable). "
        f"Each writer is a separate process with its own connection, saving aggregates of {args.events} "
        f"events ({args.state_bytes} bytes of state each, the ledger's mean) one save after another, one "
        "transaction a save, into a fresh schema over TCP on 127.0.0.1; a tail follows the log meanwhile "
        "(`select_notifications` after the last id read) and every stored id is checked against it. "
        "The reference is the library's recorder with POSTGRES_ENABLE_DB_FUNCTIONS: no lock and no "
        "ordering, so its tail may pass over events. The machine is shared: the ratios within the run "
        "are what counts.",
        "",
        "Any transaction of the database cluster that has written something holds `PostgresLogRecorder`'s "
        "readers back while it runs, and the saves that committed after it wait for it (their events are "
        "readable only then): the phases run on each cluster given, alternating, so a cluster that other "
        "jobs use at the same time can be compared with one that only this benchmark uses.",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine['nproc']} CPUs ({machine['cpu']}); load average "
        f"(1, 5, 15 min) {', '.join(str(x) for x in machine['load_start'])} at the start and "
        f"{', '.join(str(x) for x in load_end)} at the end. PostgreSQL {machine['postgres']} (synchronous_commit "
        f"{machine['synchronous_commit']}), Python {machine['python']}, eventsourcing {machine['eventsourcing']}, "
        f"psycopg {machine['psycopg']}. Each phase {args.seconds:g} s after {WARM_UP} untimed saves per writer, "
        f"run {args.repeat} times (the recorders and clusters alternating); the median run is shown.",
        "",
        "```sh",
        command,
        "```",
    ]
    for cluster, url in clusters.items():
        address = urlsplit(url)
        lines += ["", f"### {cluster} cluster ({address.hostname}:{address.port or 5432})", ""]
        lines += tables([r for r in results if r["cluster"] == cluster])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each phase's length")
    parser.add_argument("--writers", default="1,4,8", help="numbers of concurrent writers, comma-separated")
    parser.add_argument("--events", type=int, default=3, help="events per save")
    parser.add_argument("--state-bytes", type=int, default=349, help="bytes of state per event")
    parser.add_argument("--recorders", default=",".join(RECORDERS), help="of " + ", ".join(RECORDERS))
    parser.add_argument("--cluster", action="append", default=[], metavar="LABEL=URL",
                        help="a PostgreSQL database to run the phases on (repeatable; default: "
                        "shared=LEDGER_TEST_POSTGRES_URL)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase (interleaved); the median counts")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/BENCHMARKS.md as it is")
    args = parser.parse_args()
    clusters = dict(item.split("=", 1) for item in args.cluster) or {"shared": POSTGRES_URL}
    counts = [int(n) for n in args.writers.split(",")]
    recorders = [name for name in args.recorders.split(",") if name]
    unknown = [name for name in recorders if name not in RECORDERS]
    if unknown:
        parser.error(f"unknown recorders: {', '.join(unknown)}")
    started = datetime.now(UTC)
    machine = benchlib.machine(next(iter(clusters.values())))
    results = [phase(cluster, url, name, n, args) for n in counts for _ in range(args.repeat)
               for name in recorders for cluster, url in clusters.items()]
    load_end = [round(x, 2) for x in os.getloadavg()]
    command = " ".join([".venv/bin/python scripts/bench_log.py", *sys.argv[1:]])
    text = section(results, clusters, machine, args, started, load_end, command)
    print(text)
    if not args.no_docs:
        benchlib.replace_section(ROOT / "docs" / "BENCHMARKS.md", text, "## Event log (PostgreSQL)")
    print(json.dumps({"machine": machine, "results": results}), file=sys.stderr)


if __name__ == "__main__":
    main()
