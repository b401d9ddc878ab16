"""What encrypting personal data at rest costs, and field-level against whole-state
encryption: the same synthetic history written, decoded and rebuilt in three ways, in one
run, on SQLite and PostgreSQL.

    .venv/bin/python scripts/bench_personal.py --scale city --store both --rounds 2

The three ways (each a Ledger on a fresh store, the same seed, so the same events):
  off     the library's mapper, everything in plain JSON (the ledger before this change);
  fields  the ledger's mapper (domain/personal.py): the personal fields of member,
          transfer and certificate events sealed with AES-GCM, the rest plain;
  state   the library's whole-state cipher (CIPHER_TOPIC=eventsourcing.cryptography:AESCipher,
          AES-GCM over every event's JSON), nothing sealed field by field.

Per store and way, in rounds whose order of ways rotates: (a) write: the history generated
through the Ledger's commands and saves (`api.simulation.generate`), events/s; (b) decode:
every stored event read as the engine reads it and decoded by its decoder
(`projections.decoding.EventDecoder`, which falls back to the library's mapper where it
can't decode on its own, as for a whole-state cipher), events/s; for `state` also the
least a decoder could do there (decrypt every state, then the fast path); (c) rebuild:
`ProjectionEngine.rebuild()`, events/s. Ratios are to `off` in the same round; the
table shows the median over rounds. Results go to stdout, and into docs/BENCHMARKS.md
("## Personal data at rest") unless --no-docs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import Mapper
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from api.simulation import BENCH_DATA_KEYS, BENCH_ID_KEY, SCALES, create_schema, generate  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.settings import store_env  # noqa: E402
from projections.db import ViewDatabase  # noqa: E402
from projections.decoding import EventDecoder  # noqa: E402
from projections.engine import ProjectionEngine  # noqa: E402
from projections.reading import NotificationReader  # noqa: E402

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
WAYS = ("off", "fields", "state")
CIPHER_KEY = AESCipher.create_key(32)  # synthetic people only: a key of this run


class PlainLedger(Ledger):
    """The ledger with the library's own mapper: no field sealed (a whole-state cipher if
    the environment names one)."""

    name = "ledger"  # the same tables

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return Application.construct_mapper(self)


def ledger_of(way: str, url: str, today: Any) -> Ledger:
    env = store_env(url)
    env.update({"LEDGER_ID_KEY": BENCH_ID_KEY, "LEDGER_DATA_KEYS": BENCH_DATA_KEYS})
    if way == "state":
        env.update({"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": CIPHER_KEY})
    return (Ledger if way == "fields" else PlainLedger)(env, today=today)


@contextlib.contextmanager
def fresh_store(kind: str, work_dir: Path) -> Iterator[str]:
    name = f"bench_personal_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = work_dir / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
        return
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={name}"
    create_schema(url)
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """Seconds of wall time and of this process's CPU time, and the work's result."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - started, time.process_time() - cpu, result


def decode_all(ledger: Ledger, decrypt_first: bool = False) -> tuple[int, int]:
    """Every stored event read in pages and decoded as the engine does; (events, mapper fallbacks).
    `decrypt_first`: each state decrypted, then decoded on the fast path (a whole-state
    cipher's least cost)."""
    reader = NotificationReader(ledger.recorder)
    decoder = EventDecoder(Mapper(transcoder=ledger.mapper.transcoder) if decrypt_first else ledger.mapper)
    cipher = ledger.mapper.cipher
    decode: Callable[[Any], Any] = decoder.decode_row if reader.rows else decoder.decode
    count, position = 0, 0
    while page := reader.select(position, 5000):
        for row in page:
            if decrypt_first:
                assert cipher is not None and reader.rows
                row = (row[0], row[1], row[2], row[3], cipher.decrypt(row[4]))
            decode(row)
        count += len(page)
        position = reader.position(page[-1])
    return count, decoder.fallbacks


def rotated(round_no: int) -> tuple[str, ...]:
    return WAYS[round_no % 3:] + WAYS[:round_no % 3]


def measure(kind: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """One store kind: each way's history written once per write round (the first kept),
    then decoded and rebuilt in rounds, the order of the ways turning each round; the
    figures of each round, by way."""
    chosen = SCALES[args.scale]
    rounds: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}

    def note(round_no: int, way: str, figures: dict[str, float]) -> None:
        while len(rounds[way]) <= round_no:
            rounds[way].append({})
        rounds[way][round_no].update(figures)
        print(f"{kind} round {round_no + 1} {way}: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items()),
              file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        kept: dict[str, tuple[Ledger, str]] = {}
        for round_no in range(max(args.write_rounds, 1)):
            for way in rotated(round_no):
                with contextlib.ExitStack() as this:
                    url = this.enter_context(fresh_store(kind, args.work_dir))
                    ledger = ledger_of(way, url, lambda: chosen.end)
                    this.callback(ledger.close)
                    seconds, cpu, stats = timed(lambda ledger=ledger: generate(ledger, chosen, args.seed))  # type: ignore[misc]
                    events = float(stats["events"])
                    note(round_no, way, {"events": events, "write": events / seconds, "write_cpu": events / cpu,
                                         "bytes_per_event": stored_bytes(kind, url) / events})
                    if way not in kept:  # this store is read and rebuilt below
                        kept[way] = (ledger, url)
                        stack.enter_context(this.pop_all())
        for round_no in range(args.rounds):
            for way in rotated(round_no):
                ledger, url = kept[way]
                seconds, cpu, (decoded, fallbacks) = timed(lambda ledger=ledger: decode_all(ledger))  # type: ignore[misc]
                figures = {"decode": decoded / seconds, "decode_cpu": decoded / cpu, "fallbacks": float(fallbacks)}
                if way == "state":
                    seconds, cpu, (decoded, _) = timed(
                        lambda ledger=ledger: decode_all(ledger, decrypt_first=True))  # type: ignore[misc]
                    figures.update(decode_least=decoded / seconds, decode_least_cpu=decoded / cpu)
                note(round_no, way, figures)
        for round_no in range(args.rounds):
            for way in rotated(round_no):
                ledger, url = kept[way]
                db = ViewDatabase(url)
                try:
                    seconds, cpu, position = timed(ProjectionEngine(ledger, db).rebuild)
                finally:
                    db.close()
                assert position == ledger.max_position()
                events = rounds[way][0]["events"]
                note(round_no, way, {"rebuild": events / seconds, "rebuild_cpu": events / cpu})
    return rounds


def stored_bytes(kind: str, url: str) -> int:
    if kind == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute("SELECT sum(length(state)) FROM stored_events").fetchone()[0])
    schema = url.split("schema=")[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT sum(length(state)) FROM {}.ledger_events").format(
            sql.Identifier(schema))).fetchone()
        return int(row[0]) if row else 0


def rate_cell(by_way: dict[str, list[dict[str, float]]], way: str, figure: str, base: str, ratio: bool) -> str:
    """The median of a way's `figure` over the rounds, and of its ratio to `off`'s `base` in each round."""
    rate = statistics.median(r[figure] for r in by_way[way] if figure in r)
    if not ratio:
        return f"{rate:,.0f}"
    ratios = [r[figure] / o[base] for r, o in zip(by_way[way], by_way["off"], strict=True) if figure in r and base in o]
    return f"{rate:,.0f} ({statistics.median(ratios):.3f})"


def render(results: dict[str, dict[str, list[dict[str, float]]]], args: argparse.Namespace,
           about: dict[str, Any], load_end: list[float]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Personal data at rest",
        "",
        "What sealing the personal fields costs (`scripts/bench_personal.py`), and why field by "
        "field rather than the whole state: the same history written, decoded and rebuilt in three "
        "ways on fresh stores in one run. `off` is the library's mapper (all plain: the ledger before "
        "encryption), `fields` the ledger's (domain/personal.py: the personal fields of member, transfer "
        "and certificate events sealed with AES-GCM), `state` the library's whole-state AES-GCM cipher "
        "(`CIPHER_TOPIC=eventsourcing.cryptography:AESCipher`). Write: the history generated through the "
        "Ledger's commands and saves. Decode: every event read and decoded as the projection engine "
        "does (`EventDecoder`, falling back to the library's mapper where it can't decode alone, as for "
        "a whole-state cipher); `state, least` decrypts every state first and then decodes on the fast "
        "path, the least any whole-state design could cost. Rebuild: `ProjectionEngine.rebuild()`. "
        "Events/s, median over the rounds; the ratio is to `off` of the same round (median). "
        "Stored state: the mean length of an event's stored state. On a shared machine the rates per CPU "
        "second of the measuring process (`time.process_time()`: on SQLite the database's work included, on "
        "PostgreSQL the server's work not) vary less than the wall-clock ones.",
        "",
        f"Measured {when} on {about['nproc']} CPUs ({about['cpu']}); load average (1, 5, 15 min) "
        f"{', '.join(map(str, about['load_start']))} at the start and {', '.join(map(str, load_end))} at the end "
        f"(a shared machine: other jobs ran alongside). PostgreSQL {about['postgres']}, SQLite {about['sqlite']}, "
        f"Python {about['python']}, eventsourcing {about['eventsourcing']}, cryptography {about['cryptography']}. "
        f"Scale `{args.scale}`, seed {args.seed}; {args.write_rounds} round(s) of writing (a fresh store each), then "
        f"{args.rounds} rounds of decoding and {args.rounds} of rebuilding the stores of the first, the order of "
        "the ways turning each round.",
        "",
        "```sh",
        f".venv/bin/python scripts/bench_personal.py --scale {args.scale} --store {args.store} "
        f"--rounds {args.rounds} --write-rounds {args.write_rounds}",
        "```",
        "",
    ]
    for kind, by_way in results.items():
        events = int(by_way["off"][0]["events"])
        lines += [f"### {kind} ({events:,} events)", "",
                  "| events/s (ratio to off) | off | fields | state |", "|---|---:|---:|---:|"]
        for figure, label in (("write", "write (generate through the Ledger)"), ("decode", "decode (engine's decoder)"),
                              ("rebuild", "rebuild (all views)"),
                              ("write_cpu", "write, per CPU second of the writing process"),
                              ("decode_cpu", "decode, per CPU second"),
                              ("rebuild_cpu", "rebuild, per CPU second of the rebuilding process")):
            cells = [rate_cell(by_way, way, figure, figure, way != "off") for way in WAYS]
            lines.append(f"| {label} | {' | '.join(cells)} |")
        for figure, base, label in (
            ("decode_least", "decode", "decode, state, least (decrypt all, then the fast path)"),
            ("decode_least_cpu", "decode_cpu", "decode, state, least, per CPU second"),
        ):
            lines.append(f"| {label} | | | {rate_cell(by_way, 'state', figure, base, True)} |")
        sizes = [statistics.median(r["bytes_per_event"] for r in by_way[way] if "bytes_per_event" in r)
                 for way in WAYS]
        lines.append(f"| stored state, bytes per event | {sizes[0]:,.0f} | {sizes[1]:,.0f} | {sizes[2]:,.0f} |")
        fallbacks = [statistics.median(r["fallbacks"] for r in by_way[way] if "fallbacks" in r) for way in WAYS]
        lines.append(f"| events the decoder left to the library's mapper | {fallbacks[0]:,.0f} | "
                     f"{fallbacks[1]:,.0f} | {fallbacks[2]:,.0f} |")
        lines.append("")
    lines += [f"- {note}" for note in args.note]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("small", "city"), default="city")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of decoding and of rebuilding")
    parser.add_argument("--write-rounds", type=int, default=1, help="rounds of writing (each a fresh store)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ledger-bench"))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line to add under the figures")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a stopped run drops its stores too
    args.work_dir.mkdir(parents=True, exist_ok=True)
    about = benchlib.machine(POSTGRES_URL, ("cryptography",))
    kinds = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    results = {kind: measure(kind, args) for kind in kinds}
    text = render(results, args, about, [round(x, 2) for x in os.getloadavg()])
    print(text)
    if not args.no_docs:
        benchlib.replace_section(args.docs, text, "## Personal data at rest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
