"""The deployment for more load, with real processes: two `ledger serve` processes and the
projection worker on one PostgreSQL schema, set up as `ledger serve --workers N` sets them
up (api/cluster.py), and HTTP clients racing on both servers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import cluster
from domain.identifiers import organization_id
from domain.organization import Organization
from domain.settings import Settings
from domain.transfer import Transfer
from tests.conftest import TEST_ID_KEY, Store
from tests.domain.test_concurrency import count_events, race
from tests.domain.test_several_processes import run_together
from tests.factories import admit, build_tree, person

pytestmark = pytest.mark.postgres_only

CLIENTS, ROUNDS = 8, 4
TARGETS = 24
DAY = "2026-03-02"
LEDGER = str(Path(sys.executable).parent / "ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_env(store: Store) -> dict[str, str]:
    return {**os.environ, "LEDGER_DATABASE_URL": store.url, "LEDGER_ID_KEY": TEST_ID_KEY,
            "LEDGER_PROJECTIONS": "worker", "LEDGER_CREATE_TABLES": "false"}


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        cluster.stop(process)


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    with httpx.Client(base_url=base, trust_env=False, timeout=5) as client:
        for _ in range(1200):  # polls every 0.1 s, at most 2 minutes: a start, not a timing
            if process.poll() is not None:
                pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            threading.Event().wait(0.1)
    pytest.fail(f"the server did not answer: {log.read_text()[-2000:]}")


@pytest.fixture
def servers(store: Store, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """Two serve processes and the worker; yields their base URLs and what was set up."""
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, 100 + i) for i in range(CLIENTS * ROUNDS)]
    _, token = ledger.grant_operator("clerk", "clerk", "XW")
    _, admin = ledger.grant_operator("admin", "admin", "JS")
    targets = []  # transfers requested, each to a branch of its own
    for k in range(TARGETS):
        code = f"QH-C1-T{k}"
        ledger.register_organization(code, f"目标支部{k}", "branch", "QH-C1", "320104", on=date(2020, 1, 1))
        number = admit(ledger, 600 + k)
        targets.append((code, ledger.request_transfer(
            number, code, reason="job_change", basis="household", on=date(2026, 3, 1)).transfer_id))
    ledger.close()
    cluster.prepare(Settings(database_url=store.url, id_key=TEST_ID_KEY))  # type: ignore[arg-type]
    env = cluster_env(store)
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        stack.enter_context(started([sys.executable, "-m", "projections.worker"], env, tmp_path / "worker.log"))
        bases = []
        for port in ports:
            log = tmp_path / f"serve-{port}.log"
            process = stack.enter_context(started(
                [LEDGER, "serve", "--host", "127.0.0.1", "--port", str(port)], env, log))
            bases.append(f"http://127.0.0.1:{port}")
            wait_until_healthy(bases[-1], process, log)
        yield bases, {"numbers": numbers, "token": token, "admin": admin, "targets": targets, "env": env}


def client(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEDGER, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_eight_clients_on_two_servers_move_distinct_members_without_a_refusal(
    store: Store, servers: tuple[list[str], dict[str, Any]],
) -> None:
    """Every letter comes from one committee's register and every receipt writes the same
    two branches, on both servers: no call is refused, each member moves once, and the
    worker's views re-derive exactly from the events (`ledger verify`)."""
    bases, setup = servers
    numbers: list[str] = setup["numbers"]
    failures: list[str] = []
    barrier = threading.Barrier(CLIENTS)

    def move(index: int) -> None:
        with client(bases[index % 2], setup["token"]) as http:
            barrier.wait()
            for number in numbers[index * ROUNDS:(index + 1) * ROUNDS]:
                answer = http.post("/v1/transfers", json={
                    "registration_no": number, "to_organization_code": "XW-C1-B2", "reason": "job_change",
                    "basis": "household", "on": DAY})
                if answer.status_code != 201:
                    failures.append(answer.text)
                    return
                transfer_id = answer.json()["transfer_id"]
                for path, body in (("issue", {"on": DAY}), ("receive", {"organization_code": "XW-C1-B2", "on": DAY})):
                    answer = http.post(f"/v1/transfers/{transfer_id}/{path}", json=body)
                    if answer.status_code != 200:
                        failures.append(answer.text)
                        return

    run_together(move, CLIENTS)
    assert failures == []

    ledger = store.ledger(CREATE_TABLE="n")
    assert count_events(ledger, Transfer.MemberReceived) == len(numbers)
    assert set(ledger.organization("XW-C1-B2").members) == set(numbers)
    assert all(ledger.member(n).organization_code == "XW-C1-B2" for n in numbers)
    position = ledger.max_position()
    for _ in range(600):  # the worker catches up (a wait for it, at most a minute)
        lag = json.loads(run_cli(setup["env"], "status", "--field", "lag").stdout)
        if lag["views_position"] >= position:
            break
        threading.Event().wait(0.1)
    verified = run_cli(setup["env"], "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["mismatches"] == []


def post(base: str, token: str, path: str, body: dict[str, Any]) -> httpx.Response:
    with client(base, token) as http:
        return http.post(path, json=body)


def test_one_resident_id_number_sent_to_both_servers_at_once_is_admitted_once(
    servers: tuple[list[str], dict[str, Any]],
) -> None:
    """Never both accepted, never both refused: the second is a duplicate, and says so."""
    bases, setup = servers
    for n in range(4):
        fields = {**person(500 + n), "joined_on": "2026-01-10", "on": "2026-01-10"}
        fields["birth_date"] = fields["birth_date"].isoformat()
        answers = race(*(partial(post, bases[i], setup["token"], "/v1/members",
                                 {**fields, "organization_code": f"XW-C1-B{i + 1}"}) for i in (0, 1)))
        assert sorted(a.status_code for a in answers)[0] == 201, [a.text for a in answers]
        refused = [a for a in answers if a.status_code != 201]
        assert len(refused) == 1, [a.text for a in answers]
        assert refused[0].json()["code"] == "duplicate_registration"


def test_a_letter_never_follows_the_dissolution_of_its_target(
    store: Store, servers: tuple[list[str], dict[str, Any]],
) -> None:
    """Server A issues a letter to a branch while server B dissolves that branch. Issuing
    reads the target without writing it, so nothing but the check at the commit orders the
    two: either may win, but a letter is never recorded after its target's dissolution
    (it would have been decided on the branch as it stood before)."""
    bases, setup = servers
    answers: list[httpx.Response] = []
    for code, transfer_id in setup["targets"]:
        answers.extend(race(
            partial(post, bases[0], setup["token"], f"/v1/transfers/{transfer_id}/issue", {"on": DAY}),
            partial(post, bases[1], setup["admin"], f"/v1/organizations/{code}/dissolve",
                    {"successor_code": "QH-C1-B1", "on": DAY}),
        ))
    assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
    ledger = store.ledger(CREATE_TABLE="n")
    codes = {organization_id(code): code for code, _ in setup["targets"]}
    dissolved: dict[str, int] = {}
    issued: dict[str, int] = {}
    for position, event in ledger.read_events():
        if isinstance(event, Organization.Dissolved) and event.originator_id in codes:
            dissolved[codes[event.originator_id]] = position
        if isinstance(event, Transfer.LetterIssued):
            issued[ledger.transfer(str(event.originator_id)).to_organization_code] = position
    late = [code for code, position in issued.items() if code in dissolved and dissolved[code] < position]
    assert late == [], f"letters issued to branches already dissolved: {late}"
    assert len(dissolved) + len(issued) >= len(setup["targets"]), [a.text for a in answers]
