"""The API outlives the database dropping its connections, without a restart of its own.

After the database restarts, every connection the API process held is dead: the Ledger's
pool, the view pool (which the idempotency keys use too), the projection engine's view
connection and its notification connection. Commands must then succeed again (with
Idempotency-Keys), the views must apply them and what other processes record (the engine's
thread retries instead of giving up), reads with `min_position` must answer 200 within
their wait, and the audit's verification must find the views whole and current.

- On both stores, the connections are cut under a running app: on PostgreSQL the server
  ends their sessions (`pg_terminate_backend`, as a restart does, on the shared cluster:
  only this test's own sessions), on SQLite they are closed.
- On a PostgreSQL cluster of the test's own (tests/faults/conftest.py), the server is
  restarted, cleanly and as after a crash, under a running app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.ledger import Ledger
from domain.settings import Settings, store_env
from tests.api.conftest import Api, ApiClient, member_body
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree
from tests.faults.conftest import Cluster

ROSTER = "/v1/organizations/XW-C1-B1/roster"


def sever(services: Services) -> int:
    """Cut every connection of the app that can be found from here; how many were cut."""
    engine_db, idle = services.engine.db, list(services.pool._idle.queue)
    if engine_db.kind == "sqlite":
        for db in [engine_db, *idle]:
            db._sqlite.close()
        return 1 + len(idle)
    pids = [engine_db._pg.info.backend_pid, *(db._pg.info.backend_pid for db in idle)]
    pool = services.ledger.recorder.datastore.pool  # type: ignore[attr-defined]
    pids.extend(conn.info.backend_pid for conn in list(pool._pool))
    with psycopg.connect(engine_db.url.split("?")[0], autocommit=True, connect_timeout=5) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


def admit(client: ApiClient, n: int) -> tuple[str, int]:
    """A keyed command that must succeed: the member's number and the command's position."""
    response = client.post("/v1/members", member_body(n), key=f"admit-{n}")
    assert response.status_code == 201, response.text
    body = response.json()
    return body["registration_no"], body["position"]


def assert_read_reflects(client: ApiClient, number: str, position: int) -> None:
    response = client.get(ROSTER, min_position=position, q=number)
    assert response.status_code == 200, response.text
    assert [row["registration_no"] for row in response.json()["data"]] == [number]


def assert_views_whole_and_current(api: ApiClient, services: Services) -> None:
    verified = api.get("/v1/audit/verify")
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["ok"], body["mismatches"]
    assert body["lag"]["behind"] == 0, body["lag"]
    assert body["lag"]["views_position"] == body["lag"]["log_position"] == services.ledger.max_position()


def recorded_elsewhere(env: dict[str, str], n: int) -> tuple[str, int]:
    """A member admitted by another process's Ledger (the views learn of it only by following)."""
    from datetime import date

    from tests.factories import person

    other = Ledger(env, today=lambda: TODAY)
    try:
        recorded = other.admit_member("XW-C1-B1", joined_on=date(2015, 7, 1),
                                      **{k: v for k, v in person(n).items() if k != "joined_on"})
        assert recorded.registration_no is not None
        return recorded.registration_no, recorded.position
    finally:
        other.close()


def test_the_app_heals_after_the_database_drops_its_connections(store: Store) -> None:
    api = Api(store)
    try:
        clerk, auditor = api.client("xw_clerk"), api.client("auditor")
        number, position = admit(clerk, 1)
        assert_read_reflects(clerk, number, position)

        assert sever(api.services) >= 2
        number, position = admit(clerk, 2)  # the idempotency key's row, the command, its views
        assert_read_reflects(clerk, number, position)

        assert sever(api.services) >= 2
        number, position = recorded_elsewhere(store.env(), 3)  # the engine's thread follows it
        assert_read_reflects(clerk, number, position)
        assert clerk.post("/v1/members", member_body(2), key="admit-2").json()["position"] > 0  # replayed
        assert_views_whole_and_current(auditor, api.services)
    finally:
        api.close()


@pytest.mark.postgres_only
def test_the_audit_reads_replace_the_sealers_lost_connection(store: Store) -> None:
    """The sealer's own connection cut (as a restart of the database cuts it) before its
    thread has noticed: GET /v1/audit/verify and /checkpoint replace it and answer, instead
    of 503 until the thread's next try."""
    api = Api(store)
    try:
        auditor = api.client("auditor")
        admit(api.client("xw_clerk"), 1)
        assert auditor.get("/v1/audit/verify").status_code == 200
        sealer_db = api.services.sealer.db
        with psycopg.connect(sealer_db.url.split("?")[0], autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (sealer_db._pg.info.backend_pid,))
        verified = auditor.get("/v1/audit/verify")
        assert verified.status_code == 200 and verified.json()["chain"]["ok"], verified.text
        assert_views_whole_and_current(auditor, api.services)
    finally:
        api.close()


# --- a real restart, on a cluster of the test's own --------------------------------------------


class ClusterApi(Api):
    """tests/api/conftest.py's Api, on a store in the throwaway cluster."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(Store("postgres", url))


@pytest.fixture
def cluster_api(pg_cluster: Cluster) -> Iterator[ClusterApi]:
    if not pg_cluster.running():
        pg_cluster.start()
    api = ClusterApi(pg_cluster.schema_url())
    yield api
    if not pg_cluster.running():
        pg_cluster.start()
    api.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_app_heals_after_postgresql_restarts(cluster_api: ClusterApi, pg_cluster: Cluster, mode: str) -> None:
    clerk, auditor = cluster_api.client("xw_clerk"), cluster_api.client("auditor")
    number, position = admit(clerk, 1)
    assert_read_reflects(clerk, number, position)

    pg_cluster.restart(mode)
    number, position = admit(clerk, 2)
    assert_read_reflects(clerk, number, position)

    pg_cluster.restart(mode)
    env: dict[str, Any] = {**store_env(cluster_api.url), "LEDGER_ID_KEY": TEST_ID_KEY}
    number, position = recorded_elsewhere(env, 3)  # followed by the engine's thread, after its LISTEN broke
    assert_read_reflects(clerk, number, position)
    assert_views_whole_and_current(auditor, cluster_api.services)


def test_the_engine_keeps_trying_while_postgresql_is_down(pg_cluster: Cluster) -> None:
    """The database is down for a while (stopped as in a crash, then started): the engine's
    thread, failing meanwhile, applies a command recorded just before by another process
    once it is back, and a read with its position answers 200."""
    url = pg_cluster.schema_url()
    settings = Settings(database_url=url, id_key=TEST_ID_KEY, read_wait_seconds=30)  # type: ignore[arg-type]
    services = Services(settings, today=lambda: TODAY)
    try:
        build_tree(services.ledger)
        _, token = services.ledger.grant_operator("clerk", "clerk", "XW-C1")
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            clerk = ApiClient(client, token)
            services.engine.stop()  # the views learn of the next command only once it is started again
            env: dict[str, Any] = {**store_env(url), "LEDGER_ID_KEY": TEST_ID_KEY}
            number, position = recorded_elsewhere(env, 4)
            pg_cluster.stop("immediate")
            services.engine.start()  # fails, and retries, while the database is down
            time.sleep(1.0)  # (a pause, not a measure: the thread tries and fails meanwhile)
            pg_cluster.start()
            assert_read_reflects(clerk, number, position)
    finally:
        if not pg_cluster.running():
            pg_cluster.start()
        services.close()
