"""Benchmarks of the read side: reading events, rebuilding the views, catch-up latency and
query latency, on PostgreSQL and SQLite, over a synthetic history (scripts/synthetic.py).

    .venv/bin/python scripts/bench_projections.py --scale city --store both
    .venv/bin/python scripts/bench_projections.py --scale province --store both --keep

What it measures, per store:
  (a) raw: every event read (`select_notifications`, pages of 5,000) and decoded
      (`ledger.mapper.to_domain_event`): events/s, the ceiling for any projection; and in
      the same step, right after, the same events read and decoded as the engine reads
      them (`projections.reading.NotificationReader`, on SQLite its own query; and
      `projections.decoding.EventDecoder`, the same event objects): "raw, as the engine reads";
  (b) rebuild: `ProjectionEngine.rebuild()` (drop, create, apply all): events/s and its
      ratios to both rates of (a) measured in the same run;
  (c) one event per transaction (the engine with batch_size=1, like a library runner
      that records a tracking row per event) over the first events: events/s, ratio to (a);
  (d) catch-up latency from a command's commit (`Ledger.record_org_life`) until another
      connection sees it applied (`proj_tracking`): in-process `catch_up()`, background
      thread (`start()` + `wait_for`), and a separate `python -m projections.worker`;
  (e) query latency of rosters (now, as of a past date), a root's monthly report and
      overdue lists.

Fresh PostgreSQL schemas and SQLite files under --work-dir are made for each run and
dropped afterwards unless --keep; --reuse-postgres / --reuse-sqlite run on kept ones. With
--store both the history is generated once on PostgreSQL (through `Ledger.save`) and its
stored events copied to SQLite. Results go to stdout as a table, to a JSON file, and into
docs/BENCHMARKS.md ("## Projections", one subsection per scale).

One module of more than 500 lines: its five steps run in one process over the same kept
stores and write one table per scale whose ratios compare steps of the same run ((b) over
(a), before and after); each step is a few functions that only make sense beside the others.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from api.app import settle_heap
from api.services import ViewPool
from domain.ledger import Ledger
from projections import engine as engine_module
from projections.db import ViewDatabase
from projections.decoding import EventDecoder
from projections.engine import ProjectionEngine
from projections.queries import Queries
from projections.reading import NotificationReader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from synthetic import BENCH_DATA_KEYS, BENCH_ID_KEY, SCALES, create_schema, generate, ledger_for

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BATCH = inspect.signature(ProjectionEngine.__init__).parameters["batch_size"].default
POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
PAGE = 5000
STEPS = ("raw", "rebuild", "single", "latency", "queries")
SCALE_ORDER = ("small", "city", "province")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- stores ------------------------------------------------------------------------------

@dataclass
class Store:
    kind: str  # postgres | sqlite
    url: str
    name: str  # schema or file path
    fresh: bool
    scratch: list[str] = field(default_factory=list)  # extra schemas or files to drop

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.kind == "postgres" else "SQLite"

    def view_url(self, suffix: str) -> str:
        """A URL for views kept apart from the main ones (events stay in the main store)."""
        if self.kind == "postgres":
            schema = f"{self.name}_{suffix}"
            _admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            _admin(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            self.scratch.append(schema)
            return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
        path = f"{self.name[:-3]}-{suffix}.db"
        _remove_sqlite(path)
        self.scratch.append(path)
        return f"sqlite:///{path}"

    def drop(self, *, scratch_only: bool = False) -> None:
        """Drop this run's scratch views, and the store itself unless `scratch_only`."""
        names = self.scratch if scratch_only else [*self.scratch, self.name]
        for name in names:
            if self.kind == "postgres":
                _admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            else:
                _remove_sqlite(name)


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(statement)


def _remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def postgres_store(scale: str, seed: int, reuse: str | None) -> Store:
    schema = reuse or f"bench_{scale}_{seed}_{uuid.uuid4().hex[:6]}"
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    if reuse is None:
        create_schema(url)
    return Store("postgres", url, schema, fresh=reuse is None)


def sqlite_store(scale: str, seed: int, reuse: str | None, work_dir: Path) -> Store:
    path = reuse or str(work_dir / f"{scale}-{seed}-{uuid.uuid4().hex[:6]}.db")
    return Store("sqlite", f"sqlite:///{path}", path, fresh=reuse is None)


def stats_path(store: Store, work_dir: Path) -> Path:
    return work_dir / f"{Path(store.name).stem}.stats.json"


def copy_events(source: Ledger, target: Ledger, until: int | None = None) -> int:
    """Copy the stored events, unchanged and in order, from one store to another (up to the
    position `until`: a prefix of the history)."""
    position = copied = 0
    while True:
        page = source.recorder.select_notifications(start=position, limit=PAGE, stop=until,
                                                    inclusive_of_start=False)
        if not page:
            return copied
        target.recorder.insert_events([
            StoredEvent(originator_id=n.originator_id, originator_version=n.originator_version,
                        topic=n.topic, state=n.state) for n in page
        ])
        copied += len(page)
        position = page[-1].id
        if copied % 500_000 < PAGE:
            log(f"copied {copied:,} events")


# --- measurements ------------------------------------------------------------------------

def note_load(result: dict[str, Any], step: str) -> None:
    """The 1-minute load average as a step starts (the machine may be shared)."""
    result.setdefault("load", {})[step] = round(os.getloadavg()[0], 2)


def mean_rate(*rates: Any) -> float | None:
    """The mean of the rates given (None unless every one is a number)."""
    if not rates or not all(isinstance(r, int | float) for r in rates):
        return None
    return sum(rates) / len(rates)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict[str, Any]:
    return {"n": len(values_ms), "median_ms": round(statistics.median(values_ms), 3),
            "p99_ms": round(percentile(values_ms, 0.99), 3), "max_ms": round(max(values_ms), 3)}


def position_of_nth(ledger: Ledger, n: int | None) -> int | None:
    """The position of the n-th event (None: no cap)."""
    if n is None:
        return None
    position = seen = 0
    while seen < n:
        page = ledger.recorder.select_notifications(
            start=position, limit=min(PAGE, n - seen), inclusive_of_start=False
        )
        if not page:
            break
        seen += len(page)
        position = page[-1].id
    return position


def raw_read(ledger: Ledger, until: int | None, decode: Callable[[Any], Any] | None = None,
             reader: NotificationReader | None = None) -> dict[str, Any]:
    """Every event read in pages and decoded: by the library (`select_notifications`, the
    mapper) unless `reader` and `decode` (the engine's own)."""
    position = events = 0
    started, cpu = time.perf_counter(), time.process_time()
    to_domain_event = decode or ledger.mapper.to_domain_event
    while True:
        if reader is None:
            page: Any = ledger.recorder.select_notifications(
                start=position, limit=PAGE, stop=until, inclusive_of_start=False
            )
        else:
            page = reader.select(position, PAGE, until)
        for notification in page:
            to_domain_event(notification)
        events += len(page)
        if len(page) < PAGE:
            break
        position = page[-1].id if reader is None else reader.position(page[-1])
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": round(seconds, 3), "rate": round(events / seconds),
            "cpu_seconds": round(time.process_time() - cpu, 3)}


class TimeLimit(Exception):
    pass


def progress_printer(label: str, total: int, limit: float | None,
                     mark: float | None = None, marks: dict[str, Any] | None = None) -> Callable[[int, int], None]:
    """Log progress every 15 s; note where the work stood at `mark` seconds (into `marks`);
    raise TimeLimit after `limit` seconds."""
    started = last = time.monotonic()
    cpu = time.process_time()
    first: dict[str, int] = {}

    def progress(position: int, target: int) -> None:
        nonlocal last
        now = time.monotonic()
        first.setdefault("position", position)  # after the first batch: a lower bound of the start
        if now - last >= 15:
            last = now
            rate = (position - first["position"]) / (now - started)
            eta = (target - position) / rate if rate else float("inf")
            log(f"{label}: position {position:,}/{target:,}, {rate:,.0f} events/s, ETA {eta / 60:,.1f} min")
        if mark is not None and marks is not None and "seconds" not in marks and now - started >= mark:
            marks.update(seconds=round(now - started, 1), position=position,
                         cpu_seconds=round(time.process_time() - cpu, 1))
            log(f"{label}: at the {mark:.0f} s mark, position {position:,} of {target:,}")
        if limit is not None and now - started > limit:
            raise TimeLimit(f"{label} passed its time limit of {limit:.0f} s at position {position:,}")

    return progress


def rebuild_batch(batch_size: int) -> int:
    """The batch size `rebuild()` applies (the engine may use larger batches when rebuilding)."""
    return max(batch_size, getattr(engine_module, "REBUILD_BATCH", 0))


def time_writes(engine: ProjectionEngine, started: float) -> dict[str, Any]:
    """Time each batch the engine's writer commits and each table's writes in it (filled in
    while the engine runs): where a rebuild's time goes once the writer sets the pace."""
    timed: dict[str, Any] = {"batches": [], "tables": defaultdict(lambda: [0.0, 0])}
    write_batch, write_rows = engine._write_batch, engine.db.write_rows

    def batch(*args: Any) -> Any:
        begun = time.perf_counter()
        done = write_batch(*args)
        timed["batches"].append((round(begun - started, 2), round(time.perf_counter() - begun, 3), args[-1]))
        return done

    def rows(table: str, columns: Any, values: Any, on_conflict: str = "", *rest: Any) -> None:
        begun = time.perf_counter()
        write_rows(table, columns, values, on_conflict, *rest)
        entry = timed["tables"][f"{table} ({'upserted' if on_conflict else 'inserted'})"]
        entry[0] += time.perf_counter() - begun
        entry[1] += len(values)

    engine._write_batch = batch  # type: ignore[method-assign,assignment]
    engine.db.write_rows = rows  # type: ignore[method-assign,assignment]
    return timed


def print_writes(timed: dict[str, Any], seconds: float) -> None:
    busy = sum(b[1] for b in timed["batches"])
    log(f"writer busy {busy:.1f} s of {seconds:.1f} s, {len(timed['batches'])} batches "
        "(started at s, took s, events):")
    for started, took, events in timed["batches"]:
        log(f"  {started:8.1f} {took:7.1f} {events:>9,}")
    for table, (took, count) in sorted(timed["tables"].items(), key=lambda kv: -kv[1][0]):
        if count:
            log(f"  {table}: {took:.1f} s, {count:,} rows")


def rebuild(ledger: Ledger, url: str, batch_size: int, until: int | None, mark: float | None,
            limit: float | None, label: str, writes: bool = False) -> dict[str, Any]:
    db = ViewDatabase(url)
    engine = ProjectionEngine(ledger, db, batch_size=batch_size)
    target = until if until is not None else ledger.max_position()
    marks: dict[str, Any] = {}
    progress = progress_printer(label, target, limit, mark, marks)
    started, cpu = time.perf_counter(), time.process_time()
    timed = time_writes(engine, started) if writes else None
    complete = True
    try:
        if until is None:
            engine.rebuild(progress=progress)
        elif "until" in inspect.signature(engine.rebuild).parameters:
            engine.rebuild(progress=progress, until=until)
        else:  # what rebuild() does, up to `until`
            engine.drop()
            engine.setup()
            if "batch_size" in inspect.signature(engine.catch_up).parameters:
                engine.catch_up(until=until, progress=progress, batch_size=rebuild_batch(batch_size))
            else:
                engine.catch_up(until=until, progress=progress)
    except TimeLimit as stopped:
        log(str(stopped))
        complete = False
    seconds = time.perf_counter() - started
    result = {"events": engine.applied, "seconds": round(seconds, 3),
              "rate": round(engine.applied / seconds), "batch_size": rebuild_batch(batch_size),
              "complete": complete, "position": engine.position,
              "cpu_seconds": round(time.process_time() - cpu, 3)}
    if marks:
        result["mark"] = {**marks, "events": marks["position"], "target": target,
                          "rate": round(marks["position"] / marks["seconds"])}
    if timed is not None:
        print_writes(timed, seconds)
    db.close()
    del engine
    gc.collect()
    return result


def single(ledger: Ledger, store: Store, events: int, batch_size: int) -> dict[str, Any]:
    """The first `events` events one per transaction, and batched, into scratch views."""
    until = position_of_nth(ledger, events)
    result: dict[str, Any] = {}
    for label, size in (("one_per_transaction", 1), ("batched", batch_size)):
        url = store.view_url("v1" if size == 1 else "vb")
        db = ViewDatabase(url)
        engine = ProjectionEngine(ledger, db, batch_size=size)
        started = time.perf_counter()
        engine.catch_up(until=until)
        seconds = time.perf_counter() - started
        result[label] = {"events": engine.applied, "seconds": round(seconds, 3),
                         "rate": round(engine.applied / seconds), "batch_size": size}
        db.close()
    return result


def pick_members(db: ViewDatabase, count: int) -> list[tuple[str, str]]:
    """Held members with an open roster in an active organization (uuid order: a fair sample)."""
    return [(r[0], r[1]) for r in db.query(
        "SELECT m.registration_no, m.organization_code FROM proj_members m JOIN proj_organizations o "
        "ON o.code = m.organization_code WHERE m.place = 'held' AND o.status = 'active' "
        "ORDER BY m.member_id LIMIT ?", (count,),
    )]


def latency(store: Store, scale_name: str, commands: int, poll_interval: float, seed: int, worker_log: Path,
            modes: tuple[str, ...] = ("catch_up", "thread", "worker")) -> dict[str, Any]:
    scale = SCALES[scale_name]
    ledger = ledger_for(store.url, scale)
    reader = ViewDatabase(store.url)
    queries = Queries(reader)
    members = pick_members(reader, commands * len(modes) + 1)
    rng = random.Random(seed)
    results: dict[str, Any] = {}
    member_iter = iter(members)

    def command() -> tuple[int, float]:
        number, org = next(member_iter)
        started = time.perf_counter()
        position = ledger.record_org_life(number, org).position
        return position, (time.perf_counter() - started) * 1000

    worker: subprocess.Popen[str] | None = None

    def wait_visible(position: int, deadline: float = 60.0) -> None:
        limit = time.monotonic() + deadline
        checked = time.monotonic()
        while queries.position() < position:
            if worker is not None and time.monotonic() - checked > 1.0:
                checked = time.monotonic()
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited ({worker.returncode}); see {worker_log}")
                errors = [line for line in worker_log.read_text().splitlines() if " ERROR " in line or "Error:" in line]
                if errors:
                    raise RuntimeError(f"the worker fails: {errors[-1]} (see {worker_log})")
            if time.monotonic() > limit:
                raise TimeoutError(f"position {position} not visible after {deadline} s (worker log: {worker_log})")
            time.sleep(0.0005)

    def run(mode: str, after_commit: Callable[[int], None]) -> None:
        samples, command_ms = [], []
        for _ in range(commands):
            # A random phase against the engine's poll loop (SQLite), so that commands do
            # not line up just after a poll and each wait a whole interval.
            time.sleep(rng.uniform(0.0, max(0.05, poll_interval)))
            position, took = command()
            started = time.perf_counter()
            after_commit(position)
            samples.append((time.perf_counter() - started) * 1000)
            command_ms.append(took)
        results[mode] = {**summary(samples), "command_median_ms": round(statistics.median(command_ms), 3)}
        log(f"latency {store.label} {mode}: median {results[mode]['median_ms']:.1f} ms, "
            f"p99 {results[mode]['p99_ms']:.1f} ms")

    try:
        db = ViewDatabase(store.url)
        engine = ProjectionEngine(ledger, db)
        engine.catch_up()
        if "catch_up" in modes:
            def in_process(position: int) -> None:
                engine.catch_up()
                wait_visible(position)
            run("catch_up", in_process)
        if "thread" in modes:
            engine.start(poll_interval=poll_interval)
            try:
                def background(position: int) -> None:
                    if not engine.wait_for(position, timeout=60):
                        raise TimeoutError(f"engine did not reach {position}")
                    wait_visible(position)
                run("thread", background)
            finally:
                engine.stop()
        db.close()
        if "worker" in modes:
            env = {**os.environ, "LEDGER_DATABASE_URL": store.url,
                   "LEDGER_ID_KEY": ledger.env.get("LEDGER_ID_KEY") or BENCH_ID_KEY,
                   "LEDGER_DATA_KEYS": ledger.env.get("LEDGER_DATA_KEYS") or BENCH_DATA_KEYS}
            with open(worker_log, "w") as output:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "projections.worker", "--poll-interval", str(poll_interval)],
                    cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
                )
            try:
                position, _ = command()  # warm-up: the worker is up once it has applied this
                wait_visible(position, deadline=300)
                run("worker", wait_visible)
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    finally:
        reader.close()
        ledger.close()
    results["poll_interval_s"] = poll_interval
    return results


def analyze_views(store: Store) -> float:
    """ANALYZE the view tables, as autovacuum would (this server runs with autovacuum off;
    views kept current by the worker, not rebuilt, have no statistics otherwise). Returns
    the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'proj%%'", (store.name,)
        ).fetchall()]
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(store.name), sql.Identifier(table)))
    seconds = time.perf_counter() - started
    log(f"ANALYZE of {len(tables)} view tables on {store.label}: {seconds:.1f} s")
    return round(seconds, 2)


class _AsTheApiReads:
    """Each call as one API request reads: a pooled connection, one read-only snapshot,
    and the pool's spare connections for work beside it (`Services.queries()`)."""

    def __init__(self, pool: ViewPool, spare: bool = True) -> None:
        self.pool, self.spare = pool, spare

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.pool.queries(spare=self.spare) as queries:
                return getattr(queries, name)(*args, **kwargs)
        return call


def query_latency(store: Store, samples: dict[str, Any], runs: int, budget: float) -> dict[str, Any]:
    pool = ViewPool(store.url)
    q = _AsTheApiReads(pool)
    alone = _AsTheApiReads(pool, spare=False)  # as the CLI reads: its own connection only
    today, as_of = date.fromisoformat(samples["today"]), date.fromisoformat(samples["as_of"])
    branch, committee, root, month = samples["branch"], samples["committee"], samples["root"], samples["month"]
    cases: list[tuple[str, str, Callable[[], Any], Callable[[Any], int]]] = [
        ("roster_branch", f"roster({branch}, limit=50)",
         lambda: q.roster(branch, limit=50), lambda r: r[1]),
        ("roster_committee_subtree", f"roster({committee}, subtree=True, limit=50)",
         lambda: q.roster(committee, subtree=True, limit=50), lambda r: r[1]),
        ("roster_branch_as_of", f"roster({branch}, as_of={as_of}, limit=50)",
         lambda: q.roster(branch, as_of=as_of, limit=50), lambda r: r[1]),
        ("roster_committee_as_of", f"roster({committee}, as_of={as_of}, subtree=True, limit=50)",
         lambda: q.roster(committee, as_of=as_of, subtree=True, limit=50), lambda r: r[1]),
        ("monthly_report_root", f"monthly_report({root}, {month})",
         lambda: q.monthly_report(root, month), lambda r: r["closing"]),
        ("overdue_committee", f"overdue({committee}, on={today})",
         lambda: q.overdue(committee, today), lambda r: r[1]),
        ("overdue_root", f"overdue({root}, on={today})",
         lambda: q.overdue(root, today), lambda r: r[1]),
        ("overdue_root_one_connection", f"overdue({root}, on={today}), one connection (no spare)",
         lambda: alone.overdue(root, today), lambda r: r[1]),
    ]
    results: dict[str, Any] = {}
    settle_heap()  # as `ledger serve` does once it has started
    try:
        for key, text, call, size in cases:
            started = time.perf_counter()
            found = size(call())  # warm-up, not counted
            first_ms = (time.perf_counter() - started) * 1000
            times: list[float] = []
            deadline = time.monotonic() + budget
            while len(times) < runs and (not times or time.monotonic() < deadline):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            results[key] = {"query": text, "result": found, "first_ms": round(first_ms, 3), **summary(times)}
            log(f"query {store.label} {text}: median {results[key]['median_ms']:.2f} ms, "
                f"p99 {results[key]['p99_ms']:.2f} ms ({len(times)} runs, result {found:,})")
    finally:
        gc.unfreeze()
        pool.close()
    return results


def profile_rebuild(ledger: Ledger, store: Store, events: int, batch_size: int, top: int) -> str:
    """cProfile of the engine applying the first `events` events into scratch views."""
    import cProfile
    import io
    import pstats

    until = position_of_nth(ledger, events)
    db = ViewDatabase(store.view_url("vp"))
    engine = ProjectionEngine(ledger, db, batch_size=batch_size)
    profiler = cProfile.Profile()
    profiler.enable()
    engine.catch_up(until=until)
    profiler.disable()
    db.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- reporting ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return benchlib.machine(POSTGRES_URL)


def fmt_rate(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "–"


def fmt_seconds(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, int | float) else "–"


def fmt_latency(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    return f"{entry['median_ms']:,.1f} / {entry['p99_ms']:,.1f}"


def ratio(a: Any, b: Any) -> str:
    return f"{a / b:.3f}" if isinstance(a, int | float) and isinstance(b, int | float) and b else "–"


def table_rows(results: dict[str, dict[str, Any]], stores: list[str]) -> list[tuple[str, list[str]]]:
    def get(store: str, *path: str) -> Any:
        node: Any = results.get(store, {})
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    rows: list[tuple[str, list[str]]] = []
    some = next(iter(results.values()))
    batch = (some.get("rebuild") or {}).get("batch_size", DEFAULT_BATCH)
    single_events = get(stores[0], "single", "one_per_transaction", "events")
    rows.append(("events in the store", [fmt_rate(get(s, "store_events")) for s in stores]))
    rows.append(("(a) raw read + decode (the library's mapper), events/s",
                 [fmt_rate(get(s, "raw", "rate")) for s in stores]))
    rows.append(("(a) raw read + decode as the engine does (its reader and decoder), events/s",
                 [fmt_rate(get(s, "raw_engine", "rate")) for s in stores]))
    rows.append(("(a) raw read time, s (CPU s in the benchmark process): mapper; engine's reader and decoder", [
        f"{fmt_seconds(get(s, 'raw', 'seconds'))} ({fmt_seconds(get(s, 'raw', 'cpu_seconds'))}); "
        f"{fmt_seconds(get(s, 'raw_engine', 'seconds'))} ({fmt_seconds(get(s, 'raw_engine', 'cpu_seconds'))})"
        for s in stores]))
    rows.append((f"(b) rebuild, events/s (batch {batch})", [
        fmt_rate(get(s, "rebuild", "rate")) + ("" if get(s, "rebuild", "complete") in (True, None)
                                               else f" (stopped at {get(s, 'rebuild', 'events'):,})")
        for s in stores]))
    marked = [get(s, "rebuild", "mark") for s in stores]
    if any(marked):
        seconds = next(m for m in marked if m)["seconds"]
        rows.append((f"(b) rebuild after {seconds:,.0f} s: events applied of all (events/s so far)", [
            f"{m['events']:,} of {m['target']:,} ({m['rate']:,})" if m else "finished before" for m in marked]))
    rows.append(("(b) rebuild time, s (CPU s in the benchmark process)", [
        f"{fmt_seconds(get(s, 'rebuild', 'seconds'))} ({fmt_seconds(get(s, 'rebuild', 'cpu_seconds'))})"
        for s in stores]))
    rows.append(("(b) rebuild / raw (the library's mapper)",
                 [ratio(get(s, "rebuild", "rate"), get(s, "raw", "rate")) for s in stores]))
    if any(get(s, "raw_after", "rate") for s in stores):
        rows.append(("(a) raw read + decode (the library's mapper) again, right after (b), events/s",
                     [fmt_rate(get(s, "raw_after", "rate")) for s in stores]))
        rows.append(("(b) rebuild / raw, the raw rate being the mean of the reads before and after (b)",
                     [ratio(get(s, "rebuild", "rate"), mean_rate(get(s, "raw", "rate"), get(s, "raw_after", "rate")))
                      for s in stores]))
    rows.append(("(b) rebuild / raw as the engine reads (its reader and decoder)",
                 [ratio(get(s, "rebuild", "rate"), get(s, "raw_engine", "rate")) for s in stores]))

    def per_cpu(store: str, step: str) -> Any:
        events, cpu = get(store, step, "events"), get(store, step, "cpu_seconds")
        return events / cpu if isinstance(events, int) and cpu else None

    rows.append(("(a) and (b) per CPU-second of the benchmark process (less sensitive to a loaded "
                 "machine; the database server's CPU is not counted): raw (mapper), raw (engine's reader and decoder), "
                 "rebuild; rebuild / raw (mapper), rebuild / raw (engine's reader and decoder)", [
                     f"{fmt_rate(per_cpu(s, 'raw'))}, {fmt_rate(per_cpu(s, 'raw_engine'))}, "
                     f"{fmt_rate(per_cpu(s, 'rebuild'))}; {ratio(per_cpu(s, 'rebuild'), per_cpu(s, 'raw'))}, "
                     f"{ratio(per_cpu(s, 'rebuild'), per_cpu(s, 'raw_engine'))}" for s in stores]))
    if single_events:
        rows.append((f"(c) one event per transaction, events/s (first {single_events:,} events)",
                     [fmt_rate(get(s, "single", "one_per_transaction", "rate")) for s in stores]))
        rows.append(("(c) one per transaction / raw",
                     [ratio(get(s, "single", "one_per_transaction", "rate"), get(s, "raw", "rate")) for s in stores]))
        catch_batch = get(stores[0], "single", "batched", "batch_size") or DEFAULT_BATCH
        rows.append((f"(c) batched ({catch_batch} a transaction, as `catch_up()`) over the same events, events/s",
                     [fmt_rate(get(s, "single", "batched", "rate")) for s in stores]))
        rows.append(("(c) one per transaction / batched, same events",
                     [ratio(get(s, "single", "one_per_transaction", "rate"), get(s, "single", "batched", "rate"))
                      for s in stores]))
    poll = get(stores[0], "latency", "poll_interval_s")
    for mode, text in (("catch_up", "in-process `catch_up()` after the command"),
                       ("thread", f"background thread (`start()`, poll {poll} s on SQLite) + `wait_for`"),
                       ("worker", f"worker process (`python -m projections.worker`, poll {poll} s on SQLite)")):
        if any(get(s, "latency", mode) for s in stores):
            rows.append((f"(d) catch-up latency, {text}: median / p99 ms",
                         [fmt_latency(get(s, "latency", mode)) for s in stores]))
    if any(get(s, "latency", "catch_up") for s in stores):
        rows.append(("(d) the command itself (`record_org_life`), median ms",
                     [f"{get(s, 'latency', 'catch_up', 'command_median_ms') or 0:,.1f}" for s in stores]))
    for key, entry in (get(stores[0], "queries") or get(stores[-1], "queries") or {}).items():
        rows.append((f"(e) `{entry['query']}` (result {entry['result']:,}): median / p99 ms",
                     [fmt_latency(get(s, "queries", key)) for s in stores]))
    rows.append(("load average (1 min) as each step began: a, b, c, d, e", [
        ", ".join(str((get(s, "load") or {}).get(step, "–")) for step in STEPS) for s in stores]))
    return rows


def render_table(results: dict[str, dict[str, Any]], stores: list[str]) -> str:
    labels = ["PostgreSQL" if s == "postgres" else "SQLite" for s in stores]
    lines = ["| figure | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(stores)]
    for name, values in table_rows(results, stores):
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def render_section(scale: str, run: dict[str, Any]) -> str:
    m = run["machine"]
    generation = run.get("generation") or {}
    lines = [f"### {scale} scale", ""]
    lines.append(f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; "
                 f"load average {m['load_start'][0]} at the start and {m['load_end'][0]} at the end "
                 "(a shared machine: other jobs ran alongside). "
                 f"PostgreSQL {m['postgres']} over TCP on 127.0.0.1, SQLite {m['sqlite']}, "
                 f"Python {m['python']}, eventsourcing {m['eventsourcing']}, psycopg {m['psycopg']}.")
    lines.append("")
    if generation:
        stats = generation.get("stats") or {}
        by_event = stats.get("by_event") or {}
        lines.append(
            f"History (`scripts/synthetic.py --scale {scale} --seed {run['seed']}`): "
            f"{stats.get('events', 0):,} events, {stats.get('organizations', 0):,} organizations, "
            f"{stats.get('members', 0):,} members, {stats.get('scale_start')} to {stats.get('scale_end')}; "
            f"{by_event.get('Transfer.Requested', 0):,} transfers requested, "
            f"{by_event.get('Member.OrgLifeAttended', 0) + by_event.get('Member.DuesPaid', 0):,} org-life and "
            f"dues events.")
        for store, entry in generation.items():
            if store == "stats":
                continue
            how = "generated through `Ledger.save`" if entry.get("how") == "generated" else (
                "stored events copied from PostgreSQL (no snapshots)")
            lines.append(f"- {entry['label']}: {how} in {entry['seconds']:,.0f} s "
                         f"({entry['events'] / entry['seconds']:,.0f} events/s).")
        lines.append("")
    lines.append("Reproduce (each figure of a row group with `--only STEP`, on kept stores with "
                 "`--keep` then `--reuse-postgres SCHEMA --reuse-sqlite PATH`):")
    lines.append("")
    lines.append("```sh")
    lines.append(run["command"])
    for step in STEPS:
        lines.append(f"{run['command']} --only {step}   # ({'abcde'[STEPS.index(step)]})")
    lines.append("```")
    lines.append("")
    lines.append(render_table(run["results"], run["stores"]))
    if any(r.get("queries_analyzed") for r in run["results"].values()):
        lines.append("")
        lines.append("- (e) on PostgreSQL ran after `ANALYZE` of the view tables (this server runs with "
                     "autovacuum off): a rebuild ends with `ANALYZE` of them (and `VACUUM` of those read by "
                     "index-only scans), but views kept current by the worker are only analyzed by autovacuum.")
    if run.get("notes"):
        lines.append("")
        lines.extend(run["notes"])
    return "\n".join(lines)


SECTION_INTRO = """Read-side figures from `scripts/bench_projections.py` over synthetic histories from
`scripts/synthetic.py` (deterministic by seed). (a) is the ceiling for any projection: reading
every event in pages of 5,000 and decoding it, by the library's mapper (the baseline of the
ratios) and, right after in the same step, by the engine's own decoder
(`projections/decoding.py`: the same event objects, parsed with orjson). (b) is
`ProjectionEngine.rebuild()`, with its ratio to each rate of (a). (c) applies
one event per transaction (batch_size=1, the way a library runner that records a tracking row
per event works). (d) is the time from a command's commit to another connection seeing it in
`proj_tracking`. (e) are `projections.queries.Queries` calls on the rebuilt views. Each scale's
subsection is replaced when that scale is run again."""


def write_docs(path: Path, scale: str, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Projections"), None)
    if start is None:
        before, body, after = lines, [], []
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, body, after = lines[:start], lines[start + 1:end], lines[end:]
    subsections: dict[str, list[str]] = {}
    current: str | None = None
    for line in body:
        if line.startswith("### "):
            current = line[4:].split()[0]
            subsections[current] = []
        if current is not None:
            subsections[current].append(line)
    subsections[scale] = section.splitlines()
    ordered = sorted(subsections, key=lambda s: (SCALE_ORDER.index(s) if s in SCALE_ORDER else 99, s))
    new = ["## Projections", "", SECTION_INTRO, ""]
    for name in ordered:
        block = subsections[name]
        while block and not block[-1].strip():
            block = block[:-1]
        new.extend([*block, ""])
    while before and not before[-1].strip():
        before = before[:-1]
    result = [*before, "", *new, *after]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(result).rstrip() + "\n")


# --- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--scale", choices=SCALE_ORDER, default="province")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, help="cap the events read and rebuilt (default: all)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="rebuild batch size")
    parser.add_argument("--single-events", type=int, default=2000,
                        help="events applied one per transaction for (c) (0: skip)")
    parser.add_argument("--commands", type=int, default=200, help="commands per latency mode")
    parser.add_argument("--poll-interval", type=float, default=0.2, help="engine poll interval (SQLite)")
    parser.add_argument("--query-runs", type=int, default=100)
    parser.add_argument("--query-budget", type=float, default=120.0, help="seconds per query at most")
    parser.add_argument("--time-mark", type=float, default=1200.0,
                        help="note how far a rebuild got after this many seconds (the figures keep going)")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="stop a rebuild after this many seconds")
    parser.add_argument("--only", action="append", choices=STEPS, help="run only these steps (repeatable)")
    parser.add_argument("--profile", type=int, default=0, metavar="EVENTS",
                        help="also cProfile the engine over the first EVENTS events and print the top functions")
    parser.add_argument("--time-writes", action="store_true",
                        help="(b) also times each batch the writer commits and each table's writes, and prints them")
    parser.add_argument("--no-analyze", action="store_true",
                        help="query PostgreSQL views without ANALYZE first (as right after a rebuild)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (schemas, files) afterwards")
    parser.add_argument("--copy-events", type=int, metavar="N",
                        help="copy only the first N events into a fresh SQLite store (a prefix of the history)")
    parser.add_argument("--measure", action="append", choices=("postgres", "sqlite"),
                        help="with --store both: measure only this store (repeatable); the other may "
                             "still be the source of a copy")
    parser.add_argument("--rebuild-apart", action="store_true",
                        help="(b) rebuilds into scratch views of their own (schema or file), dropped afterwards, "
                             "and leaves the store's views as they are")
    parser.add_argument("--reuse-postgres", metavar="SCHEMA", help="run on a kept PostgreSQL schema")
    parser.add_argument("--reuse-sqlite", metavar="PATH", help="run on a kept SQLite file")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ledger-bench"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line to add under the figures")
    parser.add_argument("--render-only", action="store_true",
                        help="write the docs from the latest results of --scale in --work-dir, measuring nothing")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        run = json.loads((args.work_dir / f"latest-{args.scale}.json").read_text())
        run["notes"] = sorted({*run.get("notes", []), *(f"- {n}" for n in args.note)})
        print(render_table(run["results"], run["stores"]))
        if not args.no_docs:
            write_docs(args.docs, args.scale, render_section(args.scale, run))
            print(f"docs: {args.docs} (## Projections, {args.scale} scale)")
        return 0
    steps = tuple(args.only or STEPS)
    kinds = ["postgres", "sqlite"] if args.store == "both" else [args.store]
    info = machine()
    command = ".venv/bin/python scripts/bench_projections.py " + " ".join(
        a for a in [f"--store {args.store}", f"--scale {args.scale}", f"--seed {args.seed}",
                    f"--events {args.events}" if args.events else "",
                    f"--batch-size {args.batch_size}" if args.batch_size != DEFAULT_BATCH else ""] if a)
    scale = SCALES[args.scale]
    stores: dict[str, Store] = {}
    generation: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, Any] | None = None
    notes: list[str] = []
    try:
        # --- the histories ---------------------------------------------------------------
        for kind in kinds:
            if kind == "postgres":
                stores[kind] = postgres_store(args.scale, args.seed, args.reuse_postgres)
            else:
                stores[kind] = sqlite_store(args.scale, args.seed, args.reuse_sqlite, args.work_dir)
        source: Store | None = None
        for kind in kinds:
            store = stores[kind]
            path = stats_path(store, args.work_dir)
            if not store.fresh:
                if path.exists():
                    kept = json.loads(path.read_text())
                    samples = samples or kept["samples"]
                    generation.setdefault("stats", kept["stats"])
                    if kept.get("generation"):
                        generation[kind] = kept["generation"]
                if kind == "postgres":
                    source = store  # a fresh SQLite store copies its events
                continue
            ledger = ledger_for(store.url, scale)
            started = time.perf_counter()
            if source is None:
                log(f"generating the {args.scale} history on {store.label} ({store.name})")
                stats = generate(ledger, scale, args.seed, progress=log)
                stats.update(scale_start=scale.start.isoformat(), scale_end=scale.end.isoformat())
                seconds = time.perf_counter() - started
                generation["stats"] = stats
                generation[kind] = {"label": store.label, "how": "generated", "seconds": round(seconds, 1),
                                    "events": stats["events"], "load": round(os.getloadavg()[0], 2)}
                samples = stats["samples"]
                source = store
            else:
                log(f"copying the stored events from {source.label} to {store.label} ({store.name})")
                with contextlib.closing(ledger_for(source.url, scale)) as origin:
                    copied = copy_events(origin, ledger, position_of_nth(origin, args.copy_events))
                seconds = time.perf_counter() - started
                generation[kind] = {"label": store.label, "how": "copied", "seconds": round(seconds, 1),
                                    "events": copied, "load": round(os.getloadavg()[0], 2)}
                stats = generation.get("stats", {})
            ledger.close()
            path.write_text(json.dumps({"samples": samples, "stats": stats, "generation": generation[kind]},
                                       ensure_ascii=False, default=str))
            log(f"{store.label}: {generation[kind]['events']:,} events in {seconds:,.0f} s")
        if samples is None and ({"latency", "queries"} & set(steps)):
            raise SystemExit("no statistics for the reused store(s): their .stats.json is missing in --work-dir")

        # --- the measurements ------------------------------------------------------------
        def this_run() -> dict[str, Any]:
            info["load_end"] = [round(x, 2) for x in os.getloadavg()]
            return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": info,
                    "scale": args.scale, "seed": args.seed, "stores": [k for k in kinds if k in results],
                    "command": command, "store_names": {k: s.name for k, s in stores.items()},
                    "generation": generation, "results": results,
                    "notes": notes + [f"- {n}" for n in args.note]}

        baseline = load_latest(args.work_dir, args.scale, {k: s.name for k, s in stores.items()})
        for kind in kinds:
            if args.measure and kind not in args.measure:
                continue
            store = stores[kind]
            ledger = ledger_for(store.url, scale)
            result: dict[str, Any] = {"store_events": ledger.max_position()}
            results[kind] = result
            until = position_of_nth(ledger, args.events)
            try:
                measure(args, steps, store, ledger, until, samples, result, notes,
                        save=lambda: merge_run(args.work_dir, args.scale, this_run(), baseline))
            finally:
                ledger.close()
        run = merge_run(args.work_dir, args.scale, this_run(), baseline)
        out = args.work_dir / f"results-{args.scale}-{args.store}-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str))
        print(render_table(run["results"], run["stores"]))
        print(f"\nresults: {out}")
        if not args.no_docs:
            write_docs(args.docs, args.scale, render_section(args.scale, run))
            print(f"docs: {args.docs} (## Projections, {args.scale} scale)")
        if args.keep:
            for kind, store in stores.items():
                print(f"kept {store.label}: {store.name}"
                      + (f" (reuse with --reuse-{kind} {store.name})" if store.fresh else ""))
    finally:
        for store in stores.values():
            store.drop(scratch_only=args.keep or not store.fresh)
    return 0


def measure(args: argparse.Namespace, steps: tuple[str, ...], store: Store, ledger: Ledger, until: int | None,
            samples: dict[str, Any] | None, result: dict[str, Any], notes: list[str],
            save: Callable[[], None] = lambda: None) -> None:
    """Steps (a) to (e) on one store, in order; each fills its key of `result` (and `save()`s)."""
    if "raw" in steps or "rebuild" in steps:
        result["raw_after"] = None  # (measured below with both steps; never kept from another run)
    if "raw" in steps:
        note_load(result, "raw")
        log(f"(a) raw read on {store.label}")
        result["raw"] = raw_read(ledger, until)
        log(f"(a) {store.label}: {result['raw']['rate']:,} events/s")
        decoder, reader = EventDecoder(ledger.mapper), NotificationReader(ledger.recorder)
        decode = decoder.decode_row if reader.rows else decoder.decode
        result["raw_engine"] = {**raw_read(ledger, until, decode, reader), "fallbacks": decoder.fallbacks}
        log(f"(a) {store.label}, engine's reader and decoder: {result['raw_engine']['rate']:,} events/s")
        save()
    if "rebuild" in steps:
        note_load(result, "rebuild")
        log(f"(b) rebuild on {store.label}, batch {rebuild_batch(args.batch_size)}")
        url = store.view_url("rebuild") if args.rebuild_apart else store.url
        result["rebuild"] = rebuild(ledger, url, args.batch_size, until, args.time_mark, args.time_limit,
                                    f"rebuild {store.label}", args.time_writes)
        log(f"(b) {store.label}: {result['rebuild']['rate']:,} events/s in {result['rebuild']['seconds']:,.0f} s")
        save()
        if "raw" in steps:
            # The raw read again, right after: this machine's pace drifts over minutes, and
            # the rebuild is compared with the mean of the reads on either side of it.
            log(f"(a) raw read on {store.label} again, after (b)")
            result["raw_after"] = raw_read(ledger, until)
            log(f"(a) {store.label} after (b): {result['raw_after']['rate']:,} events/s")
            save()
        if args.rebuild_apart:
            notes.append("- (b) rebuilt into scratch views apart from the store's own (`--rebuild-apart`), "
                         "which (d) and (e) used as they were.")
        if not result["rebuild"]["complete"]:
            notes.append(f"- The {store.label} rebuild was stopped at its time limit ({args.time_limit:.0f} s) "
                         f"after {result['rebuild']['events']:,} events; its rate is over those events"
                         + ("." if args.rebuild_apart else
                            ", and (d) and (e) ran on views then caught up without timing."))
    if "single" in steps and args.single_events:
        note_load(result, "single")
        log(f"(c) one event per transaction on {store.label}, first {args.single_events:,} events")
        result["single"] = single(ledger, store, args.single_events, args.batch_size)
        save()
    if args.profile:
        log(f"profiling the engine over the first {args.profile:,} events on {store.label}")
        result["profile"] = profile_rebuild(ledger, store, args.profile, args.batch_size, 30)
        print(result["profile"], file=sys.stderr)
    if "latency" in steps or "queries" in steps:
        with contextlib.closing(ViewDatabase(store.url)) as db:
            engine = ProjectionEngine(ledger, db, batch_size=args.batch_size)
            if engine.position < ledger.max_position():
                log(f"bringing the {store.label} views up to date (not timed)")
                target = ledger.max_position()
                engine.catch_up(progress=progress_printer(f"catch-up {store.label}", target, None))
            del engine
            gc.collect()
    if "latency" in steps and args.commands:
        note_load(result, "latency")
        log(f"(d) catch-up latency on {store.label}, {args.commands} commands per mode")
        result["latency"] = latency(store, args.scale, args.commands, args.poll_interval, args.seed,
                                    args.work_dir / f"worker-{Path(store.name).stem}.log")
        save()
    if "queries" in steps and args.query_runs:
        if store.kind == "postgres" and not args.no_analyze:
            result["analyzed"] = analyze_views(store)
        note_load(result, "queries")
        log(f"(e) query latency on {store.label}")
        assert samples is not None
        result["queries"] = query_latency(store, samples, args.query_runs, args.query_budget)
        result["queries_analyzed"] = store.kind == "postgres" and not args.no_analyze
        save()


def load_latest(work_dir: Path, scale: str, store_names: dict[str, str]) -> dict[str, Any] | None:
    """The latest results of this scale, if they were measured on these same stores."""
    path = work_dir / f"latest-{scale}.json"
    previous = json.loads(path.read_text()) if path.exists() else None
    if previous and all(previous.get("store_names", {}).get(k) == v for k, v in store_names.items()):
        return previous
    return None


def merge_run(work_dir: Path, scale: str, run: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """Fold this run into the latest one of the same scale on the same stores (`baseline`),
    so that a run of some steps (--only) updates their figures and keeps the others; write it."""
    if baseline is not None:
        merged = json.loads(json.dumps(baseline))
        for kind, result in run["results"].items():
            target = merged["results"].setdefault(kind, {})
            load = {**target.get("load", {}), **result.get("load", {})}
            target.update(json.loads(json.dumps(result, default=str)))
            target["load"] = load
        merged["stores"] = [k for k in ("postgres", "sqlite") if k in merged["results"]]
        merged["store_names"].update(run["store_names"])
        merged["generation"] = {**merged.get("generation", {}), **run["generation"]}
        merged["notes"] = sorted({*merged.get("notes", []), *run["notes"]})
        merged.update(date=run["date"], machine=run["machine"])
        if set(run["stores"]) >= set(merged["stores"]):
            merged["command"] = run["command"]
    else:
        merged = run
    path = work_dir / f"latest-{scale}.json"
    path.write_text(json.dumps(merged, indent=2, ensure_ascii=False, default=str))
    return merged


if __name__ == "__main__":
    sys.exit(main())
