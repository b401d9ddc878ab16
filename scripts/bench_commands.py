"""Command throughput on PostgreSQL: issue + receive pairs per second through the `Ledger`,
against two baselines measured in the same run on the same database.

    .venv/bin/python scripts/bench_commands.py                   # 1 and 2 clients, 30 s each
    .venv/bin/python scripts/bench_commands.py --seconds 10 --no-docs   # a quick run

What it does:
  1. a fresh PostgreSQL schema (TCP, 127.0.0.1) holding the tree and members of the `city`
     scale (`api.simulation`, seed 1: 16 committees, 238 branches, ~5,000 members imported,
     two days of history), then 5 untimed pairs that measure what one pair writes;
  2. for 1 and for 2 concurrent clients (separate processes started together; each client
     acts in a committee of its own, so the clients don't contend for the same records),
     each phase lasting `--seconds`:
     - ledger: each client its own `Ledger` (its own connection pool) doing pairs: request a
       transfer of one of its committee's full members to another branch of the committee,
       issue the letter, receive the member (three commands, three transactions);
     - ledger, unsealed: the same, each client's `Ledger` with the library's own mapper
       (no personal field sealed: what encrypting personal data at rest costs a command;
       with 1 client it runs right after the sealed ledger, with 2 right before it);
     - raw inserts: as many single-row INSERT transactions per pair as the ledger writes
       events per pair, into an events-shaped table (originator_id uuid, version int, topic
       text, state bytea of the ledger's mean event size, primary key (originator_id, version)),
       one connection per client;
     - CRUD: the same pair as the CRUD peer of `scripts/bench_writes.py` does it
       (`scripts/crud_peer.py`), in-process: three transactions (request, issue, receive),
       each with its token lookup and its checks (the member held, in the caller's subtree,
       with no open transfer; the letter number from the committee's counter row; the
       member's organization updated in place), one connection per client;
  3. the figures and ratios on stdout, with each mode's client CPU per pair and per command
     (`time.process_time()` in each client process), the results as JSON on stderr's last line, and the
     section "## Commands" of docs/BENCHMARKS.md replaced (the other sections are kept).

The machine may be shared: the ratios within one run are what counts. The schema is
dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import crud_peer  # noqa: E402
from bench_personal import PlainLedger  # noqa: E402

from api.simulation import BENCH_DATA_KEYS, BENCH_ID_KEY, SCALES, Generator  # noqa: E402
from domain.base import Actor  # noqa: E402
from domain.errors import LedgerError  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import store_env  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
SCALE = replace(SCALES["city"], start=date(2024, 1, 1), end=date(2024, 1, 22), import_days=20)
TODAY = SCALE.end  # the commands' effective date: the history's last day
COMMITTEES = ("NJ-GA-C01", "NJ-GA-C02")  # one per client
MODES = ("ledger", "unsealed", "raw", "crud")
MODE_TEXT = {"ledger": "ledger (request + issue + receive, 3 commands)",
             "unsealed": "ledger, personal fields not sealed (the library's mapper)",
             "raw": "raw single-row INSERT transactions",
             "crud": "CRUD (request + issue + receive, 3 transactions)"}
WARM_UP = 3  # untimed pairs per client before each phase


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def url_for(schema: str) -> str:
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"


def connect(schema: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    conn = psycopg.connect(POSTGRES_URL, autocommit=autocommit, connect_timeout=5)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def open_ledger(schema: str, create: bool = False, sealed: bool = True) -> Ledger:
    env = store_env(url_for(schema), create_tables=create)
    env["LEDGER_ID_KEY"] = BENCH_ID_KEY
    env["LEDGER_DATA_KEYS"] = BENCH_DATA_KEYS
    return (Ledger if sealed else PlainLedger)(env, today=lambda: TODAY)


def pools_of(ledger: Ledger) -> list[dict[str, Any]]:
    """The distinct connection pools a ledger holds, with their sizes and connections opened."""
    stores = [ledger.recorder] + ([ledger.snapshots.recorder] if ledger.snapshots else [])
    pools = {id(pool): pool for pool in (getattr(getattr(r, "datastore", None), "pool", None) for r in stores)
             if pool is not None}
    return [{"min": p.min_size, "max": p.max_size, "open": p.get_stats().get("pool_size"),
             "opened": p.get_stats().get("connections_num")} for p in pools.values()]


# --- one client ---------------------------------------------------------------------------------

class LedgerClient:
    sealed = True

    def __init__(self, schema: str, committee: str, plan: dict[str, Any]) -> None:
        self.ledger = open_ledger(schema, sealed=self.sealed)
        self.actor = Actor(id=f"bench-{committee}", organization_code=committee)
        # [number, branch], where each member is now (an earlier phase may have moved it)
        self.members = [[number, self.ledger.member(number).organization_code]
                        for number, _ in plan["members"][committee]]
        self.branches: list[str] = plan["branches"][committee]
        self.turn = 0

    def pair(self) -> None:
        member = self.members[self.turn % len(self.members)]
        self.turn += 1
        number, home = member
        target = self.branches[(self.branches.index(home) + 1 + self.turn % 3) % len(self.branches)]
        if target == home:
            target = self.branches[(self.branches.index(home) + 1) % len(self.branches)]
        ledger, actor = self.ledger, self.actor
        transfer = ledger.request_transfer(number, target, reason="job_change", basis="household", actor=actor)
        assert transfer.transfer_id is not None
        ledger.issue_letter(transfer.transfer_id, actor=actor)
        ledger.receive_member(transfer.transfer_id, target, actor=actor)
        member[1] = target

    def stats(self) -> dict[str, Any]:
        return {"pools": pools_of(self.ledger)}

    def close(self) -> None:
        self.ledger.close()


class UnsealedClient(LedgerClient):
    sealed = False


class RawClient:
    def __init__(self, schema: str, committee: str, plan: dict[str, Any]) -> None:
        self.conn = connect(schema)
        self.rows, self.topic = plan["rows_per_pair"], plan["topic"]
        self.state = b"x" * plan["state_bytes"]

    def pair(self) -> None:
        originator = uuid.uuid4()
        for version in range(1, self.rows + 1):  # one transaction each (autocommit)
            self.conn.execute(
                "INSERT INTO bench_raw_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)", (originator, version, self.topic, self.state))

    def stats(self) -> dict[str, Any]:
        return {"connections": 1}

    def close(self) -> None:
        self.conn.close()


class CrudClient:
    """The CRUD peer's three transactions, each committed on its own (a refusal rolls back)."""

    def __init__(self, schema: str, committee: str, plan: dict[str, Any]) -> None:
        self.conn = connect(schema, autocommit=False)
        self.conn.commit()  # the search_path set by connect() stays for the session
        self.token: str = plan["crud_tokens"][committee]
        # [number, branch], where each member is now (an earlier phase may have moved it)
        numbers = [number for number, _ in plan["members"][committee]]
        now = dict(self.conn.execute("SELECT registration_no, organization_code FROM crud_members "
                                     "WHERE registration_no = ANY(%s)", (numbers,)).fetchall())
        self.conn.commit()
        self.members = [[number, now[number]] for number in numbers]
        self.branches: list[str] = plan["branches"][committee]
        self.turn = 0
        self.moved = 0

    def run(self, step: Any, *args: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = step(self.conn, self.token, *args)
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()
        return result

    def pair(self) -> None:
        member = self.members[self.turn % len(self.members)]
        self.turn += 1
        number, home = member
        target = self.branches[(self.branches.index(home) + 1 + self.turn % 3) % len(self.branches)]
        if target == home:
            target = self.branches[(self.branches.index(home) + 1) % len(self.branches)]
        transfer = self.run(crud_peer.request_transfer, number, target, "job_change", "household", TODAY)
        self.run(crud_peer.issue_letter, transfer["transfer_id"], 30, TODAY)
        self.run(crud_peer.receive_member, transfer["transfer_id"], target, TODAY)
        member[1] = target

    def stats(self) -> dict[str, Any]:
        return {"connections": 1}

    def close(self) -> None:
        self.conn.close()


CLIENTS: dict[str, type[LedgerClient | RawClient | CrudClient]] = {
    "ledger": LedgerClient, "unsealed": UnsealedClient, "raw": RawClient, "crud": CrudClient}


def client_main(mode: str, schema: str, committee: str, plan: dict[str, Any], seconds: float,
                barrier: Any, results: Any) -> None:
    """One client process: set up, warm up, wait for the others, then pairs for `seconds`."""
    try:
        client = CLIENTS[mode](schema, committee, plan)
        for _ in range(WARM_UP):
            client.pair()
    except BaseException:
        barrier.abort()  # the others and the parent stop waiting
        raise
    errors: list[str] = []
    try:
        barrier.wait(timeout=300)
        started = time.perf_counter()
        cpu = time.process_time()
        pairs = 0
        while time.perf_counter() - started < seconds:
            try:
                client.pair()
                pairs += 1
            except (LedgerError, crud_peer.Refused) as error:  # counted, not fatal
                errors.append(f"{error.code}: {error.detail}"[:200])
        elapsed = time.perf_counter() - started
        results.put({"committee": committee, "pairs": pairs, "seconds": elapsed,
                     "cpu": time.process_time() - cpu, "errors": len(errors), "first_errors": errors[:3],
                     **client.stats()})
    finally:
        client.close()


def server_connections() -> int:
    """This run's connections open on the server (named by PGAPPNAME, which every
    connection of this process and its clients inherits), this one excepted."""
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                           "AND pid <> pg_backend_pid()", (os.environ["PGAPPNAME"],)).fetchone()
    return int(row[0]) if row else 0


def run_phase(mode: str, clients: int, schema: str, plan: dict[str, Any], seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    processes = [ctx.Process(target=client_main, args=(mode, schema, COMMITTEES[i], plan, seconds, barrier, results))
                 for i in range(clients)]
    for process in processes:
        process.start()
    barrier.wait(timeout=300)
    started = time.perf_counter()
    time.sleep(min(2.0, seconds / 2))
    during = server_connections()
    reports = [results.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    wall = time.perf_counter() - started
    pairs = sum(r["pairs"] for r in reports)
    longest = max(r["seconds"] for r in reports)
    return {"mode": mode, "clients": clients, "pairs": pairs, "seconds": round(longest, 2),
            "wall": round(wall, 2), "pairs_per_s": pairs / longest, "server_connections": during,
            "clients_detail": reports, "load": os.getloadavg()[0]}


# --- set-up --------------------------------------------------------------------------------------

def build(schema: str) -> dict[str, Any]:
    """The tree and members; the baselines' tables; what one ledger pair writes."""
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    ledger = open_ledger(schema, create=True)
    started = time.perf_counter()
    generator = Generator(ledger, SCALE, 1)
    stats = generator.run()
    log(f"store: {stats.events:,} events, {stats.organizations} organizations, {stats.members:,} members "
        f"in {time.perf_counter() - started:.0f} s")
    members: dict[str, list[tuple[str, str]]] = {}
    branches: dict[str, list[str]] = {}
    for committee in COMMITTEES:
        branches[committee] = sorted(c for c in generator.holding_in[committee]
                                     if generator.orgs[c].status == "active")
        members[committee] = [(m.registration_no, m.organization_code) for m in generator.members
                              if m.status == "full" and m.place == "held" and m.transfer_id is None
                              and m.organization_code in branches[committee]]
    with connect(schema) as conn:
        conn.execute("CREATE TABLE bench_raw_events (originator_id uuid NOT NULL, originator_version integer "
                     "NOT NULL, topic text NOT NULL, state bytea NOT NULL, "
                     "PRIMARY KEY (originator_id, originator_version))")
        crud_peer.load(conn, ((o.code, o.kind, o.parent_code, o.region, o.status) for o in generator.orgs.values()),
                       ((m.registration_no, m.organization_code, m.status, m.place, m.transfer_id)
                        for m in generator.members if m.organization_code))
        crud_tokens = {committee: crud_peer.grant(conn, "clerk", committee) for committee in COMMITTEES}
    # What one pair writes, measured on a committee no client uses.
    probe_branches = sorted(generator.holding_in["NJ-GA-C03"])
    probe: dict[str, Any] = {
        "branches": {"NJ-GA-C03": probe_branches},
        "members": {"NJ-GA-C03": [(m.registration_no, m.organization_code) for m in generator.members
                                  if m.status == "full" and m.place == "held" and m.transfer_id is None
                                  and m.organization_code in probe_branches]},
    }
    ledger.close()
    with connect(schema) as conn:
        last = int(conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()[0])  # type: ignore[index]
        snapshots = int(conn.execute("SELECT count(*) FROM ledger_snapshots").fetchone()[0])  # type: ignore[index]
    client = LedgerClient(schema, "NJ-GA-C03", probe)
    samples = 5
    for _ in range(samples):
        client.pair()
    client.close()
    with connect(schema) as conn:
        row = conn.execute("SELECT count(*), avg(length(state)) FROM ledger_events WHERE notification_id > %s",
                           (last,)).fetchone()
        topic = conn.execute("SELECT topic FROM ledger_events WHERE notification_id > %s ORDER BY "
                             "notification_id LIMIT 1", (last,)).fetchone()
        snapshots = int(conn.execute("SELECT count(*) FROM ledger_snapshots").fetchone()[0]) - snapshots  # type: ignore[index]
    assert row is not None and topic is not None
    events = int(row[0])
    if events % samples:
        raise SystemExit(f"{samples} pairs wrote {events} events: not a whole number per pair")
    return {"members": members, "branches": branches, "crud_tokens": crud_tokens, "rows_per_pair": events // samples,
            "state_bytes": round(float(row[1])), "topic": topic[0], "transactions_per_pair": 3,
            "store_events": stats.events, "store_members": stats.members,
            "store_organizations": stats.organizations}


# --- reporting -----------------------------------------------------------------------------------



def render(run: dict[str, Any]) -> str:
    m, plan, phases = run["machine"], run["plan"], run["phases"]
    rate = {(p["mode"], p["clients"]): p["pairs_per_s"] for p in phases}
    levels = sorted({p["clients"] for p in phases})

    def r(a: float | None, b: float | None) -> str:
        return f"{a / b:.3f}" if a is not None and b else "–"

    busy = max(run["load_start"][0], run["load_end"][0]) > 1
    lines = [
        "## Commands", "",
        "Command throughput from `scripts/bench_commands.py`: **issue + receive pairs per second** (request a "
        "transfer, issue its letter, receive the member: three `Ledger` commands, three transactions) on "
        "PostgreSQL over TCP on 127.0.0.1, in a fresh schema holding the `city` tree and members (seed 1, "
        f"{plan['store_members']:,} members, {plan['store_organizations']} organizations, "
        f"{plan['store_events']:,} events). Each client is a separate process acting in a committee of its "
        "own (no contention between clients). In the same run, on the same database: (a) raw single-row "
        f"INSERT transactions into an events-shaped table, {plan['rows_per_pair']} per pair (the events one "
        f"ledger pair writes; state {plan['state_bytes']} bytes, the ledger's mean), and (b) a plain CRUD "
        "design doing the same pair in three transactions, request, issue and receive (`scripts/crud_peer.py`, "
        "the CRUD peer of \"Writes through HTTP\", called in-process): each looks up the caller's token, checks "
        "the member (held, in the caller's subtree, no open transfer) or the transfer's state, takes the letter "
        "number from the committee's counter row, and updates the member's row in place. Client CPU is "
        "`time.process_time()` in each client process. The ratios within the run are what counts.",
        "",
        f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}); load average (1, 5, 15 min) "
        f"{', '.join(str(x) for x in run['load_start'])} at the start and "
        f"{', '.join(str(x) for x in run['load_end'])} at the end"
        f"{' (a shared machine: other jobs ran alongside)' if busy else ''}"
        f". PostgreSQL {m['postgres']} "
        f"(synchronous_commit {m['synchronous_commit']}), Python {m['python']}, eventsourcing "
        f"{m['eventsourcing']}, psycopg {m['psycopg']}. Each phase {run['seconds']:g} s after "
        f"{WARM_UP} untimed pairs per client.",
        "",
        "```sh",
        run["command"],
        "```",
        "",
        "| pairs per second | " + " | ".join(f"{n} client{'s' if n > 1 else ''}" for n in levels) + " |",
        "|---|" + "---:|" * len(levels),
    ]
    for mode in MODES:
        lines.append(f"| {MODE_TEXT[mode]} | " + " | ".join(
            f"{rate[(mode, n)]:,.1f}" if (mode, n) in rate else "–" for n in levels) + " |")
    lines.append("| ledger / ledger unsealed | " + " | ".join(
        r(rate.get(("ledger", n)), rate.get(("unsealed", n))) for n in levels) + " |")
    lines.append("| ledger / raw inserts | " + " | ".join(
        r(rate.get(("ledger", n)), rate.get(("raw", n))) for n in levels) + " |")
    lines.append("| ledger / CRUD | " + " | ".join(
        r(rate.get(("ledger", n)), rate.get(("crud", n))) for n in levels) + " |")
    cpu = {(p["mode"], p["clients"]): sum(c["cpu"] for c in p["clients_detail"]) / p["pairs"]
           for p in phases if p["pairs"]}
    per_pair = {"ledger": 3, "unsealed": 3, "crud": 3, "raw": plan["rows_per_pair"]}
    words = {"ledger": "command", "unsealed": "command", "crud": "transaction", "raw": "INSERT"}
    for mode in MODES:
        lines.append(f"| client CPU ms per pair (per {words[mode]}): {mode} | " + " | ".join(
            f"{cpu[(mode, n)] * 1000:.2f} ({cpu[(mode, n)] * 1000 / per_pair[mode]:.2f})"
            if (mode, n) in cpu else "–" for n in levels) + " |")
    loads = {(p["mode"], p["clients"]): p["load"] for p in phases}
    lines.append("| load average (1 min) as each phase ended: ledger, unsealed, raw, CRUD | " + " | ".join(
        ", ".join(f"{loads[(mode, n)]:.2f}" if (mode, n) in loads else "–" for mode in MODES) for n in levels) + " |")
    if len(levels) > 1:
        lines.append("")
        lines.append(f"Scaling from 1 to {levels[-1]} clients: " + ", ".join(
            f"{mode} {r(rate.get((mode, levels[-1])), rate.get((mode, 1)))}" for mode in MODES) + ".")
    lines.append("")
    for p in phases:
        if p["mode"] not in ("ledger", "unsealed"):
            continue
        pools = [pool for c in p["clients_detail"] for pool in c["pools"]]
        errors = sum(c["errors"] for c in p["clients_detail"])
        lines.append(
            f"- {p['mode']}, {p['clients']} client{'s' if p['clients'] > 1 else ''}: {p['pairs']:,} pairs; "
            f"{len(pools)} connection pool{'s' if len(pools) > 1 else ''} (one per process, "
            f"min {pools[0]['min']} / max {pools[0]['max']} connections, "
            f"{sum(int(x['opened'] or 0) for x in pools)} opened in all); {p['server_connections']} "
            f"connections of the run open on the server during the phase; {errors} refused pairs; client CPU "
            f"{sum(c['cpu'] for c in p['clients_detail']):.1f} s.")
    for p in phases:
        if p["mode"] == "crud":
            lines.append(f"- CRUD, {p['clients']} client{'s' if p['clients'] > 1 else ''}: {p['pairs']:,} pairs, "
                         f"{sum(c['errors'] for c in p['clients_detail'])} refused; client CPU "
                         f"{sum(c['cpu'] for c in p['clients_detail']):.1f} s.")
    lines.append(f"- one ledger pair writes {plan['rows_per_pair']} events in 3 transactions "
                 f"(request 2, issue 3, receive 4; plus a snapshot per 100 events of an organization or member); "
                 "of them the request's transfer event has personal fields to seal (evidence, performance "
                 "record, probation override: one AES-GCM per pair), and a member's snapshot its record.")
    lines.append("- the event store's saves (domain/pglog.py) draw their positions under a lock held for the INSERT "
                 "alone, not until the commit, so ledger writers of different processes commit together; within a "
                 "process one writer thread decides and saves the commands in groups (domain/ledger/writer.py). Each "
                 "bench client here sends one command at a time, so it measures a command's own cost more than "
                 "grouping. Where the baselines don't gain from a second client either, the machine itself (its CPUs, "
                 "shared with the database and other jobs) was the limit.")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return benchlib.machine(POSTGRES_URL, ())


def write_docs(path: Path, section: str) -> None:
    benchlib.replace_section(path, section, "## Commands")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each timed phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true", help="don't touch docs/BENCHMARKS.md")
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    args = parser.parse_args(argv)
    schema = f"bench_cmd_{uuid.uuid4().hex[:10]}"
    os.environ["PGAPPNAME"] = schema  # names this run's connections in pg_stat_activity
    run: dict[str, Any] = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "seconds": args.seconds,
                           "load_start": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
                           "command": " ".join([".venv/bin/python scripts/bench_commands.py",
                                                *(["--seconds", f"{args.seconds:g}"] if args.seconds != 30 else []),
                                                *(["--clients", *map(str, args.clients)]
                                                  if args.clients != [1, 2] else [])])}
    try:
        log(f"schema {schema}: building the tree and members")
        plan = build(schema)
        run["plan"] = {k: v for k, v in plan.items() if k not in ("members", "branches", "crud_tokens")}
        log(f"one pair writes {plan['rows_per_pair']} events (mean state {plan['state_bytes']} bytes); "
            f"members per client {[len(plan['members'][c]) for c in COMMITTEES]}")
        phases = []
        for clients in sorted(args.clients):
            # the sealed and unsealed ledgers take turns going first, level by level
            order = MODES if clients % 2 else ("unsealed", "ledger", *MODES[2:])
            for mode in order:
                log(f"{mode}, {clients} client(s), {args.seconds:g} s")
                phase = run_phase(mode, clients, schema, plan, args.seconds)
                log(f"  {phase['pairs']:,} pairs, {phase['pairs_per_s']:,.1f}/s")
                phases.append(phase)
        run["phases"] = phases
    finally:
        if not args.keep:
            with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    run["load_end"] = [round(x, 2) for x in os.getloadavg()]
    section = render(run)
    print(section)
    print(json.dumps(run, default=str), file=sys.stderr)
    if not args.no_docs:
        write_docs(args.docs, section)
        log(f"wrote the section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
