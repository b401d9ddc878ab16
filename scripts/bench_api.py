"""Benchmark of the HTTP API on PostgreSQL: requests per second and latency of a mixed
workload of the users' most frequent calls, driven from a second process over loopback,
and the same commands run directly against the `Ledger` in-process, in the same run.

    .venv/bin/python scripts/bench_api.py --scale city
    .venv/bin/python scripts/bench_api.py --scale small --requests 400 --no-docs   # a quick run

What it does:
  1. a fresh PostgreSQL schema with a synthetic history (`scripts/synthetic.py`, `--scale`),
     its views built and every table ANALYZEd (not timed), and a clerk operator at the
     root department (`Ledger.grant_operator`) whose bearer token the load generator uses;
  2. for each `--concurrency` level (default 1 and 4), in this order and each phase bounded
     by `--requests` and `--time-limit`:
     - direct: the command part of the workload (request + issue, receive) on a `Ledger`
       in this process, without views;
     - direct + views: the same on `api.services.Services` (the Ledger with the inline
       projection engine, exactly what the server runs), still without HTTP;
     - HTTP: `ledger serve` (uvicorn, `LEDGER_PROJECTIONS=inline`, the default) started as
       a subprocess on 127.0.0.1, and this process sending the mixed workload with httpx
       from 1 or N threads (one keep-alive connection each); the server is stopped after;
  3. a table on stdout, the results as JSON in --work-dir, and the section "## API" of
     docs/BENCHMARKS.md replaced (the other sections are kept).

The workload, per cycle of one thread (8 requests, 3 of them commands):
  POST /v1/transfers (request) · POST /v1/transfers/{id}/issue · GET /v1/members/{no} ·
  GET /v1/organizations/{branch}/roster?limit=50 · GET /v1/organizations/{committee}/overdue ·
  POST /v1/transfers/{id}/receive · GET /v1/organizations/{branch}/roster?limit=50 ·
  GET /v1/members/{no} (the member just received).
Members are full members held in the root's branches, with no open transfer; each cycle
moves one of them to another branch (and puts it back in the pool there). Commands are
dated on the history's last day (`on`: back-dated entry, as clerks do with paper records),
so they follow the synthetic events; overdue lists are asked for that day too. POSTs carry
an `Idempotency-Key` unless --no-idempotency-key.

All traffic goes to 127.0.0.1 only (httpx with trust_env=False: no proxy); the number of
requests and the time of each phase are bounded. The schema is dropped at the end unless
--keep (a schema given with --reuse is never dropped).

One module of more than 500 lines: its three modes run the same workload and report into one
table of same-run ratios, and the HTTP server's start and stop, the latency recorder and the
store's set-up defined here are what scripts/bench_serve.py and scripts/bench_province.py
import from it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from api.services import Services
from domain.base import Actor
from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.settings import Settings, store_env
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from synthetic import BENCH_DATA_KEYS, BENCH_ID_KEY, SCALES, Generator, create_schema, ledger_for

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
COMMANDS = ("request", "issue", "receive")
READS = ("member", "roster", "overdue")
KINDS = (*COMMANDS, *READS)
PER_CYCLE = 8  # requests in one HTTP cycle (3 commands, 5 reads)
MODES = ("direct", "services", "http")
MODE_TEXT = {"direct": "direct `Ledger` (no views)",
             "services": "direct `Services` (Ledger + inline views, as the server)",
             "http": "HTTP (`ledger serve`, mixed workload)"}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the store ---------------------------------------------------------------------------------

def url_for(schema: str) -> str:
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"


def admin(statement: sql.Composable) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def analyze(schema: str) -> float:
    """ANALYZE every table of the schema, as autovacuum would (this server runs without)."""
    started = time.perf_counter()
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()]
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    return time.perf_counter() - started


def generate(ledger: Ledger, scale_name: str, seed: int) -> dict[str, Any]:
    if ledger.max_position():
        raise SystemExit("the store is not empty: generate into a fresh schema")
    return Generator(ledger, SCALES[scale_name], seed, progress=log).run().as_dict()


def prepared_store(url: str, schema: str, scale_name: str, seed: int, id_key: str,
                   fresh: bool) -> tuple[str, str | None]:
    """The store of a run (not timed): a synthetic history generated into the fresh schema
    (or the kept one), its views caught up. How it was had, and its root (None when kept)."""
    scale, root, how = SCALES[scale_name], None, "a kept store"
    if fresh:
        create_schema(url)
        log(f"generating the {scale_name} history in schema {schema}")
        with contextlib.closing(ledger_for(url, scale, id_key=id_key)) as ledger:
            started = time.perf_counter()
            stats = generate(ledger, scale_name, seed)
            how = f"generated in {time.perf_counter() - started:,.0f} s"
            root = stats["samples"]["root"]
    with contextlib.closing(ledger_for(url, scale, id_key=id_key)) as ledger:
        db = ViewDatabase(url)
        try:
            log(f"bringing the views up to position {ledger.max_position():,} (not timed)")
            ProjectionEngine(ledger, db).catch_up()
        finally:
            db.close()
    return how, root


@dataclass
class Workload:
    """What the cycles act on, read from the views once the store is ready."""

    root: str
    today: date  # the history's last day: the commands' `on`, the overdue lists' `on`
    branches: list[str]
    committees: list[str]
    lookups: list[str]  # registration numbers to look up
    pool: deque[tuple[str, str]] = field(default_factory=deque)  # (registration_no, branch) free to move
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[str, str]:
        with self.lock:
            if not self.pool:
                raise RuntimeError("no member left to transfer")
            return self.pool.popleft()

    def give_back(self, number: str, branch: str) -> None:
        with self.lock:
            self.pool.append((number, branch))

    def target(self, rng: random.Random, home: str) -> str:
        while True:
            code = rng.choice(self.branches)
            if code != home:
                return code


def read_workload(url: str, root: str | None, today: date) -> Workload:
    db = ViewDatabase(url)
    try:
        if root is None:  # the root department with the most members below it
            root = str(db.scalar(
                "SELECT c.ancestor FROM proj_org_closure c JOIN proj_organizations o ON o.code = c.ancestor "
                "JOIN proj_members m ON m.organization_code = c.descendant "
                "WHERE o.parent_code IS NULL AND m.place = 'held' GROUP BY c.ancestor ORDER BY COUNT(*) DESC LIMIT 1"))
        below = ("SELECT o.code FROM proj_organizations o JOIN proj_org_closure c ON c.descendant = o.code "
                 "WHERE c.ancestor = ? AND o.status = 'active' AND o.kind = ? ORDER BY o.code")
        branches = [r[0] for r in db.query(below, (root, "branch"))]
        committees = [r[0] for r in db.query(below, (root, "committee"))]
        members = db.query(
            "SELECT m.registration_no, m.organization_code FROM proj_members m "
            "JOIN proj_organizations o ON o.code = m.organization_code "
            "JOIN proj_org_closure c ON c.descendant = o.code "
            "WHERE c.ancestor = ? AND o.kind = 'branch' AND o.status = 'active' AND m.place = 'held' "
            "AND m.status = 'full' AND m.transfer_id IS NULL ORDER BY m.member_id", (root,))
    finally:
        db.close()
    if len(branches) < 2 or not committees or not members:
        raise SystemExit(f"the store has too little below {root} to run the workload")
    rng = random.Random(f"bench_api:{root}")
    lookups = [number for number, _ in rng.sample(members, min(500, len(members)))]
    return Workload(root, today, branches, committees, lookups, deque((n, o) for n, o in members))


# --- measuring ---------------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict[str, Any]:
    if not values_ms:
        return {"n": 0}
    return {"n": len(values_ms), "mean_ms": round(statistics.fmean(values_ms), 3),
            "median_ms": round(statistics.median(values_ms), 3),
            "p99_ms": round(percentile(values_ms, 0.99), 3), "max_ms": round(max(values_ms), 3)}


class Recorder:
    """Latencies by kind, and the first few errors, from several threads."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []
        self.lock = threading.Lock()

    def add(self, kind: str, started: float) -> None:
        took = (time.perf_counter() - started) * 1000
        with self.lock:
            self.times[kind].append(took)

    def error(self, kind: str, text: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.samples) < 5:
                self.samples.append(f"{kind}: {text[:300]}")

    def result(self, seconds: float, concurrency: int) -> dict[str, Any]:
        every = [t for kind in KINDS for t in self.times[kind]]
        commands = [t for kind in COMMANDS for t in self.times[kind]]
        reads = [t for kind in READS for t in self.times[kind]]
        errors = sum(self.errors.values())
        return {
            "concurrency": concurrency, "seconds": round(seconds, 3), "requests": len(every) + errors,
            "ok": len(every), "errors": errors, "errors_by_kind": dict(self.errors), "error_samples": self.samples,
            "rate": round((len(every) + errors) / seconds, 1) if seconds else None,
            "command_rate": round(len(commands) / seconds, 1) if seconds else None,
            "all": summary(every), "commands": summary(commands), "reads": summary(reads),
            "by_kind": {kind: summary(self.times[kind]) for kind in KINDS if self.times[kind]},
        }


Cycle = Callable[[random.Random, Recorder | None], None]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process of this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu() -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL server's processes on this
    machine (its backends and background processes; a backend that exits takes its share)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_phase(cycles: int, concurrency: int, time_limit: float, make_cycle: Callable[[], Cycle],
              seed: int, warmup: int = 2, server_pid: int | None = None) -> dict[str, Any]:
    """`cycles` cycles on `concurrency` threads (each with its own cycle function, e.g. its
    own HTTP connection), stopping early at `time_limit` seconds. Also the CPU seconds this
    process (and the server's, given its pid) used meanwhile."""
    recorder = Recorder()
    counter = iter(range(cycles))
    counter_lock = threading.Lock()
    deadline = [0.0]
    cycle_fns = [make_cycle() for _ in range(concurrency)]
    for n in range(warmup):  # untimed: code paths, connections, caches
        cycle_fns[n % concurrency](random.Random(f"warm:{seed}:{n}"), None)
    start_gate = threading.Barrier(concurrency + 1)

    def worker(index: int) -> None:
        rng = random.Random(f"bench_api:{seed}:{concurrency}:{index}")
        start_gate.wait()
        while time.monotonic() < deadline[0]:
            with counter_lock:
                if next(counter, None) is None:
                    return
            cycle_fns[index](rng, recorder)

    threads = [threading.Thread(target=worker, args=(i,), name=f"load-{i}") for i in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + time_limit
    cpu = time.process_time()
    server_cpu = process_cpu(server_pid) if server_pid else None
    started = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    result = recorder.result(seconds, concurrency)
    result["complete"] = time.monotonic() < deadline[0]
    result["cpu_s"] = round(time.process_time() - cpu, 3)
    if server_pid and server_cpu is not None:
        result["server_cpu_s"] = round(process_cpu(server_pid) - server_cpu, 3)
    return result


def ledger_cycle(ledger: Ledger, workload: Workload, actor: Actor) -> Cycle:
    """The command part of the workload on a Ledger: request + issue, receive."""
    on = workload.today

    def cycle(rng: random.Random, rec: Recorder | None) -> None:
        number, home = workload.take()
        target = workload.target(rng, home)
        landed = home
        try:
            started = time.perf_counter()
            try:
                transfer_id = ledger.request_transfer(number, target, reason="job_change", basis="household",
                                                      actor=actor, on=on).transfer_id
            except LedgerError as error:
                if rec:
                    rec.error("request", f"{error.code}: {error.detail}")
                return
            if rec:
                rec.add("request", started)
            assert transfer_id is not None
            for kind, call in (("issue", lambda: ledger.issue_letter(transfer_id, actor=actor, on=on)),
                               ("receive", lambda: ledger.receive_member(transfer_id, target, actor=actor, on=on))):
                started = time.perf_counter()
                try:
                    call()
                except LedgerError as error:
                    if rec:
                        rec.error(kind, f"{error.code}: {error.detail}")
                    return
                if rec:
                    rec.add(kind, started)
            landed = target
        finally:
            if landed != home or not _has_open_transfer(ledger, number):
                workload.give_back(number, landed)

    return cycle


def _has_open_transfer(ledger: Ledger, number: str) -> bool:
    with contextlib.suppress(LedgerError):
        return ledger.member(number).transfer_id is not None
    return True


def http_cycle(client: httpx.Client, workload: Workload, idempotency: bool) -> Cycle:
    """The mixed workload through HTTP (8 requests)."""
    on = workload.today.isoformat()

    def post(rec: Recorder | None, kind: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if idempotency else None
        started = time.perf_counter()
        response = client.post(path, json=body, headers=headers)
        if response.status_code >= 300:
            if rec:
                rec.error(kind, f"{response.status_code} {response.text}")
            return None
        if rec:
            rec.add(kind, started)
        return response.json()  # type: ignore[no-any-return]

    def get(rec: Recorder | None, kind: str, path: str, **params: Any) -> None:
        started = time.perf_counter()
        response = client.get(path, params=params)
        if response.status_code != 200:
            if rec:
                rec.error(kind, f"{response.status_code} {response.text}")
            return
        response.json()
        if rec:
            rec.add(kind, started)

    def cycle(rng: random.Random, rec: Recorder | None) -> None:
        number, home = workload.take()
        target = workload.target(rng, home)
        landed = home
        try:
            requested = post(rec, "request", "/v1/transfers", {
                "registration_no": number, "to_organization_code": target, "reason": "job_change",
                "basis": "household", "on": on})
            if requested is None:
                return
            transfer_id = requested["transfer_id"]
            if post(rec, "issue", f"/v1/transfers/{transfer_id}/issue", {"on": on}) is None:
                return
            get(rec, "member", f"/v1/members/{rng.choice(workload.lookups)}")
            get(rec, "roster", f"/v1/organizations/{rng.choice(workload.branches)}/roster", limit=50)
            get(rec, "overdue", f"/v1/organizations/{rng.choice(workload.committees)}/overdue", on=on)
            if post(rec, "receive", f"/v1/transfers/{transfer_id}/receive",
                    {"organization_code": target, "on": on}) is None:
                return
            landed = target
            get(rec, "roster", f"/v1/organizations/{rng.choice(workload.branches)}/roster", limit=50)
            get(rec, "member", f"/v1/members/{number}")
        finally:
            if landed != home:
                workload.give_back(number, landed)
            else:
                # a refused cycle leaves the member out of the pool unless it is still free
                found = client.get(f"/v1/members/{number}")
                if found.status_code == 200 and not found.json()["place"]["transfer_id"]:
                    workload.give_back(number, home)

    return cycle


# --- the server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ledger_executable() -> str:
    beside = Path(sys.executable).parent / "ledger"
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "ledger")


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool],
            timeout: float = 120) -> Iterator[subprocess.Popen[bytes]]:
    """`command` as a subprocess (output to `log_path`), yielded once `ready()` is true (polled
    every 50 ms, at most `timeout` seconds); stopped (SIGTERM, then SIGKILL) after."""
    with log_path.open("a") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer within {timeout:.0f} s; see {log_path}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def healthy(base: str) -> Callable[[], bool]:
    """A readiness probe: GET /healthz answers 200."""

    def probe() -> bool:
        with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=base, trust_env=False, timeout=5) as client:
            return client.get("/healthz").status_code == 200
        return False

    return probe


def serve_env(url: str, id_key: str) -> dict[str, str]:
    return {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_ID_KEY": id_key,
            "LEDGER_DATA_KEYS": os.environ.get("LEDGER_DATA_KEYS") or BENCH_DATA_KEYS, "LEDGER_PROJECTIONS": "inline",
            "LEDGER_CREATE_TABLES": "false"}


def serve_command(port: int) -> list[str]:
    return [ledger_executable(), "serve", "--host", HOST, "--port", str(port)]


@contextlib.contextmanager
def server(url: str, id_key: str, port: int, log_path: Path) -> Iterator[tuple[str, int]]:
    """`ledger serve` on 127.0.0.1:port as a subprocess; stopped (SIGTERM, then SIGKILL) after."""
    base = f"http://{HOST}:{port}"
    with serving(serve_command(port), serve_env(url, id_key), log_path, healthy(base)) as process:
        yield base, process.pid


# --- reporting -----------------------------------------------------------------------------------



def lat(entry: dict[str, Any] | None) -> str:
    if not entry or not entry.get("n"):
        return "–"
    return f"{entry['median_ms']:,.1f} / {entry['p99_ms']:,.1f}"


def ratio(a: Any, b: Any) -> str:
    return f"{a / b:.2f}" if isinstance(a, int | float) and isinstance(b, int | float) and b else "–"


def table_rows(results: dict[str, dict[str, Any]], levels: list[int]) -> list[tuple[str, list[str]]]:
    def get(mode: str, level: int, *path: str) -> Any:
        node: Any = results.get(mode, {}).get(str(level))
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    rows: list[tuple[str, list[str]]] = []
    http, direct, services = "http", "direct", "services"
    rows.append(("HTTP mixed workload: requests (errors)",
                 [f"{get(http, c, 'requests') or 0:,} ({get(http, c, 'errors') or 0})" for c in levels]))
    rows.append(("HTTP: requests/s", [f"{get(http, c, 'rate') or 0:,.1f}" for c in levels]))
    rows.append(("HTTP: all requests, median / p99 ms", [lat(get(http, c, "all")) for c in levels]))
    rows.append(("HTTP: reads, median / p99 ms", [lat(get(http, c, "reads")) for c in levels]))
    rows.append(("HTTP: commands, median / p99 ms", [lat(get(http, c, "commands")) for c in levels]))
    labels = {"request": "POST /v1/transfers (request)", "issue": "POST …/issue",
              "receive": "POST …/receive", "member": "GET /v1/members/{no}",
              "roster": "GET …/roster?limit=50 (a branch)", "overdue": "GET …/overdue (a committee)"}
    for kind in KINDS:
        rows.append((f"HTTP: {labels[kind]}, median / p99 ms", [lat(get(http, c, "by_kind", kind)) for c in levels]))
    for mode in (direct, services):
        rows.append((f"{MODE_TEXT[mode]}: commands (errors), commands/s", [
            f"{get(mode, c, 'requests') or 0:,} ({get(mode, c, 'errors') or 0}), "
            f"{get(mode, c, 'command_rate') or 0:,.1f}" for c in levels]))
        rows.append((f"{MODE_TEXT[mode]}: commands, median / p99 ms", [lat(get(mode, c, "commands")) for c in levels]))
        for kind in COMMANDS:
            rows.append((f"{MODE_TEXT[mode]}: {kind}, median / p99 ms",
                         [lat(get(mode, c, "by_kind", kind)) for c in levels]))
    for mode in (direct, services):
        name = "direct" if mode == direct else "direct + views"
        rows.append((f"HTTP / {name}, commands: mean latency (median; p99)", [
            f"{ratio(get(http, c, 'commands', 'mean_ms'), get(mode, c, 'commands', 'mean_ms'))} "
            f"({ratio(get(http, c, 'commands', 'median_ms'), get(mode, c, 'commands', 'median_ms'))}; "
            f"{ratio(get(http, c, 'commands', 'p99_ms'), get(mode, c, 'commands', 'p99_ms'))})"
            for c in levels]))
        rows.append((f"HTTP / {name}, median by command: request, issue, receive", [
            ", ".join(ratio(get(http, c, "by_kind", k, "median_ms"), get(mode, c, "by_kind", k, "median_ms"))
                      for k in COMMANDS) for c in levels]))
    def per(mode: str, level: int, key: str) -> str:
        cpu, count = get(mode, level, key), get(mode, level, "ok")
        return f"{cpu * 1000 / count:,.1f}" if isinstance(cpu, int | float) and count else "–"

    rows.append(("CPU ms per request: HTTP server process; HTTP load generator; direct, direct + views (this "
                 "process, per command)", [
                     f"{per(http, c, 'server_cpu_s')}; {per(http, c, 'cpu_s')}; {per(direct, c, 'cpu_s')}, "
                     f"{per(services, c, 'cpu_s')}" for c in levels]))
    rows.append(("load average (1 min) as each phase began: direct, direct + views, HTTP", [
        ", ".join(str(get(mode, c, "load") if get(mode, c, "load") is not None else "–") for mode in MODES)
        for c in levels]))
    return rows


def render_table(results: dict[str, dict[str, Any]], levels: list[int]) -> str:
    lines = ["| figure | " + " | ".join(f"concurrency {c}" for c in levels) + " |",
             "|---|" + "---:|" * len(levels)]
    for name, values in table_rows(results, levels):
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


SECTION_INTRO = """Figures from `scripts/bench_api.py`: the HTTP API served by `ledger serve` (uvicorn, one
process, `LEDGER_PROJECTIONS=inline`, the default) on PostgreSQL over a synthetic history from
`scripts/synthetic.py`, driven from a second process (httpx, one keep-alive connection per thread)
over loopback. The mixed workload repeats one cycle of 8 requests per thread: request a transfer,
issue its letter, look up a member, a branch's roster page (limit 50), a committee's overdue list,
receive the member, another roster page, look up the member received (3 commands, 5 reads). In the
same run the command part (request, issue, receive) runs directly in-process: on a bare `Ledger`
(no views), and on `api.services.Services` (the Ledger with the inline projection engine, as the
server runs it); their ratios to HTTP show what the HTTP layer costs and what the inline views
cost. Latencies are measured by the client, end to end. The load generator, the server and
PostgreSQL share the machine's CPUs."""


def render_section(run: dict[str, Any]) -> str:
    m = run["machine"]
    levels = run["levels"]
    lines = ["## API", "", SECTION_INTRO, ""]
    lines.append(f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; load average "
                 f"(1, 5, 15 min) {', '.join(map(str, m['load_start']))} at the start and "
                 f"{', '.join(map(str, m['load_end']))} at the end (a shared machine: other jobs may run "
                 f"alongside). PostgreSQL {m['postgres']} over TCP on 127.0.0.1, Python {m['python']}, "
                 f"eventsourcing {m['eventsourcing']}, psycopg {m['psycopg']}, FastAPI {m['fastapi']}, "
                 f"uvicorn {m['uvicorn']}, httpx {m['httpx']}.")
    lines.append("")
    store = run["store"]
    lines.append(f"Store: `{run['scale']}` scale, seed {run['seed']}: {store['events']:,} events at the start "
                 f"({store['how']}), {store['members']:,} members free to transfer below {store['root']} "
                 f"in {store['branches']} branches and {store['committees']} committees; commands and overdue "
                 f"lists dated {store['today']} (the history's last day). Each phase: at most "
                 f"{run['cycles']:,} cycles ({run['cycles'] * PER_CYCLE:,} HTTP requests, "
                 f"{run['cycles'] * len(COMMANDS):,} direct commands) and {run['time_limit']:.0f} s, "
                 f"after 2 untimed warm-up cycles; {'with' if run['idempotency'] else 'without'} an "
                 "`Idempotency-Key` on every POST.")
    lines.append("")
    lines.append("```sh")
    lines.append(run["command"])
    lines.append("```")
    lines.append("")
    lines.append(render_table(run["results"], levels))
    notes = list(run.get("notes", []))
    notes.append("- Every table of the schema was ANALYZEd after the views were built (this server runs "
                 "with autovacuum off; a deployment's autovacuum would do the same).")
    notes.append("- The ratios at concurrency 1 measure the HTTP layer (authentication, idempotency record, "
                 "validation, the response's re-read of the transfer, JSON, uvicorn, loopback). At higher "
                 "concurrency the direct phases run commands only, all threads at once, while the HTTP "
                 "workload has 3 commands in 8 requests, so fewer commands overlap there: those ratios "
                 "understate the HTTP layer's cost. The server is one process: CPU ms per request times "
                 "requests/s shows how close it runs to one core.")
    notes.append("- Phases ran in this order for each concurrency: direct, direct + views, HTTP (the server "
                 "started for its phase and stopped after it), so the ratios compare phases minutes apart "
                 "on the same store; the load average column shows how busy the machine was.")
    lines.append("")
    lines.extend(notes)
    return "\n".join(lines)




# --- main ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return benchlib.machine(POSTGRES_URL, ("fastapi", "uvicorn", "httpx"))


def write_docs(path: Path, section: str) -> None:
    benchlib.replace_section(path, section, "## API")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="city")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000,
                        help="HTTP requests per concurrency level (the direct phases run the same cycles)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per phase at most")
    parser.add_argument("--port", type=int, help="the server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-idempotency-key", action="store_true", help="POST without Idempotency-Key")
    parser.add_argument("--reuse", metavar="SCHEMA", help="run on a kept schema (never dropped)")
    parser.add_argument("--keep", action="store_true", help="keep the schema (reuse it with --reuse)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ledger-bench"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line to add under the figures")
    parser.add_argument("--render-from", type=Path, metavar="JSON",
                        help="print the table and write the docs from a results file of --work-dir, measuring nothing")
    args = parser.parse_args(argv)
    if args.render_from:
        run = json.loads(args.render_from.read_text())
        run["notes"] = [*run.get("notes", []), *(f"- {n}" for n in args.note)]
        print(render_table(run["results"], run["levels"]))
        if not args.no_docs:
            write_docs(args.docs, render_section(run))
            print(f"docs: {args.docs} (## API)")
        return 0
    if args.requests < PER_CYCLE or min(args.concurrency) < 1 or max(args.concurrency) > 16:
        parser.error("--requests must be at least 8 and --concurrency between 1 and 16")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    scale = SCALES[args.scale]
    id_key = os.environ.get("LEDGER_ID_KEY") or BENCH_ID_KEY
    cycles = args.requests // PER_CYCLE
    levels = list(dict.fromkeys(args.concurrency))
    command = ".venv/bin/python scripts/bench_api.py " + " ".join(a for a in [
        f"--scale {args.scale}", f"--seed {args.seed}" if args.seed != 1 else "",
        f"--requests {args.requests}", "--concurrency " + " ".join(map(str, levels)),
        f"--time-limit {args.time_limit:g}", "--no-idempotency-key" if args.no_idempotency_key else ""] if a)
    info = machine()
    schema = args.reuse or f"bench_api_{args.scale}_{args.seed}_{uuid.uuid4().hex[:6]}"
    url = url_for(schema)
    fresh = args.reuse is None
    results: dict[str, dict[str, Any]] = {mode: {} for mode in MODES}
    server_log = args.work_dir / f"{schema}-server.log"
    try:
        # --- the store (not timed) ------------------------------------------------------
        how, root = prepared_store(url, schema, args.scale, args.seed, id_key, fresh)
        with contextlib.closing(ledger_for(url, scale, id_key=id_key)) as ledger:
            log(f"ANALYZE of schema {schema}: {analyze(schema):.1f} s")
            workload = read_workload(url, root, scale.end)
            recorded, token = ledger.grant_operator("bench clerk", "clerk", workload.root)
            actor = Actor(id=str(recorded.code), organization_code=workload.root)
            events = ledger.max_position()
        log(f"{events:,} events; {len(workload.pool):,} members free to transfer below {workload.root}, "
            f"{len(workload.branches)} branches, {len(workload.committees)} committees")
        store_info = {"events": events, "how": how, "root": workload.root, "members": len(workload.pool),
                      "branches": len(workload.branches), "committees": len(workload.committees),
                      "today": workload.today.isoformat(), "schema": schema}

        # --- the phases -------------------------------------------------------------------
        for level in levels:
            results["direct"][str(level)] = phase = {"load": round(os.getloadavg()[0], 2)}
            log(f"direct Ledger, concurrency {level}")
            env = store_env(url, create_tables=False)
            env["LEDGER_ID_KEY"] = id_key
            env["LEDGER_DATA_KEYS"] = os.environ.get("LEDGER_DATA_KEYS") or BENCH_DATA_KEYS
            with contextlib.closing(Ledger(env)) as ledger:
                phase.update(run_phase(cycles, level, args.time_limit,
                                       lambda ledger=ledger: ledger_cycle(ledger, workload, actor), args.seed))
            report(phase, f"direct, concurrency {level}")

            results["services"][str(level)] = phase = {"load": round(os.getloadavg()[0], 2)}
            log(f"direct Services (Ledger + inline views), concurrency {level}")
            settings = Settings(database_url=url, id_key=id_key, projections="inline",  # type: ignore[arg-type]
                                data_keys=os.environ.get("LEDGER_DATA_KEYS") or BENCH_DATA_KEYS,
                                create_tables=False)
            services = Services(settings)  # catches the views up with the direct phase's events (not timed)
            try:
                phase.update(run_phase(cycles, level, args.time_limit,
                                       lambda s=services: ledger_cycle(s.ledger, workload, actor), args.seed))
            finally:
                services.close()
            report(phase, f"direct + views, concurrency {level}")

            results["http"][str(level)] = phase = {"load": round(os.getloadavg()[0], 2)}
            port = args.port or free_port()
            log(f"HTTP, concurrency {level}: starting `ledger serve --port {port}` (log: {server_log})")
            with server(url, id_key, port, server_log) as (base, pid):
                clients: list[httpx.Client] = []

                def make_cycle(base: str = base, clients: list[httpx.Client] = clients) -> Cycle:
                    client = httpx.Client(base_url=base, trust_env=False, timeout=60,
                                          headers={"Authorization": f"Bearer {token}"})
                    clients.append(client)
                    return http_cycle(client, workload, not args.no_idempotency_key)

                try:
                    phase["load"] = round(os.getloadavg()[0], 2)
                    phase.update(run_phase(cycles, level, args.time_limit, make_cycle, args.seed, server_pid=pid))
                finally:
                    for client in clients:
                        client.close()
            report(phase, f"HTTP, concurrency {level}")

        # --- the report --------------------------------------------------------------------
        info["load_end"] = [round(x, 2) for x in os.getloadavg()]
        notes = [f"- {n}" for n in args.note]
        for mode in MODES:
            for level, phase in results[mode].items():
                if not phase.get("complete", True):
                    notes.append(f"- {MODE_TEXT[mode]} at concurrency {level} stopped at its time limit "
                                 f"({args.time_limit:.0f} s).")
                if phase.get("errors"):
                    notes.append(f"- {MODE_TEXT[mode]} at concurrency {level}: {phase['errors']} errors "
                                 f"({phase['errors_by_kind']}), e.g. {phase['error_samples'][:1]}.")
        run = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": info, "scale": args.scale,
               "seed": args.seed, "levels": levels, "cycles": cycles, "time_limit": args.time_limit,
               "idempotency": not args.no_idempotency_key, "command": command, "store": store_info,
               "results": results, "notes": notes}
        out = args.work_dir / f"api-{args.scale}-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str))
        print(render_table(results, levels))
        for line in notes:
            print(line)
        print(f"\nresults: {out}")
        if not args.no_docs:
            write_docs(args.docs, render_section(run))
            print(f"docs: {args.docs} (## API)")
        if args.keep and fresh:
            print(f"kept schema {schema} (reuse with --reuse {schema})")
    finally:
        if fresh and not args.keep:
            log(f"dropping schema {schema}")
            admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return 0


def report(phase: dict[str, Any], label: str) -> None:
    log(f"{label}: {phase['requests']:,} requests ({phase['errors']} errors) in {phase['seconds']:.1f} s, "
        f"{phase['rate']:,.1f}/s; all {lat(phase['all'])} ms; commands {lat(phase['commands'])} ms "
        f"(median / p99)")


if __name__ == "__main__":
    sys.exit(main())
