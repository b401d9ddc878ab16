"""Benchmark of the write side through HTTP: transfers per second (request + issue + receive of
one member, three POSTs) of `ledger serve` against a plain CRUD peer, in the same run.

    .venv/bin/python scripts/bench_writes.py                       # city scale, 20 s a phase
    .venv/bin/python scripts/bench_writes.py --seconds 5 --no-docs # a quick run

What it does:
  1. a fresh PostgreSQL schema with a synthetic `city` history (`scripts/synthetic.py`), its
     views built and its tables ANALYZEd, a clerk operator at the root (not timed); a second
     schema for the CRUD peer (`scripts/crud_peer.py`) holding the same organizations and
     members, read from the ledger's views, and a clerk of its own;
  2. both servers started on 127.0.0.1, each one uvicorn process: `ledger serve`
     (`LEDGER_PROJECTIONS=inline`, the default) and the CRUD peer (FastAPI + psycopg_pool,
     rows updated in place, one transaction a call, the token looked up each request);
  3. phases, each system in turn, each phase at most `--seconds` and `--max-transfers`,
     after one untimed transfer per client:
     - distinct, 1 client and `--clients` clients: each client moves members among the
       branches of a committee of its own (distinct members, distinct branches, distinct
       letter counters);
     - hot spot, `--clients` clients: every client moves members out of the same branch into
       the same branch of the same committee (when the first is empty, back the other way);
     a client is a thread with its own keep-alive connection (http.client: little CPU in the
     load generator). A 409 `conflict` (a concurrent change) is counted and the same call
     sent again, up to `--retries` times, as a client of the API would; any other refusal
     ends that transfer and is counted as an error;
  4. a table on stdout, the results as JSON in --work-dir, and the section "## Writes
     through HTTP" of docs/BENCHMARKS.md replaced (the other sections are kept).

Both systems get the same request bodies (no Idempotency-Key unless --idempotency-key, which
sends a fresh key with every ledger POST, retries included). All traffic goes to 127.0.0.1.
The schemas are dropped at the end unless --keep (a schema given with --reuse is kept).

The report (the table and the section of docs/BENCHMARKS.md) is `bench_writes_report.py`;
what other benchmarks share comes from `bench_api`, `benchlib`, `crud_peer` and `synthetic`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import crud_peer
import serverprofile
from bench_api import (
    HOST,
    POSTGRES_URL,
    admin,
    analyze,
    database_cpu,
    free_port,
    healthy,
    log,
    prepared_store,
    process_cpu,
    server,
    serving,
    url_for,
)
from bench_writes_report import (
    COMMANDS,
    MIXES,
    SYSTEM_TEXT,
    SYSTEMS,
    mix_label,
    ms,
    render_section,
    render_table,
    summary,
)
from synthetic import BENCH_ID_KEY, SCALES, ledger_for

from projections.db import ViewDatabase

ROOT = Path(__file__).resolve().parent.parent


# --- what the clients act on ----------------------------------------------------------------------

@dataclass
class Lane:
    """Members a client (or, for the hot spot, every client) moves, and where each is now.

    A distinct lane sends each member to the branch after its own in the lane's list; a hot
    lane has two branches and sends members from `source` to the other until `source` is
    empty, then the other way."""

    branches: list[str]
    pools: dict[str, deque[str]]
    hot: bool = False
    source: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[str, str, str] | None:
        with self.lock:
            if self.hot:
                if not self.pools[self.source]:
                    self.source = self.other(self.source)
                if not self.pools[self.source]:
                    return None
                number = self.pools[self.source].popleft()
                return number, self.source, self.other(self.source)
            home = max(self.branches, key=lambda b: len(self.pools[b]))
            if not self.pools[home]:
                return None
            number = self.pools[home].popleft()
            return number, home, self.branches[(self.branches.index(home) + 1) % len(self.branches)]

    def other(self, branch: str) -> str:
        return self.branches[1] if branch == self.branches[0] else self.branches[0]

    def put(self, number: str, branch: str) -> None:
        with self.lock:
            self.pools[branch].append(number)

    def size(self) -> int:
        return sum(len(p) for p in self.pools.values())


@dataclass
class Plan:
    """The lanes of both mixes, read from the ledger's views once the store is ready."""

    root: str
    today: date
    distinct: list[tuple[str, list[str], dict[str, list[str]]]]  # (committee, branches, members by branch)
    hot: tuple[str, list[str], dict[str, list[str]]]

    def lanes(self, clients: int) -> tuple[list[Lane], Lane]:
        """Fresh lanes for one system: one per client for the distinct mix, one shared hot lane."""
        distinct = [Lane(list(b), {k: deque(v) for k, v in m.items()}) for _, b, m in self.distinct[:clients]]
        _, branches, members = self.hot
        return distinct, Lane(list(branches), {k: deque(v) for k, v in members.items()}, hot=True,
                              source=branches[0])


def read_store(url: str, root: str | None) -> tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]],
                                                    dict[str, str]]:
    """The root, the organizations and members as the CRUD peer loads them, and each
    organization's committee (from the views)."""
    db = ViewDatabase(url)
    try:
        if root is None:
            root = str(db.scalar("SELECT code FROM proj_organizations WHERE parent_code IS NULL "
                                 "AND status = 'active' ORDER BY code LIMIT 1"))
        orgs = [tuple(r) for r in db.query(
            "SELECT code, kind, parent_code, region, status FROM proj_organizations ORDER BY code")]
        members = [tuple(r) for r in db.query(
            "SELECT registration_no, organization_code, status, place, transfer_id FROM proj_members "
            "WHERE organization_code IS NOT NULL ORDER BY registration_no")]
    finally:
        db.close()
    kinds = {r[0]: r[1] for r in orgs}
    parents = {r[0]: r[2] for r in orgs}
    committees = {code: crud_peer.committee_of(code, kinds, parents) for code in kinds}
    return root, orgs, members, committees


def make_plan(root: str, today: date, orgs: list[tuple[Any, ...]], members: list[tuple[Any, ...]],
              committees: dict[str, str], clients: int) -> Plan:
    parents = {r[0]: r[2] for r in orgs}

    def below_root(code: str) -> bool:
        node: str | None = code
        while node is not None:
            if node == root:
                return True
            node = parents[node]
        return False

    branches = {r[0] for r in orgs if r[1] == "branch" and r[4] == "active" and below_root(r[0])}
    free: dict[str, list[str]] = {}
    for number, org, status, place, transfer in members:
        if org in branches and status == "full" and place == "held" and not transfer:
            free.setdefault(org, []).append(number)
    by_committee: dict[str, list[str]] = {}
    for code in sorted(branches):
        by_committee.setdefault(committees[code], []).append(code)
    biggest = max(sorted(free), key=lambda b: len(free[b]))
    hot_committee = committees[biggest]
    second = max((b for b in by_committee[hot_committee] if b != biggest), key=lambda b: len(free.get(b, [])))
    hot = (hot_committee, [biggest, second], {b: list(free.get(b, [])) for b in (biggest, second)})
    distinct = sorted(((c, bs, {b: list(free.get(b, [])) for b in bs}) for c, bs in by_committee.items()
                       if c != hot_committee and len(bs) >= 2),
                      key=lambda lane: -sum(len(v) for v in lane[2].values()))
    if len(distinct) < clients:
        raise SystemExit(f"only {len(distinct)} committees with two branches or more below {root}: "
                         f"too few for {clients} clients in distinct lanes")
    return Plan(root, today, distinct, hot)


# --- the load ---------------------------------------------------------------------------------------

class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {c: [] for c in COMMANDS}
        self.transfers: list[float] = []
        self.refused: dict[str, int] = {}  # "command code" -> 409s
        self.transfers_refused = 0  # transfers that met at least one 409
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []
        self.lost = 0  # members left with an open transfer by an error

    def error(self, command: str, status: int, text: str) -> None:
        with self.lock:
            key = f"{command} {status}"
            self.errors[key] = self.errors.get(key, 0) + 1
            if len(self.samples) < 5:
                self.samples.append(f"{key}: {text[:300]}")


class Client:
    """One load-generating client: a keep-alive HTTP connection and its transfers."""

    def __init__(self, port: int, token: str, on: date, retries: int, idempotency: bool) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.on, self.retries, self.idempotency = on.isoformat(), retries, idempotency

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = dict(self.headers)
        if self.idempotency:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        try:
            self.conn.request("POST", path, body=json.dumps(body), headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            raise
        return response.status, json.loads(data) if data else {}

    def command(self, stats: Stats | None, name: str, path: str, body: dict[str, Any],
                met: list[bool]) -> dict[str, Any] | None:
        """One call, sent again after a 409 `conflict` (at most `retries` times)."""
        for _ in range(self.retries + 1):
            started = time.perf_counter()
            status, answer = self.post(path, body)
            took = (time.perf_counter() - started) * 1000
            if status < 300:
                if stats:
                    with stats.lock:
                        stats.times[name].append(took)
                return answer
            if status == 409 and stats:
                met[0] = True
                with stats.lock:
                    key = f"{name} {answer.get('code')}"
                    stats.refused[key] = stats.refused.get(key, 0) + 1
            if status != 409 or answer.get("code") != "conflict":
                break
        if stats:
            stats.error(name, status, json.dumps(answer, ensure_ascii=False))
        return None

    def transfer(self, lane: Lane, stats: Stats | None) -> bool:
        taken = lane.take()
        if taken is None:
            return False
        number, home, target = taken
        started = time.perf_counter()
        met = [False]
        requested = self.command(stats, "request", "/v1/transfers", {
            "registration_no": number, "to_organization_code": target, "reason": "job_change",
            "basis": "household", "on": self.on}, met)
        if requested is None:
            lane.put(number, home)  # a refused request records nothing
            return True
        transfer_id = requested["transfer_id"]
        if (self.command(stats, "issue", f"/v1/transfers/{transfer_id}/issue", {"on": self.on}, met) is None
                or self.command(stats, "receive", f"/v1/transfers/{transfer_id}/receive",
                                {"organization_code": target, "on": self.on}, met) is None):
            if stats:
                with stats.lock:
                    stats.lost += 1  # the member keeps its open transfer: out of the lane
            return True
        lane.put(number, target)
        if stats:
            with stats.lock:
                stats.transfers.append((time.perf_counter() - started) * 1000)
                stats.transfers_refused += met[0]
        return True

    def close(self) -> None:
        self.conn.close()


def run_round(stats: Stats, port: int, token: str, lanes: list[Lane], on: date, seconds: float,
              max_transfers: int, retries: int, idempotency: bool, server_pid: int) -> dict[str, Any]:
    """len(lanes) client threads, client i on lanes[i] (the same lane object for the hot spot),
    adding to `stats`; returns the round's time, CPU and load."""
    clients = [Client(port, token, on, retries, idempotency) for _ in lanes]
    for client, lane in zip(clients, lanes, strict=True):  # untimed: connections, code paths, caches
        client.transfer(lane, None)
    budget = [max_transfers]
    budget_lock = threading.Lock()
    gate = threading.Barrier(len(lanes) + 1)
    deadline = [0.0]
    failures: list[BaseException] = []

    def work(client: Client, lane: Lane) -> None:
        gate.wait(timeout=60)
        try:
            while time.monotonic() < deadline[0]:
                with budget_lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                if not client.transfer(lane, stats):
                    return
        except BaseException as error:  # a broken connection ends the client, not the run
            failures.append(error)

    threads = [threading.Thread(target=work, args=(c, lane), daemon=True) for c, lane in zip(clients, lanes,
                                                                                              strict=True)]
    for thread in threads:
        thread.start()
    load = round(os.getloadavg()[0], 2)
    deadline[0] = time.monotonic() + seconds
    cpu, server_cpu, db_cpu = time.process_time(), process_cpu(server_pid), database_cpu()
    started = time.perf_counter()
    gate.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - started
    cpu, server_cpu = time.process_time() - cpu, process_cpu(server_pid) - server_cpu
    db_cpu = database_cpu() - db_cpu
    for client in clients:
        client.close()
    return {"load": load, "seconds": elapsed, "cpu": cpu, "server_cpu": server_cpu, "database_cpu": db_cpu,
            "capped": budget[0] <= 0,
            "transfers": len(stats.transfers), "failures": [repr(f) for f in failures[:3]]}


# --- the servers ------------------------------------------------------------------------------------

@contextlib.contextmanager
def crud_server(schema: str, port: int, log_path: Path) -> Iterator[tuple[str, int]]:
    base = f"http://{HOST}:{port}"
    command = [sys.executable, str(ROOT / "scripts" / "crud_peer.py"), "--schema", schema, "--port", str(port),
               "--postgres-url", POSTGRES_URL]
    with serving(command, dict(os.environ), log_path, healthy(base)) as process:
        yield base, process.pid


# --- reporting -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="city")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=8, help="clients of the concurrent phases (default 8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="each phase at most this long")
    parser.add_argument("--max-transfers", type=int, default=3000, help="each phase at most this many transfers")
    parser.add_argument("--rounds", type=int, default=2,
                        help="each phase in this many alternating rounds (ledger, CRUD, then CRUD, ledger, ...)")
    parser.add_argument("--retries", type=int, default=5, help="times a call is sent again after 409 conflict")
    parser.add_argument("--idempotency-key", action="store_true", help="a fresh Idempotency-Key on ledger POSTs")
    parser.add_argument("--reuse", metavar="SCHEMA", help="run the ledger on a kept schema (never dropped)")
    parser.add_argument("--keep", action="store_true", help="keep the schemas")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ledger-bench"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line to add under the figures")
    parser.add_argument("--py-spy", metavar="PATH", help="sample the ledger server with this py-spy during its "
                        "rounds and add where its CPU goes (scripts/serverprofile.py)")
    args = parser.parse_args(argv)
    if (not 2 <= args.clients <= 16 or not 0 < args.seconds <= 300 or args.max_transfers < 1
            or not 1 <= args.rounds <= 10):
        parser.error("--clients between 2 and 16, --seconds up to 300, --max-transfers at least 1, --rounds 1 to 10")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    scale = SCALES[args.scale]
    id_key = os.environ.get("LEDGER_ID_KEY") or BENCH_ID_KEY
    info = benchlib.machine(POSTGRES_URL, ("fastapi", "uvicorn", "psycopg-pool"))
    log(f"load average {info['load_start']}")
    schema = args.reuse or f"bench_writes_{args.scale}_{args.seed}_{uuid.uuid4().hex[:6]}"
    crud_schema = f"bench_writes_crud_{uuid.uuid4().hex[:6]}"
    url = url_for(schema)
    fresh = args.reuse is None
    command = " ".join([".venv/bin/python scripts/bench_writes.py", *(
        [f"--scale {args.scale}"] if args.scale != "city" else []), *(
        [f"--seed {args.seed}"] if args.seed != 1 else []), f"--clients {args.clients}",
        f"--seconds {args.seconds:g}", f"--max-transfers {args.max_transfers}", f"--rounds {args.rounds}",
        *(["--idempotency-key"] if args.idempotency_key else []),
        *(["--py-spy py-spy"] if args.py_spy else [])])
    try:
        how, root = prepared_store(url, schema, args.scale, args.seed, id_key, fresh)
        with contextlib.closing(ledger_for(url, scale, id_key=id_key)) as ledger:
            root, orgs, members, committees = read_store(url, root)
            _, ledger_token = ledger.grant_operator("bench clerk", "clerk", root)
            events = ledger.max_position()
        log(f"ANALYZE of schema {schema}: {analyze(schema):.1f} s")
        plan = make_plan(root, scale.end, orgs, members, committees, args.clients)
        admin(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(crud_schema)))
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5,
                             options=f"-c search_path={crud_schema}") as conn:
            loaded = crud_peer.load(conn, orgs, members)
            crud_token = crud_peer.grant(conn, "clerk", root)
        log(f"CRUD peer: {loaded} in schema {crud_schema}")
        hot_members = {b: len(v) for b, v in plan.hot[2].items()}
        store_info = {
            "events": events, "how": how, "root": root, "today": plan.today.isoformat(),
            "organizations": loaded["organizations"], "members": loaded["members"],
            "distinct_members": sum(len(v) for _, _, m in plan.distinct[:args.clients] for v in m.values()),
            "hot": f"{plan.hot[1][0]} ({hot_members[plan.hot[1][0]]} free members) and {plan.hot[1][1]} "
                   f"({hot_members[plan.hot[1][1]]}) in {plan.hot[0]}",
            "schema": schema, "crud_schema": crud_schema}
        mixes = {f"{mix}-{n or args.clients}": (mix, n or args.clients) for mix, n in MIXES}
        order = list(mixes)
        results: dict[str, dict[str, Any]] = {s: {} for s in SYSTEMS}
        lanes = {s: plan.lanes(args.clients) for s in SYSTEMS}
        ports = {"ledger": free_port(), "crud": free_port()}
        tokens = {"ledger": ledger_token, "crud": crud_token}
        ledger_log = args.work_dir / f"{schema}-server.log"
        crud_log = args.work_dir / f"{crud_schema}-server.log"
        log(f"starting `ledger serve` on port {ports['ledger']} and the CRUD peer on port {ports['crud']}")
        with server(url, id_key, ports["ledger"], ledger_log) as (_, ledger_pid), \
                crud_server(crud_schema, ports["crud"], crud_log) as (_, crud_pid):
            pids = {"ledger": ledger_pid, "crud": crud_pid}
            for key in order:
                mix, clients = mixes[key]
                stats = {system: Stats() for system in SYSTEMS}
                rounds: dict[str, list[dict[str, Any]]] = {system: [] for system in SYSTEMS}
                for number in range(args.rounds):  # ledger, CRUD, CRUD, ledger, ...: a drift hits both alike
                    for system in SYSTEMS if number % 2 == 0 else SYSTEMS[::-1]:
                        distinct, hot = lanes[system]
                        phase_lanes = distinct[:clients] if mix == "distinct" else [hot] * clients
                        done = len(stats[system].transfers)
                        log(f"{system}: {mix_label(mix, clients)}, round {number + 1} of {args.rounds}")
                        samples = args.work_dir / f"{schema}-{key}-{number + 1}.raw"
                        with serverprofile.recording(args.py_spy if system == "ledger" else None,
                                                     pids[system], samples):
                            rounds[system].append(run_round(
                                stats[system], ports[system], tokens[system], phase_lanes, plan.today,
                                args.seconds / args.rounds, (args.max_transfers - done) // (args.rounds - number),
                                args.retries, args.idempotency_key and system == "ledger", pids[system]))
                for system in SYSTEMS:
                    result = results[system][key] = summary(stats[system], rounds[system], clients)
                    if args.py_spy and system == "ledger":
                        result["profile"] = serverprofile.breakdown(
                            args.work_dir / f"{schema}-{key}-{n + 1}.raw" for n in range(args.rounds))
                    log(f"  {system}: {result['transfers']:,} transfers in {result['seconds']:.1f} s: "
                        f"{result['rate']:,.1f}/s (rounds {result['round_rates']}); 409s {result['refused_total']}; "
                        f"errors {result['errors']}; transfer {ms(result['transfer_ms'])} ms")
        notes = list(args.note)
        for system in SYSTEMS:
            for key, phase in results[system].items():
                if phase["errors"] or phase["failures"]:
                    notes.append(f"{SYSTEM_TEXT[system]}, {mix_label(*mixes[key])}: errors {phase['errors']} "
                                 f"{phase['failures']}, e.g. {phase['error_samples'][:1]}")
        run = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": info,
               "load_end": [round(x, 2) for x in os.getloadavg()], "scale": args.scale, "seed": args.seed,
               "clients": args.clients, "seconds": args.seconds, "max_transfers": args.max_transfers,
               "rounds": args.rounds, "idempotency": args.idempotency_key, "command": command,
               "store": store_info, "mixes": mixes,
               "order": order, "results": results, "notes": notes}
        out = args.work_dir / f"writes-{args.scale}-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str))
        print(render_table(run))
        for line in notes:
            print(f"- {line}")
        print(f"\nresults: {out}; load average at the end {run['load_end']}")
        if not args.no_docs:
            benchlib.replace_section(args.docs, render_section(run), "## Writes through HTTP")
            print(f"docs: {args.docs} (## Writes through HTTP)")
    finally:
        if not args.keep:
            log(f"dropping schema {crud_schema}" + (f" and {schema}" if fresh else ""))
            admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(crud_schema)))
            if fresh:
                admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        elif fresh:
            print(f"kept schemas {schema} (reuse with --reuse {schema}) and {crud_schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
