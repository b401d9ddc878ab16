"""Idempotency-Key after a crash (api/idempotency.py, domain/commandkey.py): a request whose
process died while it ran leaves its key running; a retry with the same key takes the key
over once that process is known dead or its lease has run out. If the first run had
recorded its command, the retry records nothing and answers with what was recorded (the
same transfer); if not, the retry runs the command, once. A key held by a live process
within its lease answers 409 `conflict` with Retry-After.

The crash is simulated (the ledger command run under the request's command key, its claim
left running) and real: `ledger serve` killed with SIGKILL while it holds a request's answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from httpx import Response

from api.idempotency import Claimant, IdempotencyStore, command_name, request_digest, setup
from domain.commandkey import CommandKey, keyed
from domain.ledger import Ledger
from domain.operator import operator_id_for
from domain.personal import DataKeys, new_key_entry
from domain.transfer import Transfer
from projections.db import ViewDatabase
from tests.api.conftest import Api
from tests.api.helpers import assert_problem, stop_process
from tests.conftest import TEST_ID_KEY, Store
from tests.domain.test_concurrency import count_events
from tests.factories import admit, build_tree

ON = "2026-11-02"
# The table as the first version of the API made it (a store made before claims had leases).
FIRST_DDL = (
    "CREATE TABLE IF NOT EXISTS api_idempotency (owner TEXT NOT NULL, key TEXT NOT NULL, "
    "request_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT, media_type TEXT, "
    "created_at TEXT NOT NULL, PRIMARY KEY (owner, key))"
)


def transfer_body(number: str) -> bytes:
    return json.dumps({"registration_no": number, "to_organization_code": "XW-C1-B3", "reason": "job_change",
                       "basis": "household", "on": ON}).encode()


def post(client: TestClient | httpx.Client, token: str, key: str, raw: bytes,
         path: str = "/v1/transfers") -> Response:
    return client.post(path, content=raw, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"})


def left_running(store: Store, token: str, key: str, raw: bytes, *, claimant: str | None,
                 claimed_at: datetime, path: str = "/v1/transfers") -> None:
    """The claim row a process leaves when it dies while it runs the request (without
    `claimant`: as the first version of the API left it)."""
    owner = str(operator_id_for(token))
    digest = request_digest("POST", path, "", raw)
    db = ViewDatabase(store.url)
    try:
        if claimant is None:
            db.execute("INSERT INTO api_idempotency (owner, key, request_hash, status, created_at) "
                       "VALUES (?, ?, ?, 0, ?)", (owner, key, digest, claimed_at.isoformat()))
        else:
            db.execute("INSERT INTO api_idempotency (owner, key, request_hash, status, created_at, claimant, "
                       "claimed_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
                       (owner, key, digest, claimed_at.isoformat(), claimant, claimed_at.isoformat()))
    finally:
        db.close()


def recorded_under(ledger: Ledger, token: str, key: str, raw: bytes, number: str) -> str:
    """What the dead process had done: the request's command, recorded under its command key."""
    digest = request_digest("POST", "/v1/transfers", "", raw)
    with keyed(command_name(str(operator_id_for(token)), key, digest)):
        transfer_id = ledger.request_transfer(number, "XW-C1-B3", reason="job_change", basis="household",
                                              on=date.fromisoformat(ON)).transfer_id
    assert transfer_id is not None
    return transfer_id


def dead_claimant() -> str:
    """A process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    me = Claimant.current()
    return str(Claimant(me.host, me.boot, process.pid, "ended"))


def live_claimant() -> str:
    """A process of this host that is running, other than this one (its parent): a claim of
    this process itself that no request of it holds is one left behind, taken over at once."""
    me = Claimant.current()
    return str(Claimant(me.host, me.boot, os.getppid(), "alive"))


def test_a_recorded_command_whose_key_was_left_running_answers_with_the_first_transfer(store: Store) -> None:
    # a store whose key table the first version made, with a key it left running an hour ago
    db = ViewDatabase(store.url)
    db.execute(FIRST_DDL)
    db.close()
    api = Api(store)
    try:
        token = api.tokens["xw_clerk"]
        number = admit(api.ledger, 1)
        raw = transfer_body(number)
        transfer_id = recorded_under(api.ledger, token, "stuck", raw, number)
        left_running(store, token, "stuck", raw, claimant=None, claimed_at=datetime.now(UTC) - timedelta(hours=1))
        position = api.ledger.max_position()

        retried = post(api.test_client, token, "stuck", raw)
        assert retried.status_code == 201, retried.text
        assert (retried.json()["transfer_id"], retried.json()["registration_no"]) == (transfer_id, number)
        assert api.ledger.max_position() == position  # recorded nothing new
        again = post(api.test_client, token, "stuck", raw)
        assert (again.status_code, again.json()) == (201, retried.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        assert count_events(api.ledger, Transfer.Requested) == 1
    finally:
        api.close()


def test_a_claim_left_by_a_dead_process_whose_command_was_not_recorded_runs_it_once(api: Api, store: Store) -> None:
    token = api.tokens["xw_clerk"]
    number = admit(api.ledger, 2)
    raw = transfer_body(number)
    left_running(store, token, "not-recorded", raw, claimant=dead_claimant(), claimed_at=datetime.now(UTC))
    before = api.ledger.max_position()
    retried = post(api.test_client, token, "not-recorded", raw)  # within the lease: its process is gone
    assert retried.status_code == 201, retried.text
    assert retried.json()["position"] == api.ledger.max_position() > before
    again = post(api.test_client, token, "not-recorded", raw)
    assert (again.status_code, again.json()) == (201, retried.json())
    assert api.ledger.member(number).transfer_id == retried.json()["transfer_id"]
    assert count_events(api.ledger, Transfer.Requested) == 1


def test_a_key_held_by_a_live_process_answers_409_with_retry_after_until_its_lease_ends(
        api: Api, store: Store) -> None:
    token = api.tokens["xw_clerk"]
    number = admit(api.ledger, 3)
    raw = transfer_body(number)
    lease = api.services.settings.idempotency_lease_seconds
    left_running(store, token, "held", raw, claimant=live_claimant(), claimed_at=datetime.now(UTC))
    before = api.ledger.max_position()
    busy = post(api.test_client, token, "held", raw)
    assert_problem(busy, "conflict")
    assert 1 <= int(busy.headers["Retry-After"]) <= lease
    assert api.ledger.max_position() == before
    # the lease runs out (as if the time had passed): the next retry takes the key over
    db = ViewDatabase(store.url)
    try:
        db.execute("UPDATE api_idempotency SET claimed_at = ? WHERE key = ?",
                   ((datetime.now(UTC) - timedelta(seconds=lease + 1)).isoformat(), "held"))
    finally:
        db.close()
    taken = post(api.test_client, token, "held", raw)
    assert taken.status_code == 201, taken.text
    assert count_events(api.ledger, Transfer.Requested) == 1


def test_racers_on_a_recovered_key_run_its_command_once(api: Api, store: Store) -> None:
    token = api.tokens["xw_clerk"]
    number = admit(api.ledger, 4)
    raw = transfer_body(number)
    left_running(store, token, "raced", raw, claimant=dead_claimant(), claimed_at=datetime.now(UTC))
    barrier = threading.Barrier(3, timeout=30)
    results: list[Response] = []

    def send() -> None:
        client = TestClient(api.app, raise_server_exceptions=False)
        barrier.wait()
        results.append(post(client, token, "raced", raw))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 3
    assert 201 in [r.status_code for r in results], [r.text for r in results]
    for result in results:
        if result.status_code == 409:
            assert_problem(result, "conflict")  # the winner still running: try again later
        else:
            assert result.status_code == 201, result.text
    assert len({r.json()["transfer_id"] for r in results if r.status_code == 201}) == 1
    assert count_events(api.ledger, Transfer.Requested) == 1
    assert count_events(api.ledger, CommandKey.Recorded) == 1


def test_a_claim_taken_over_keeps_the_first_answer_and_is_released_only_by_its_holder(store: Store) -> None:
    db = ViewDatabase(store.url)
    setup(db)

    @contextmanager
    def connection() -> Iterator[ViewDatabase]:
        yield db

    keys = IdempotencyStore(connection, DataKeys(new_key_entry()))
    try:
        slow = keys.claim("owner", "key", "digest", lease_seconds=30)
        assert slow.verdict == "run" and slow.holder is not None
        assert keys.claim("owner", "key", "digest", lease_seconds=30).verdict == "running"
        retry = keys.claim("owner", "key", "digest", lease_seconds=0)  # the slow one's lease is over
        assert (retry.verdict, retry.recovered) == ("run", True)
        keys.release("owner", "key", slow.holder)  # no longer the slow one's to release
        assert keys.claim("owner", "key", "digest", lease_seconds=30).verdict == "running"
        assert keys.complete("owner", "key", 201, b'{"n": 2}', "application/json") is None
        # the slow one ends later: the answer kept first is the one given
        first = (201, '{"n": 2}', "application/json")
        assert keys.complete("owner", "key", 409, b'{"n": 1}', "application/problem+json") == first
        assert keys.claim("owner", "key", "digest").answer == first
    finally:
        db.close()



def test_a_claim_whose_request_in_this_process_ended_unreleased_is_taken_over_at_once(store: Store) -> None:
    """A request that ended while the database was away (its claim neither released nor
    answered) leaves a claim naming this live process: the next retry to it takes the claim
    over at once instead of waiting out the lease."""
    db = ViewDatabase(store.url)
    setup(db)

    @contextmanager
    def connection() -> Iterator[ViewDatabase]:
        yield db

    keys = IdempotencyStore(connection, DataKeys(new_key_entry()))
    try:
        first = keys.claim("owner", "orphan", "digest", lease_seconds=30)
        assert first.verdict == "run" and first.holder is not None
        assert keys.claim("owner", "orphan", "digest", lease_seconds=30).verdict == "running"  # still running
        keys.ended("owner", "orphan", first.holder)  # ended; the release never reached the database
        retry = keys.claim("owner", "orphan", "digest", lease_seconds=30)
        assert (retry.verdict, retry.recovered) == ("run", True)
        assert keys.claim("owner", "orphan", "digest", lease_seconds=30).verdict == "running"  # the retry's
    finally:
        db.close()

# --- a real crash -----------------------------------------------------------------------------


class Server:
    """`ledger serve` on the store, as a subprocess on a free port."""

    def __init__(self, store: Store) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "LEDGER_DATABASE_URL": store.url, "LEDGER_ID_KEY": TEST_ID_KEY}
        env.pop("LEDGER_PROJECTIONS", None)
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        deadline = time.monotonic() + 60
        while True:
            self.check_alive()
            try:
                if self.client.get("/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not start: {self.output()}"
            time.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def check_alive(self) -> None:
        assert self.process.poll() is None, f"the server exited ({self.process.returncode}): {self.output()}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.client.close()
        stop_process(self.process)
        self.log.close()


@contextmanager
def answer_never_kept(store: Store, key: str) -> Iterator[None]:
    """While inside: a server keeping the answer of `key` is held there (and on PostgreSQL
    its keeping fails once let go), so it can be killed after its command is recorded and
    before its answer is kept."""
    db = ViewDatabase(store.url)
    if db.kind == "postgres":
        lock = uuid.uuid4().int % 2**62
        holder = ViewDatabase(store.url)
        holder.execute("SELECT pg_advisory_lock(?)", (lock,))
        db.execute(
            "CREATE FUNCTION hold_answer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.key = '{key}' AND NEW.status <> 0 THEN PERFORM pg_advisory_xact_lock({lock}); "
            "RAISE EXCEPTION 'the answer was never kept'; END IF; RETURN NEW; END $$")
        db.execute("CREATE TRIGGER hold_answer BEFORE UPDATE ON api_idempotency FOR EACH ROW "
                   "EXECUTE FUNCTION hold_answer()")
        try:
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(?)", (lock,))  # the held update fails
            holder.close()
            db.execute("SET lock_timeout = '30s'")
            db.execute("DROP TRIGGER hold_answer ON api_idempotency")
            db.execute("DROP FUNCTION hold_answer()")
            db.close()
        return
    # SQLite runs the trigger in the server's own process: a long count holds it there
    db.execute("CREATE TABLE busy (x INTEGER)")
    db.executemany("INSERT INTO busy VALUES (?)", [(n,) for n in range(1000)])
    db.execute(f"CREATE TRIGGER hold_answer BEFORE UPDATE ON api_idempotency WHEN NEW.key = '{key}' "
               "AND NEW.status <> 0 BEGIN SELECT count(*) FROM busy a, busy b, busy c "
               "WHERE a.x + b.x + c.x < 0; END")
    try:
        yield
    finally:
        db.execute("DROP TRIGGER hold_answer")
        db.execute("DROP TABLE busy")
        db.close()


def test_a_server_killed_before_keeping_an_answer_gives_the_recorded_transfer_on_a_retry(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    _, token = ledger.grant_operator("clerk", "clerk", "XW-C1")
    numbers = [admit(ledger, n) for n in range(1, 4)]
    server = Server(store)
    try:
        answers = {}
        for n, number in enumerate(numbers[:2]):  # the stream's requests before the crash
            answers[f"key-{n}"] = post(server.client, token, f"key-{n}", transfer_body(number))
            assert answers[f"key-{n}"].status_code == 201, answers[f"key-{n}"].text
        stuck = numbers[2]
        failures: list[BaseException] = []
        with answer_never_kept(store, "key-2"):
            def send() -> None:
                try:
                    post(server.client, token, "key-2", transfer_body(stuck))
                except httpx.TransportError as error:  # the server is killed under it
                    failures.append(error)

            sender = threading.Thread(target=send)
            sender.start()
            deadline = time.monotonic() + 60
            while ledger.member(stuck).transfer_id is None:  # until its command is recorded
                server.check_alive()
                assert time.monotonic() < deadline, "the request's command was never recorded"
                time.sleep(0.02)
            server.kill()
            sender.join(timeout=60)
            assert not sender.is_alive() and failures, "the killed server answered"
        transfer_id = ledger.member(stuck).transfer_id
        position = ledger.max_position()
    finally:
        server.stop()

    server = Server(store)  # started again, as after a crash
    try:
        retried = post(server.client, token, "key-2", transfer_body(stuck))
        assert retried.status_code == 201, retried.text
        assert retried.json()["transfer_id"] == transfer_id
        assert ledger.max_position() == position
        for n, number in enumerate(numbers[:2]):
            again = post(server.client, token, f"key-{n}", transfer_body(number))
            assert (again.status_code, again.json()) == (201, answers[f"key-{n}"].json())
        assert count_events(ledger, Transfer.Requested) == 3
    finally:
        server.stop()

