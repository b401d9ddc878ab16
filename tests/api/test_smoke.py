from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.settings import Settings
from tests.api.conftest import Api, member_body
from tests.conftest import TEST_ID_KEY, TODAY, Store


def test_a_transfer_through_http(api: Api) -> None:
    clerk = api.client("xw_clerk")
    created = clerk.post("/v1/members", member_body(1))
    assert created.status_code == 201, created.text
    number = created.json()["registration_no"]
    requested = clerk.post("/v1/transfers", {"registration_no": number, "to_organization_code": "QH-C1",
                                            "reason": "job_change", "basis": "household", "on": "2026-10-01"})
    assert requested.status_code == 201, requested.text
    transfer_id = requested.json()["transfer_id"]
    issued = clerk.post(f"/v1/transfers/{transfer_id}/issue", {"on": "2026-10-02"})
    assert issued.status_code == 200, issued.text
    assert issued.json()["route"] == "cross_county"
    received = api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                           {"organization_code": "QH-C1-B1", "on": "2026-10-05"})
    assert received.status_code == 200, received.text
    roster = api.client("qh_clerk").get("/v1/organizations/QH-C1/roster", subtree="true")
    assert [r["registration_no"] for r in roster.json()["data"]] == [number]
    refused = api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                          {"organization_code": "QH-C1-B1"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "invalid_transition"
    report = api.client("auditor").get("/v1/reports/monthly", organization_code="NJ", month="2026-10")
    assert report.json()["transferred_in_internal"] == 1
    assert api.client(None).get("/v1/organizations/JS").status_code == 401


def test_a_served_app_leaves_what_it_holds_out_of_the_collectors_passes(store: Store) -> None:
    """`ledger serve` builds its app with `settle=True`: once the services are up, the
    objects alive then are frozen (left out of the cyclic collector's full passes); an app
    built without it (as the tests build theirs) freezes nothing."""
    services = Services(Settings(database_url=store.url, id_key=TEST_ID_KEY), today=lambda: TODAY)  # type: ignore[arg-type]
    try:
        gc.unfreeze()
        with TestClient(create_app(services=services)) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(services=services, settle=True)) as client:
            assert client.get("/healthz").status_code == 200
            frozen = gc.get_freeze_count()
            assert frozen > 0
    finally:
        gc.unfreeze()  # (this test process goes on building apps)
        services.close()
