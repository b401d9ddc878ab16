"""The sealed log through the API, on both stores: GET /v1/audit/verify recomputes the chain
and names where it breaks; GET /v1/audit/checkpoint signs the root with the key from the
settings, and answers 503 naming the setting when there is none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.sealing import signed_by
from projections.db import ViewDatabase
from tests.api.conftest import Api
from tests.conftest import Store
from tests.factories import admit

KEY = "api-checkpoint-key-for-tests-" + "a" * 8


@pytest.fixture
def keyed(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", KEY)
    api = Api(store)
    yield api
    api.close()


def test_verify_recomputes_the_chain(keyed: Api, store: Store) -> None:
    for n in range(1, 4):
        admit(keyed.ledger, n, "XW-C1-B1")
    auditor = keyed.client("auditor")
    answer = auditor.get("/v1/audit/verify").json()
    assert answer["ok"] and answer["chain"]["ok"] and answer["chain"]["events"] > 20

    sealer = keyed.services.sealer
    db = ViewDatabase(store.url)
    try:
        position = db.query(f"SELECT {sealer.column} FROM {sealer.events_table} ORDER BY {sealer.column} "
                            "LIMIT 1 OFFSET 8")[0][0]
        with db.transaction():
            db.execute(f"DELETE FROM {sealer.events_table} WHERE {sealer.column} = ?", (position,))
    finally:
        db.close()
    answer = auditor.get("/v1/audit/verify").json()
    assert not answer["ok"]
    assert answer["chain"] == {"ok": False, "events": 8, "unsealed": 0, "first_bad_position": position,
                               "reason": "missing"}


def test_checkpoint_is_signed_with_the_settings_key(keyed: Api) -> None:
    response = keyed.client("auditor").get("/v1/audit/checkpoint")
    assert response.status_code == 200, response.text
    checkpoint = response.json()
    assert set(checkpoint) == {"position", "root", "signature"}
    assert checkpoint["position"] == keyed.ledger.max_position()
    assert signed_by(checkpoint, KEY.encode()) and not signed_by(checkpoint, b"another key of enough length!!!!")
    assert keyed.client("xw_auditor").get("/v1/audit/checkpoint").status_code == 403
    assert keyed.client("xw_clerk").get("/v1/audit/checkpoint").status_code == 403


def test_checkpoint_without_a_key_is_503_naming_the_setting(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: object) -> None:
    monkeypatch.delenv("LEDGER_CHECKPOINT_KEY", raising=False)
    monkeypatch.chdir(str(tmp_path))  # no .env
    api = Api(store)
    try:
        response = api.client("auditor").get("/v1/audit/checkpoint")
        assert response.status_code == 503
        assert response.json()["code"] == "not_ready" and "LEDGER_CHECKPOINT_KEY" in response.json()["detail"]
    finally:
        api.close()
