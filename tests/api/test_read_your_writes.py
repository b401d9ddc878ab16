"""Read-your-writes through HTTP (shared/API.md, "Every command that records events answers
with `position` ... Reads accept `min_position`").

(a) The embedded default (`LEDGER_PROJECTIONS=inline`): a read right after a command
    already reflects it, without `min_position`.
(b) A separate projection worker (`LEDGER_PROJECTIONS=worker` plus
    `python -m projections.worker` as a process of its own): a read with the command's
    `min_position` reflects it; a read with a position far ahead answers 503 `not_ready`
    after about `read_wait_seconds`.

Both run on SQLite and on PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.services import Services
from domain.settings import Settings
from tests.api.conftest import Api, ApiClient, member_body
from tests.api.helpers import stop_process
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree

READ_WAIT = 1.0  # read_wait_seconds where a 503 is expected: low, so it comes quickly
# read_wait_seconds where the reads must succeed: the worker applies a command in tens of
# milliseconds, but a loaded machine (other jobs) can stretch that past one second.
PATIENT_WAIT = 10.0
FAR_AHEAD = 1_000_000  # positions beyond the last event: never applied during a test
# A transfer issued on this day with 30 days' validity is an overdue letter on TODAY.
REQUESTED_ON, ISSUED_ON = "2026-09-01", "2026-09-02"


class WorkerApi:
    """Like tests/api/conftest.py's `Api`, with the views kept by a separate worker
    process instead of this one, and the given `read_wait_seconds`."""

    def __init__(self, store: Store, *, read_wait_seconds: float) -> None:
        settings = Settings(  # type: ignore[call-arg]
            database_url=store.url, id_key=TEST_ID_KEY, projections="worker",  # type: ignore[arg-type]
            read_wait_seconds=read_wait_seconds,
        )
        # Built first: it creates the event tables and the view tables, as set-up does,
        # so the worker (started with create_tables=False) finds them.
        self.store = store
        self.services = Services(settings, today=lambda: TODAY)
        self.ledger = self.services.ledger
        build_tree(self.ledger)
        self.tokens: dict[str, str] = {}
        for label, role, org in (("xw_clerk", "clerk", "XW-C1"), ("qh_clerk", "clerk", "QH-C1"),
                                 ("auditor", "auditor", "JS")):
            _, self.tokens[label] = self.ledger.grant_operator(label, role, org)
        self.app = create_app(services=self.services)
        self.test_client = TestClient(self.app, raise_server_exceptions=False)
        self.test_client.__enter__()

    def client(self, label: str) -> ApiClient:
        return ApiClient(self.test_client, self.tokens[label])

    def close(self) -> None:
        self.test_client.__exit__(None, None, None)
        self.services.close()


class Worker:
    """`python -m projections.worker` on the store, as a subprocess; always stopped."""

    def __init__(self, store: Store) -> None:
        env = {**os.environ, "LEDGER_DATABASE_URL": store.url, "LEDGER_ID_KEY": TEST_ID_KEY}
        env.pop("LEDGER_PROJECTIONS", None)
        # Its log goes to a file, not a pipe nobody reads (a full pipe would block it).
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "projections.worker", "--poll-interval", "0.05"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def check_alive(self) -> None:
        assert self.process.poll() is None, f"the worker exited ({self.process.returncode}): {self.output()}"

    def stop(self) -> int | None:
        returncode = stop_process(self.process)
        self.log.close()
        return returncode


@pytest.fixture
def inline_api(store: Store) -> Iterator[Api]:
    api = Api(store)  # Settings() default: projections="inline"
    assert api.services.inline
    yield api
    api.close()


def wait_until_following(process: Worker, store: Store, position: int, timeout: float = 30.0) -> None:
    """Until the worker (a cold Python process: a second or two to start) has applied `position`."""
    queries = store.queries()
    deadline = time.monotonic() + timeout
    while queries.position() < position:
        process.check_alive()
        assert time.monotonic() < deadline, f"the worker did not reach position {position} within {timeout} s"
        time.sleep(0.05)


@contextmanager
def app_and_worker(store: Store, read_wait_seconds: float) -> Iterator[tuple[WorkerApi, Worker]]:
    """The worker-mode app (built first: it creates the tables), then the worker process,
    once it follows the store. Both are always stopped; the worker must end cleanly (0)."""
    api = WorkerApi(store, read_wait_seconds=read_wait_seconds)
    try:
        assert not api.services.inline
        process = Worker(store)
        try:
            wait_until_following(process, store, api.ledger.max_position())
            yield api, process
        finally:
            returncode = process.stop()
        assert returncode == 0, f"the worker ended with {returncode}"
    finally:
        api.close()


@pytest.fixture
def with_worker(store: Store) -> Iterator[tuple[WorkerApi, Worker]]:
    with app_and_worker(store, PATIENT_WAIT) as pair:
        yield pair


@pytest.fixture
def with_impatient_worker(store: Store) -> Iterator[tuple[WorkerApi, Worker]]:
    with app_and_worker(store, READ_WAIT) as pair:
        yield pair


# --- helpers ---------------------------------------------------------------------------------


def ok(response: Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def command_position(response: Response, status: int = 200) -> int:
    body = ok(response, status)
    position = body.get("position")
    assert isinstance(position, int) and position > 0, body
    return position


def import_member(clerk: ApiClient, n: int) -> tuple[str, int]:
    response = clerk.post("/v1/members", member_body(n))
    position = command_position(response, 201)
    return response.json()["registration_no"], position


def request_and_issue(clerk: ApiClient, number: str) -> tuple[str, int, int]:
    requested = clerk.post("/v1/transfers", {"registration_no": number, "to_organization_code": "QH-C1",
                                             "reason": "job_change", "basis": "household", "on": REQUESTED_ON})
    request_position = command_position(requested, 201)
    transfer_id = requested.json()["transfer_id"]
    issued = clerk.post(f"/v1/transfers/{transfer_id}/issue", {"on": ISSUED_ON})
    return transfer_id, request_position, command_position(issued)


def roster_numbers(body: dict[str, Any]) -> list[str]:
    return [row["registration_no"] for row in body["data"]]


def assert_reflects_import(clerk: ApiClient, number: str, **params: Any) -> None:
    roster = ok(clerk.get("/v1/organizations/XW-C1-B1/roster", **params))
    assert number in roster_numbers(roster)
    assert roster["count"] == len(roster["data"]) == 1
    history = ok(clerk.get(f"/v1/members/{number}/history", **params))
    assert history["count"] >= 1
    assert history["data"][0]["type"].endswith("Imported"), history["data"][0]


def assert_reflects_issue(clerk: ApiClient, number: str, transfer_id: str, **params: Any) -> None:
    listed = ok(clerk.get("/v1/transfers", organization_code="XW-C1", status="issued", **params))
    assert [row["transfer_id"] for row in listed["data"]] == [transfer_id], listed
    overdue = ok(clerk.get("/v1/organizations/XW-C1/overdue", kind="overdue_letter", **params))
    assert [(row["kind"], row["registration_no"]) for row in overdue["data"]] == [("overdue_letter", number)]
    with_transit = ok(clerk.get("/v1/organizations/XW-C1-B1/roster", include_in_transit="true", **params))
    assert number in roster_numbers(with_transit)
    member = ok(clerk.get(f"/v1/members/{number}", **params))
    assert member["place"]["kind"] == "in_transit"
    assert member["place"]["transfer_id"] == transfer_id
    assert "overdue_letter" in member["flags"]


def assert_reflects_receive(receiver: ApiClient, number: str, transfer_id: str, **params: Any) -> None:
    roster = ok(receiver.get("/v1/organizations/QH-C1-B1/roster", **params))
    assert roster_numbers(roster) == [number]
    listed = ok(receiver.get("/v1/transfers", organization_code="QH-C1", status="received", **params))
    assert [row["transfer_id"] for row in listed["data"]] == [transfer_id], listed


def assert_not_ready(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["code"] == "not_ready"
    assert body["status"] == 503


def far_ahead_reads(number: str) -> list[tuple[str, dict[str, Any]]]:
    """Every read that takes min_position (path, extra query parameters)."""
    return [
        ("/v1/organizations/XW-C1-B1/roster", {}),
        ("/v1/organizations/XW-C1/overdue", {}),
        ("/v1/transfers", {"organization_code": "XW-C1"}),
        (f"/v1/members/{number}", {}),
        (f"/v1/members/{number}/history", {}),
        ("/v1/reports/monthly", {"organization_code": "XW-C1", "month": "2026-09"}),
    ]


# --- (a) the embedded default ----------------------------------------------------------------


def test_inline_a_read_right_after_a_command_reflects_it(inline_api: Api) -> None:
    clerk, receiver = inline_api.client("xw_clerk"), inline_api.client("qh_clerk")
    number, _ = import_member(clerk, 1)
    assert_reflects_import(clerk, number)  # no min_position

    transfer_id, _, _ = request_and_issue(clerk, number)
    assert_reflects_issue(clerk, number, transfer_id)

    received = receiver.post(f"/v1/transfers/{transfer_id}/receive",
                             {"organization_code": "QH-C1-B1", "on": "2026-09-10"})
    position = command_position(received)
    assert_reflects_receive(receiver, number, transfer_id)
    assert ok(clerk.get("/v1/organizations/XW-C1-B1/roster"))["count"] == 0
    report = ok(inline_api.client("auditor").get("/v1/reports/monthly", organization_code="NJ", month="2026-09"))
    assert report["letters_issued"] == 1
    assert report["letters_received"] == 1
    # The command's own position is already applied: min_position answers at once.
    started = time.monotonic()
    assert_reflects_receive(receiver, number, transfer_id, min_position=position)
    assert time.monotonic() - started < 5


def test_inline_a_position_far_ahead_answers_503_not_ready(store: Store) -> None:
    """The embedded default follows the store in a thread too; a position it never reaches
    ends in 503 `not_ready` after `read_wait_seconds`."""
    settings = Settings(database_url=store.url, id_key=TEST_ID_KEY,  # type: ignore[arg-type]
                        read_wait_seconds=READ_WAIT)
    services = Services(settings, today=lambda: TODAY)
    try:
        build_tree(services.ledger)
        _, token = services.ledger.grant_operator("clerk", "clerk", "XW-C1")
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            clerk = ApiClient(client, token)
            position = services.ledger.max_position()
            started = time.monotonic()
            assert_not_ready(clerk.get("/v1/organizations/XW-C1-B1/roster", min_position=position + FAR_AHEAD))
            elapsed = time.monotonic() - started
            assert READ_WAIT * 0.9 <= elapsed < READ_WAIT + 5, elapsed
            ok(clerk.get("/v1/organizations/XW-C1-B1/roster", min_position=position))
    finally:
        services.close()


# --- (b) a separate projection worker ---------------------------------------------------------


def test_worker_min_position_reads_your_writes(with_worker: tuple[WorkerApi, Worker]) -> None:
    worker_api, worker = with_worker
    clerk, receiver = worker_api.client("xw_clerk"), worker_api.client("qh_clerk")
    number, position = import_member(clerk, 1)
    assert_reflects_import(clerk, number, min_position=position)
    worker.check_alive()

    transfer_id, _, position = request_and_issue(clerk, number)
    assert_reflects_issue(clerk, number, transfer_id, min_position=position)

    received = receiver.post(f"/v1/transfers/{transfer_id}/receive",
                             {"organization_code": "QH-C1-B1", "on": "2026-09-10"})
    position = command_position(received)
    assert_reflects_receive(receiver, number, transfer_id, min_position=position)
    assert ok(clerk.get("/v1/organizations/XW-C1-B1/roster", min_position=position))["count"] == 0
    report = ok(worker_api.client("auditor").get("/v1/reports/monthly", organization_code="NJ", month="2026-09",
                                                 min_position=position))
    assert report["letters_issued"] == 1
    assert report["letters_received"] == 1
    worker.check_alive()


def test_worker_min_position_far_ahead_answers_503_not_ready(
    with_impatient_worker: tuple[WorkerApi, Worker],
) -> None:
    worker_api, worker = with_impatient_worker
    clerk = worker_api.client("xw_clerk")
    number, position = import_member(clerk, 2)
    wait_until_following(worker, worker_api.store, position)
    assert_reflects_import(clerk, number, min_position=position)
    for path, params in far_ahead_reads(number):
        started = time.monotonic()
        response = clerk.get(path, min_position=position + FAR_AHEAD, **params)
        elapsed = time.monotonic() - started
        assert_not_ready(response)
        assert READ_WAIT * 0.9 <= elapsed < READ_WAIT + 5, (path, elapsed)
        # ... while the position that is applied answers at once.
        ok(clerk.get(path, min_position=position, **params))
    worker.check_alive()


def test_worker_stopped_min_position_answers_503_then_200_once_it_runs(store: Store) -> None:
    """With no worker running the views don't move: a read of a new position is 503;
    once a worker runs, the same read answers 200 with the new data."""
    worker_api = WorkerApi(store, read_wait_seconds=READ_WAIT)
    try:
        clerk = worker_api.client("xw_clerk")
        number, position = import_member(clerk, 3)
        assert_not_ready(clerk.get("/v1/organizations/XW-C1-B1/roster", min_position=position))
        process = Worker(store)
        try:
            deadline = time.monotonic() + 30
            roster = "/v1/organizations/XW-C1-B1/roster"
            while (response := clerk.get(roster, min_position=position)).status_code == 503:
                assert_not_ready(response)
                process.check_alive()
                assert time.monotonic() < deadline, "the worker did not catch up within 30 s"
            assert number in roster_numbers(ok(response))
            assert_reflects_import(clerk, number, min_position=position)
        finally:
            assert process.stop() == 0
    finally:
        worker_api.close()


def test_one_read_sees_one_state_of_the_views_while_they_change(inline_api: Api) -> None:
    """A read's statements (a page and its count, a report's figures) see one state of the
    views: events applied meanwhile by another connection show in the next read only."""
    clerk = inline_api.client("xw_clerk")
    import_member(clerk, 1)
    with inline_api.services.queries() as queries:
        rows, count = queries.roster("XW-C1-B1")
        assert count == 1
        import_member(clerk, 2)  # committed and applied to the views meanwhile
        assert queries.roster("XW-C1-B1") == (rows, count)
        assert queries.monthly_report("XW-C1-B1", "2026-09")["closing"] == 1
    with inline_api.services.queries() as queries:
        assert queries.roster("XW-C1-B1")[1] == 2
        assert queries.monthly_report("XW-C1-B1", "2026-09")["closing"] == 2
