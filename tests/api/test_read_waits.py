"""Reads that wait for the views (`min_position`) hold nothing other requests need.

Many reads waiting for a position the views never reach must not stall an ordinary read:
the ordinary read answers while every one of them is still waiting (they hold no thread of
the pool that runs routes and no view connection). At most LEDGER_READ_WAITERS reads wait
at once: the next answers 503 `not_ready` at once, while the others still wait. Each wait
still ends in 503 after LEDGER_READ_WAIT_SECONDS. Both stores, with the views kept inline
and by a separate worker (here: no worker runs, so a position ahead is never reached).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.services import Services
from domain.settings import Settings
from tests.api.conftest import ApiClient
from tests.api.test_read_your_writes import assert_not_ready
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree

WAITERS = 60  # more than the threads FastAPI runs sync routes on (40)
WAIT = 5.0  # read_wait_seconds: how long each of them waits
FAR_AHEAD = 1_000_000
ROSTER = "/v1/organizations/XW-C1-B1/roster"


class WaitingApi:
    """The app on one store with `read_wait_seconds=WAIT`, the views kept `projections`."""

    def __init__(self, store: Store, projections: str, **settings: Any) -> None:
        self.services = Services(Settings(  # type: ignore[call-arg]
            database_url=store.url, id_key=TEST_ID_KEY, projections=projections,  # type: ignore[arg-type]
            read_wait_seconds=WAIT, **settings), today=lambda: TODAY)
        build_tree(self.services.ledger)
        _, token = self.services.ledger.grant_operator("clerk", "clerk", "XW-C1")
        self.services.engine.catch_up()  # worker mode: the views as a worker would have left them
        self.test_client = TestClient(create_app(services=self.services), raise_server_exceptions=False)
        self.test_client.__enter__()
        self.client = ApiClient(self.test_client, token)

    def close(self) -> None:
        self.test_client.__exit__(None, None, None)
        self.services.close()


@pytest.fixture(params=["inline", "worker"])
def projections(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def waiting_reads(api: WaitingApi, count: int) -> tuple[list[threading.Thread], list[Response]]:
    """`count` reads, each on its own thread, waiting for a position never reached."""
    answered: list[Response] = []
    position = api.services.ledger.max_position() + FAR_AHEAD

    def read() -> None:
        answered.append(api.client.get(ROSTER, min_position=position))

    threads = [threading.Thread(target=read, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answered


def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def finish(threads: list[threading.Thread], answered: list[Response], count: int) -> None:
    """Every waiting read ends, in 503 `not_ready` (the wait is bounded)."""
    for thread in threads:
        thread.join(timeout=WAIT + 60)
    assert len(answered) == count
    for response in answered:
        assert_not_ready(response)


@pytest.fixture
def waiting_api(store: Store, projections: str) -> Iterator[WaitingApi]:
    api = WaitingApi(store, projections)
    yield api
    api.close()


def test_an_ordinary_read_answers_while_sixty_reads_wait_for_a_position(waiting_api: WaitingApi) -> None:
    threads, answered = waiting_reads(waiting_api, WAITERS)
    try:
        assert until(lambda: waiting_api.services.watch.waiting == WAITERS, timeout=WAIT / 2), \
            (waiting_api.services.watch.waiting, [r.text for r in answered])
        ordinary = waiting_api.client.get(ROSTER)
        assert ordinary.status_code == 200, ordinary.text
        # ... while every waiting read is still waiting: none has answered yet.
        assert answered == []
        assert waiting_api.services.watch.waiting == WAITERS
    finally:
        finish(threads, answered, WAITERS)


def test_a_read_beyond_the_cap_of_waiting_reads_answers_503_at_once(store: Store, projections: str) -> None:
    api = WaitingApi(store, projections, read_waiters=3)
    try:
        threads, answered = waiting_reads(api, 3)
        try:
            assert until(lambda: api.services.watch.waiting == 3, timeout=WAIT / 2)
            refused = api.client.get(ROSTER, min_position=api.services.ledger.max_position() + FAR_AHEAD)
            assert_not_ready(refused)
            assert "too many" in refused.json()["detail"]
            # A read whose position is applied already doesn't wait, so it isn't refused.
            if projections == "inline":
                reached = api.client.get(ROSTER, min_position=api.services.ledger.max_position())
                assert reached.status_code == 200, reached.text
            assert answered == []  # the three are still waiting
        finally:
            finish(threads, answered, 3)
        # Once they are done, a read may wait again (and, reached, answers).
        assert api.client.get(ROSTER, min_position=api.services.engine.position).status_code == 200
    finally:
        api.close()
