"""Races through HTTP: two receivers of one letter at once land the member once.

Each request runs on its own thread with its own TestClient, either on one app or on two
apps (two processes' worth of Ledger, pools and projection engines) over the same store.
Exactly one receipt succeeds; the other is refused with 409 (`invalid_transition`: the
letter is received already, or `conflict`); the member is held in exactly one place, and
counted once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.services import Services
from domain.settings import Settings
from tests.api.conftest import Api, ApiClient
from tests.api.helpers import assert_problem
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import admit

ROUNDS = 3


@pytest.fixture
def second_app(api: Api, store: Store) -> Iterator[FastAPI]:
    """Another app on the same store, as a second server process would be."""
    settings = Settings(database_url=store.url, id_key=TEST_ID_KEY)  # type: ignore[arg-type]
    services = Services(settings, today=lambda: TODAY)
    app = create_app(services=services)
    with TestClient(app):
        yield app
    services.close()


def at_once(calls: list[tuple[FastAPI, str, str, dict[str, Any]]], tokens: dict[str, str]) -> list[Response]:
    """POST each (app, operator, path, body) on its own thread, released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Response | None] = [None] * len(calls)

    def send(i: int, app: FastAPI, label: str, path: str, body: dict[str, Any]) -> None:
        client = ApiClient(TestClient(app, raise_server_exceptions=False), tokens[label])
        barrier.wait(timeout=30)
        results[i] = client.post(path, body)

    threads = [threading.Thread(target=send, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in results), "a request did not finish"
    return results  # type: ignore[return-value]


def letter_for(api: Api, n: int) -> tuple[str, str]:
    number = admit(api.ledger, n, "XW-C1-B1", joined_on=date(2010, 1, n))
    transfer_id = api.ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                              on=date(2026, 11, 2)).transfer_id
    assert transfer_id is not None
    api.ledger.issue_letter(transfer_id, on=date(2026, 11, 2))
    return number, transfer_id


def check_held_once(api: Api, number: str, transfer_id: str, where: str, elsewhere: str) -> None:
    reader = api.client("admin")
    position = api.ledger.max_position()
    member = reader.get(f"/v1/members/{number}", min_position=position).json()
    assert member["place"] == {"kind": "held", "organization_code": where, "transfer_id": None}
    transfer = reader.get(f"/v1/transfers/{transfer_id}").json()
    assert (transfer["status"], transfer["received_in_code"]) == ("received", where)
    everywhere = reader.get("/v1/organizations/JS/roster", subtree="true", include_in_transit="true", q=number,
                            limit=1000, min_position=position).json()
    assert [(r["registration_no"], r["organization_code"]) for r in everywhere["data"]] == [(number, where)]
    assert reader.get(f"/v1/organizations/{elsewhere}/roster", q=number).json()["count"] == 0
    history = reader.get(f"/v1/members/{number}/history", min_position=position).json()["data"]
    assert sum(1 for e in history if e["data"].get("organization_code") == where
               and e["data"].get("transfer_id") == transfer_id) == 1  # one Received event


def race_receivers(api: Api, apps: tuple[FastAPI, FastAPI], figures: bool = True) -> None:
    api.ledger.register_organization("QH-C1-B2", "秦淮第二支部", "branch", "QH-C1", "320104", on=date(2020, 1, 1))
    for n in range(1, ROUNDS + 1):
        number, transfer_id = letter_for(api, n)
        path = f"/v1/transfers/{transfer_id}/receive"
        before = api.ledger.max_position()
        results = at_once([(apps[0], "qh_clerk", path, {"organization_code": "QH-C1-B1"}),
                           (apps[1], "admin", path, {"organization_code": "QH-C1-B2"})], api.tokens)
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        winner = next(i for i, r in enumerate(results) if r.status_code == 200)
        loser = results[1 - winner]
        assert loser.json()["code"] in ("invalid_transition", "conflict"), loser.text
        assert_problem(loser, loser.json()["code"])
        where, elsewhere = ("QH-C1-B1", "QH-C1-B2") if winner == 0 else ("QH-C1-B2", "QH-C1-B1")
        assert results[winner].json()["received_in_code"] == where
        assert results[winner].json()["position"] == api.ledger.max_position() > before
        check_held_once(api, number, transfer_id, where, elsewhere)
    if not figures:
        return
    position = api.ledger.max_position()
    report = api.client("auditor").get("/v1/reports/monthly", organization_code="QH-C1", month="2026-11",
                                       min_position=position).json()
    assert report["letters_received"] == report["transferred_in_external"] == ROUNDS
    sent = api.client("auditor").get("/v1/reports/monthly", organization_code="XW-C1", month="2026-11").json()
    assert sent["transferred_out_external"] == ROUNDS and sent["in_transit"] == 0


def test_two_receivers_on_one_app(api: Api) -> None:
    race_receivers(api, (api.app, api.app))


def test_two_receivers_on_two_apps_over_one_store(api: Api, second_app: FastAPI) -> None:
    race_receivers(api, (api.app, second_app), figures=False)  # figures: see the next test


def test_two_apps_over_one_store_count_each_event_once(api: Api, second_app: FastAPI) -> None:
    number = admit(api.ledger, 1, "XW-C1-B1", joined_on=date(2010, 1, 1))
    other = ApiClient(TestClient(second_app, raise_server_exceptions=False), api.tokens["qh_clerk"])
    transfer_id = api.ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                              on=date(2026, 11, 2)).transfer_id
    api.ledger.issue_letter(str(transfer_id), on=date(2026, 11, 2))
    received = other.post(f"/v1/transfers/{transfer_id}/receive", {"organization_code": "QH-C1-B1"})
    assert received.status_code == 200, received.text
    position = api.ledger.max_position()
    for client in (api.client("auditor"), ApiClient(other.client, api.tokens["auditor"])):
        report = client.get("/v1/reports/monthly", organization_code="QH-C1", month="2026-11",
                            min_position=position).json()
        assert (report["letters_received"], report["transferred_in_external"], report["closing"]) == (1, 1, 1)
        verify = client.get("/v1/audit/verify").json()
        assert verify["ok"] is True, verify["mismatches"][:3]


def test_receipt_and_cancellation_at_once_leave_one_place(api: Api, second_app: FastAPI) -> None:
    for n in range(1, ROUNDS + 1):
        number, transfer_id = letter_for(api, 10 + n)
        results = at_once([(api.app, "qh_clerk", f"/v1/transfers/{transfer_id}/receive",
                            {"organization_code": "QH-C1-B1"}),
                           (second_app, "xw_clerk", f"/v1/transfers/{transfer_id}/cancel", {"reason": "本人撤回"})],
                          api.tokens)
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 409)
        assert loser.json()["code"] in ("invalid_transition", "conflict"), loser.text
        received = results[0].status_code == 200
        position = api.ledger.max_position()
        member = api.client("admin").get(f"/v1/members/{number}", min_position=position).json()
        transfer = api.client("admin").get(f"/v1/transfers/{transfer_id}").json()
        if received:
            assert transfer["status"] == "received"
            assert member["place"] == {"kind": "held", "organization_code": "QH-C1-B1", "transfer_id": None}
        else:
            assert transfer["status"] == "cancelled"
            assert member["place"] == {"kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
        rows = api.client("admin").get("/v1/organizations/JS/roster", subtree="true", include_in_transit="true",
                                       q=number, min_position=position).json()["data"]
        assert [r["registration_no"] for r in rows] == [number]
