"""Fault injection: a `ledger serve` process under a stream of keyed commands is killed
(`kill -9`) and started again, and (PostgreSQL) its database is restarted as after a crash,
in the middle of the stream. Afterwards:

- every command the client saw acknowledged is in the store (its member, its transfer, the
  transfer's state), at or below the store's position;
- nothing is half-applied: `ledger verify` finds the views whole, and every member the store
  ever enrolled is in exactly one place (the subtree's roster, in transit included, lists
  each once, where the member's own record says it is);
- the views caught up without a restart: a read with the last acknowledged position answers
  200 within its wait, and they trail the log by nothing;
- no Idempotency-Key stays stuck: each key that was in flight at a fault answers a final
  status when retried (not 409 "still running" forever).

The stream runs on a thread: each member is enrolled, a transfer requested, its letter
issued and the member received elsewhere, four commands, each with its own key and retried
with the same key after a transport error, a 503 or a 409 "still running" (given up after
a while: the member's story is then left there). The server's database is a throwaway
cluster (tests/faults/conftest.py) or a SQLite file. The figures (commands sent,
acknowledged, retried, time to recover) are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.ledger import Ledger
from domain.member import Member
from domain.settings import store_env
from projections.db import ViewDatabase
from tests.api.conftest import member_body
from tests.conftest import TEST_ID_KEY
from tests.factories import build_tree
from tests.faults.conftest import Cluster, free_port

PHASE_ACKS = 12  # commands acknowledged before each fault, and after the last
RETRY_SECONDS = 20.0  # a command is retried this long while the server or its database is away
STILL_RUNNING_SECONDS = 2.0  # ... and this long while it answers 409 "still running"
STUCK_RETRY_SECONDS = 10.0  # how long a key in flight at a fault may take to answer finally
START_SECONDS = 60.0  # a server must answer within this
RUN_SECONDS = 90.0  # the whole stream
ROOT = Path(__file__).resolve().parents[2]
CLAIM_SECONDS = 10.0  # how long to watch for a keyed request running, to kill the server then


class Server:
    """`ledger serve` on a store, as a process of its own; always killed at the end."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_ID_KEY": TEST_ID_KEY,
                    "LEDGER_CREATE_TABLES": "false", "LEDGER_READ_WAIT_SECONDS": "10",
                    # the code of this checkout, whichever checkout the environment installed
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.workdir = workdir
        self.log = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.process.poll() is None, f"ledger serve ended: {self.tail()}"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"ledger serve did not answer: {self.tail()}"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Ack:
    kind: str  # enrol, request, issue, receive
    key: str
    at: float
    body: dict[str, Any]


@dataclass
class Stream:
    """The client: keyed commands, one after another, each retried with its key."""

    base: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0  # requests sent, retries included
    commands: int = 0  # distinct commands (keys)
    retried: int = 0  # requests sent again with a key already sent
    acks: list[Ack] = field(default_factory=list)
    interrupted: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # key: (path, body)
    given_up: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def post(self, kind: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.commands += 1
        deadline, running_since = time.monotonic() + RETRY_SECONDS, None
        first = True
        while not self.stop.is_set():
            if not first:
                self.retried += 1
            first = False
            self.sent += 1
            try:
                response = httpx.post(self.base + path, json=body, timeout=15, headers={
                    "Authorization": f"Bearer {self.token}", "Idempotency-Key": key})
            except httpx.TransportError:
                self.interrupted[key] = (path, body)
            else:
                if response.status_code in (200, 201):
                    answer: dict[str, Any] = response.json()
                    self.acks.append(Ack(kind, key, time.monotonic(), answer))
                    return answer
                code = response.json().get("code") if response.headers.get(
                    "content-type", "").startswith("application/problem+json") else None
                if response.status_code == 503:
                    self.interrupted[key] = (path, body)
                elif response.status_code == 409 and code == "conflict":  # still running
                    self.interrupted[key] = (path, body)
                    running_since = running_since or time.monotonic()
                    if time.monotonic() - running_since > STILL_RUNNING_SECONDS:
                        break
                else:
                    self.unexpected.append(f"{path} {response.status_code} {response.text[:300]}")
                    return None
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.given_up.append(key)
        return None

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and n < 900:
            n += 1
            enrolled = self.post("enrol", f"enrol-{n}", "/v1/members", member_body(n, "XW-C1-B1"))
            if enrolled is None:
                continue
            requested = self.post("request", f"request-{n}", "/v1/transfers", {
                "registration_no": enrolled["registration_no"], "to_organization_code": "QH-C1",
                "reason": "job_change", "basis": "household"})
            if requested is None:
                continue
            transfer = requested["transfer_id"]
            if self.post("issue", f"issue-{n}", f"/v1/transfers/{transfer}/issue", {}) is None:
                continue
            self.post("receive", f"receive-{n}", f"/v1/transfers/{transfer}/receive",
                      {"organization_code": "QH-C1-B1"})


@dataclass
class Run:
    kind: str
    url: str
    server: Server
    stream: Stream
    recovered: dict[str, float]  # fault: seconds from the fault to the next acknowledgement


def until(condition: Callable[[], bool], timeout: float, what: str, server: Server) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{server.tail()}"
        time.sleep(0.05)


def kill_while_a_key_runs(url: str) -> None:
    """Until a keyed request is running in the server (its key claimed, its answer not yet
    kept), or a few seconds: the moment to kill it."""
    db = ViewDatabase(url)
    try:
        deadline = time.monotonic() + CLAIM_SECONDS
        while time.monotonic() < deadline:
            if db.scalar("SELECT count(*) FROM api_idempotency WHERE status = 0"):
                return
            time.sleep(0.001)
    finally:
        db.close()


def set_up_store(url: str) -> str:
    """The tree of tests/factories.py and a clerk of NJ (both sides of XW -> QH); its token."""
    ledger = Ledger({**store_env(url), "LEDGER_ID_KEY": TEST_ID_KEY})
    try:
        build_tree(ledger)
        _, token = ledger.grant_operator("clerk", "clerk", "NJ")
        return token
    finally:
        ledger.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fault_run(request: pytest.FixtureRequest) -> Iterator[Run]:
    workdir = Path(tempfile.mkdtemp(prefix="ledger-faults-"))
    cluster: Cluster | None = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.schema_url()
    else:
        url = f"sqlite:///{workdir}/ledger.db"
    token = set_up_store(url)
    server = Server(url, workdir)
    stream = Stream(server.base, token)
    client = threading.Thread(target=stream.run, name="fault-stream", daemon=True)
    recovered: dict[str, float] = {}

    def acknowledged_after(moment: float) -> bool:
        return any(a.at > moment for a in stream.acks)

    def first_after(moment: float) -> float:
        return min(a.at for a in stream.acks if a.at > moment) - moment

    try:
        server.start()
        client.start()
        until(lambda: len(stream.acks) >= PHASE_ACKS, RUN_SECONDS, "acknowledged before the kill", server)

        kill_while_a_key_runs(url)
        server.kill()  # in the middle of a keyed request
        killed = time.monotonic()
        server.start()
        recovered["server answering again"] = time.monotonic() - killed
        until(lambda: acknowledged_after(killed), RUN_SECONDS, "acknowledged after the kill", server)
        recovered["first command acknowledged after the kill"] = first_after(killed)
        reached = len(stream.acks)
        until(lambda: len(stream.acks) >= reached + PHASE_ACKS, RUN_SECONDS, "acknowledged after the kill",
              server)

        if cluster is not None:
            restarted = time.monotonic()
            cluster.restart("immediate")
            until(lambda: acknowledged_after(restarted), RUN_SECONDS, "acknowledged after the restart", server)
            recovered["first command acknowledged after the database restart"] = first_after(restarted)
            reached = len(stream.acks)
            until(lambda: len(stream.acks) >= reached + PHASE_ACKS, RUN_SECONDS,
                  "acknowledged after the restart", server)
        stream.stop.set()
        client.join(timeout=RETRY_SECONDS + 30)
        assert not client.is_alive(), "the client did not stop"
        print(f"\n[{request.param}] commands {stream.commands}, requests sent {stream.sent}, "
              f"acknowledged {len(stream.acks)}, retried {stream.retried}, in flight at a fault "
              f"{len(stream.interrupted)}, given up {len(stream.given_up)}, time to recover "
              + ", ".join(f"{k}: {v:.2f} s" for k, v in recovered.items()))
        yield Run(request.param, url, server, stream, recovered)
    finally:
        stream.stop.set()
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        if cluster is not None and not cluster.running():
            cluster.start()


def test_acknowledged_commands_survive_a_server_kill_and_a_database_restart(fault_run: Run) -> None:
    stream, server = fault_run.stream, fault_run.server
    assert not stream.unexpected, stream.unexpected
    last = max(a.body["position"] for a in stream.acks)

    # The views caught up without a restart: a read with the last position answers.
    headers = {"Authorization": f"Bearer {stream.token}"}
    roster = httpx.get(f"{server.base}/v1/organizations/NJ/roster", headers=headers, timeout=30, params={
        "subtree": "true", "include_in_transit": "true", "limit": 1000, "min_position": last})
    assert roster.status_code == 200, roster.text

    ledger = Ledger({**store_env(fault_run.url, create_tables=False), "LEDGER_ID_KEY": TEST_ID_KEY})
    try:
        assert last <= ledger.max_position()
        # Every acknowledged command is in the store.
        for ack in stream.acks:
            if ack.kind == "enrol":
                member = ledger.member(ack.body["registration_no"])
                assert member.registration_no == ack.body["registration_no"]
            else:
                transfer = ledger.transfer(ack.body["transfer_id"]).summary()
                assert transfer["status"] in {"request": {"requested", "issued", "received"},
                                              "issue": {"issued", "received"},
                                              "receive": {"received"}}[ack.kind], (ack, transfer)
                if ack.kind == "issue":
                    assert transfer["letter_no"] == ack.body["letter_no"]
        # Nothing half-applied: every member enrolled is in exactly one place.
        enrolled = [e.registration_no for _, e in ledger.read_events()
                    if isinstance(e, Member.Admitted | Member.Imported)]  # type: ignore[attr-defined]
        assert len(enrolled) == len(set(enrolled)) >= sum(1 for a in stream.acks if a.kind == "enrol")
        rows = roster.json()["data"]
        listed = [row["registration_no"] for row in rows]
        assert sorted(listed) == sorted(enrolled)
        for row in rows:
            member = ledger.member(row["registration_no"])
            assert member.place in ("held", "in_transit"), (row, member.place)
            assert row["organization_code"] == member.organization_code
    finally:
        ledger.close()

    verified = subprocess.run([sys.executable, "-m", "api.cli", "verify"], env=server.env, cwd=server.workdir,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result = json.loads(verified.stdout)
    assert result["ok"] and result["lag"]["behind"] == 0, result


def test_no_idempotency_key_stays_stuck_after_a_server_kill(fault_run: Run) -> None:
    stream, server = fault_run.stream, fault_run.server
    assert stream.interrupted, "no command was in flight at a fault"
    stuck = []
    for key, (path, body) in stream.interrupted.items():
        deadline = time.monotonic() + STUCK_RETRY_SECONDS
        while True:
            response = httpx.post(server.base + path, json=body, timeout=15, headers={
                "Authorization": f"Bearer {stream.token}", "Idempotency-Key": key})
            final = response.status_code not in (409, 503) or (response.json().get("code") != "conflict" \
                and response.status_code != 503)
            if final or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not final:
            stuck.append(f"{key}: {response.status_code} {response.json().get('detail')}")
    assert not stuck, f"{len(stuck)} of {len(stream.interrupted)} keys in flight at a fault are stuck: {stuck}"
