"""The report of scripts/bench_writes.py: a phase's figures over its rounds, the table on
stdout and the section of docs/BENCHMARKS.md, from a run's results (a module of its own:
the benchmark is long enough without its prose)."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import serverprofile
from bench_api import percentile

COMMANDS = ("request", "issue", "receive")
SYSTEMS = ("ledger", "crud")
SYSTEM_TEXT = {"ledger": "ledger (`ledger serve`)", "crud": "CRUD peer"}

MIXES = (("distinct", 1), ("distinct", 0), ("hot", 0))  # 0: --clients


def lat(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values), 2),
            "p99": round(percentile(values, 0.99), 2), "mean": round(statistics.fmean(values), 2)}


def summary(stats: Any, rounds: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """A phase's figures over its rounds: rates over the rounds' summed time."""
    done = len(stats.transfers)
    elapsed = sum(r["seconds"] for r in rounds)
    commands = [t for c in COMMANDS for t in stats.times[c]]
    cpu, server_cpu = sum(r["cpu"] for r in rounds), sum(r["server_cpu"] for r in rounds)
    counts = [rounds[0]["transfers"], *(b["transfers"] - a["transfers"] for a, b in itertools.pairwise(rounds))]
    return {
        "clients": clients, "load": [round(r["load"], 2) for r in rounds], "seconds": round(elapsed, 2),
        "transfers": done, "rate": round(done / elapsed, 2) if elapsed else 0,
        "round_rates": [round(n / r["seconds"], 1) for n, r in zip(counts, rounds, strict=True) if r["seconds"]],
        "capped": any(r["capped"] for r in rounds),
        "refused": dict(sorted(stats.refused.items())), "refused_total": sum(stats.refused.values()),
        "transfers_refused": stats.transfers_refused, "errors": stats.errors, "error_samples": stats.samples,
        "lost": stats.lost, "failures": [f for r in rounds for f in r["failures"]][:3],
        "transfer_ms": lat(stats.transfers), "command_ms": lat(commands),
        "by_command_ms": {c: lat(stats.times[c]) for c in COMMANDS},
        "server_cpu_ms_per_transfer": round(server_cpu * 1000 / done, 2) if done else None,
        "client_cpu_ms_per_transfer": round(cpu * 1000 / done, 2) if done else None,
        "database_cpu_ms_per_transfer": round(sum(r.get("database_cpu", 0) for r in rounds) * 1000 / done, 2)
        if done else None,
    }


def mix_label(mix: str, clients: int) -> str:
    return (f"distinct, {clients} client{'s' if clients > 1 else ''}" if mix == "distinct"
            else f"hot spot, {clients} clients")


def ms(entry: dict[str, Any]) -> str:
    return f"{entry['median']:,.1f} / {entry['p99']:,.1f}" if entry.get("n") else "–"


def refusals(phase: dict[str, Any]) -> str:
    if not phase.get("refused_total"):
        return "0"
    detail = ", ".join(f"{k} {v}" for k, v in phase["refused"].items())
    return f"{phase['refused_total']} ({detail}); {phase['transfers_refused']} of {phase['transfers']} transfers"


def render_table(run: dict[str, Any]) -> str:
    keys = list(run["order"])
    header = "| figure | " + " | ".join(mix_label(*run["mixes"][k]) for k in keys) + " |"
    lines = [header, "|---|" + "---:|" * len(keys)]

    def row(name: str, cell: Any) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(k) for k in keys) + " |")

    res = run["results"]
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: **transfers/s**", lambda k, s=system: f"**{res[s][k]['rate']:,.1f}**")
    row("**ledger / CRUD**", lambda k: f"**{res['ledger'][k]['rate'] / res['crud'][k]['rate']:.3f}**"
        if res["crud"][k]["rate"] else "–")
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: transfers completed in s", lambda k, s=system: (
            f"{res[s][k]['transfers']:,} in {res[s][k]['seconds']:.1f}" + (" (cap)" if res[s][k]["capped"] else "")))
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: refused commands (409), by command and code; transfers that met one",
            lambda k, s=system: refusals(res[s][k]))
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: other errors; members left in transit",
            lambda k, s=system: f"{sum(res[s][k]['errors'].values())}; {res[s][k]['lost']}")
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: a transfer (3 POSTs, retries included), median / p99 ms",
            lambda k, s=system: ms(res[s][k]["transfer_ms"]))
        row(f"{SYSTEM_TEXT[system]}: request, issue, receive, median / p99 ms", lambda k, s=system: "; ".join(
            ms(res[s][k]["by_command_ms"][c]) for c in COMMANDS))
    row("server CPU ms per transfer: ledger, CRUD", lambda k: (
        f"{res['ledger'][k]['server_cpu_ms_per_transfer']}, {res['crud'][k]['server_cpu_ms_per_transfer']}"))
    row("PostgreSQL server CPU ms per transfer (all its processes): ledger, CRUD", lambda k: (
        f"{res['ledger'][k].get('database_cpu_ms_per_transfer')}, "
        f"{res['crud'][k].get('database_cpu_ms_per_transfer')}"))
    row("load generator CPU ms per transfer: ledger, CRUD", lambda k: (
        f"{res['ledger'][k]['client_cpu_ms_per_transfer']}, {res['crud'][k]['client_cpu_ms_per_transfer']}"))
    for system in SYSTEMS:
        row(f"{SYSTEM_TEXT[system]}: transfers/s in each round", lambda k, s=system: ", ".join(
            f"{x:,.1f}" for x in res[s][k]["round_rates"]))
    row("load average (1 min) as each round began: ledger; CRUD",
        lambda k: f"{', '.join(map(str, res['ledger'][k]['load']))}; {', '.join(map(str, res['crud'][k]['load']))}")
    return "\n".join(lines)


SECTION_INTRO = """Figures from `scripts/bench_writes.py`: **transfers per second through HTTP** (request, issue,
receive of one member: three POSTs, each answered with the transfer) of `ledger serve` (one uvicorn
process, inline views, PostgreSQL) against a plain CRUD peer (`scripts/crud_peer.py`: FastAPI +
psycopg_pool, one uvicorn process, the same three calls with the same bodies and the API's own
request and response models; the bearer token looked up each request; the member checked to exist, be
held, lie in the caller's subtree and have no open transfer; the letter number from a per-committee
counter row; the member's organization updated in place; one transaction a call). Same machine, same
PostgreSQL, same run: both servers up together; each phase runs in rounds alternating between the
two systems (ledger, CRUD, then CRUD, ledger), so that a change in the machine's load meets both alike.
Clients are threads of one load generator, each with its own keep-alive connection (`http.client`).
*Distinct*: each client moves members among the branches of a committee of its own. *Hot spot*: every
client moves members out of the same branch into the same branch (of one committee; when the first is
empty, back). A 409 `conflict` is counted and the call sent again (up to 5 times), as an API client
would; the transfer then still completes. The load generator, both servers and PostgreSQL share the
machine's CPUs."""

def render_profile(run: dict[str, Any]) -> str:
    """Where the ledger server's CPU goes in each phase (py-spy samples, scripts/serverprofile.py):
    ms of server CPU per transfer, each step's share of the samples times the phase's CPU."""
    keys = list(run["order"])
    res = run["results"]["ledger"]
    lines = ["Where the ledger server's CPU goes, ms per transfer (its share of the py-spy samples of the "
             "thread holding the interpreter's lock, the server paused for each, times the server's CPU per "
             "transfer); each sample in the first step it is part of, then in the thread it ran in, then, "
             "across the steps, the parts it passes through:", "",
             "| ledger server, CPU ms per transfer | " + " | ".join(mix_label(*run["mixes"][k]) for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]

    def cell(key: str, label: str) -> str:
        profile, cpu = res[key]["profile"], res[key]["server_cpu_ms_per_transfer"] or 0
        share = profile.get(label, 0) / profile["total"] if profile.get("total") else 0
        return f"{share * cpu:.1f} ({share:.0%})"

    for label in serverprofile.labels():
        lines.append(f"| {label} | " + " | ".join(cell(k, label) for k in keys) + " |")
    lines.append("| **all (server CPU per transfer)** | " + " | ".join(
        f"**{res[k]['server_cpu_ms_per_transfer']}**" for k in keys) + " |")
    for label in serverprofile.thread_labels():
        lines.append(f"| in {label.removeprefix('thread: ')} | " + " | ".join(cell(k, label) for k in keys) + " |")
    for label in serverprofile.part_labels():
        lines.append(f"| of which: {label} | " + " | ".join(cell(k, label) for k in keys) + " |")
    return "\n".join(lines)


def render_section(run: dict[str, Any]) -> str:
    m = run["machine"]
    lines = ["## Writes through HTTP", "", SECTION_INTRO, ""]
    lines.append(f"Measured {run['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; load average "
                 f"(1, 5, 15 min) {', '.join(map(str, m['load_start']))} at the start and "
                 f"{', '.join(map(str, run['load_end']))} at the end"
                 # the run loads the machine itself: only a load before it tells of other jobs
                 + (" (a shared machine: other jobs ran alongside)" if m["load_start"][0] > 1.0 else "")
                 + f". PostgreSQL {m['postgres']} over TCP on 127.0.0.1 (synchronous_commit "
                 f"{m['synchronous_commit']}), Python {m['python']}, eventsourcing {m['eventsourcing']}, psycopg "
                 f"{m['psycopg']}, psycopg_pool {m['psycopg-pool']}, FastAPI {m['fastapi']}, uvicorn {m['uvicorn']}.")
    lines.append("")
    store = run["store"]
    lines.append(f"Store: `{run['scale']}` scale, seed {run['seed']}, {store['events']:,} events at the start "
                 f"({store['how']}); {store['organizations']:,} organizations and {store['members']:,} members "
                 f"copied into the CRUD peer's tables. Commands dated {store['today']} (the history's last day). "
                 f"Distinct lanes: the {run['clients']} committees with the most free members but the hot spot's "
                 f"({store['distinct_members']:,} members); hot spot: {store['hot']}. Each phase at most "
                 f"{run['seconds']:g} s and {run['max_transfers']:,} transfers a system, in {run['rounds']} rounds, "
                 "after one untimed transfer per client each round; "
                 f"{'with a fresh' if run['idempotency'] else 'no'} `Idempotency-Key` on the ledger's "
                 "POSTs.")
    lines += ["", "```sh", run["command"], "```", "", render_table(run), ""]
    if all(phase.get("profile") for phase in run["results"]["ledger"].values()):
        lines += [render_profile(run), ""]
    lines += [f"- {n}" for n in run.get("notes", [])]
    lines.append("- Every table of both schemas was ANALYZEd before the phases (this server runs with autovacuum "
                 "off).")
    lines.append("- The ledger's saves take no lock on the events table until their commit (domain/pglog.py: "
                 "positions drawn under a lock held for the INSERT alone); one writer thread a process decides "
                 "the commands in the order they arrive and saves them in groups (domain/ledger/writer.py), so "
                 "the hot spot's clerks are decided one after the other, not refused. The CRUD peer's issues "
                 "queue on the committee's counter row (a row lock, never a refusal).")
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------------
