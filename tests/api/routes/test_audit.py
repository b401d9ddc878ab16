"""The audit router (api/routes/audit.py): the event log by page, and the views' check.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

from datetime import date, datetime

from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    full_member,
    recorded,
)

# --- audit ------------------------------------------------------------------------------------


def test_audit_events_page_with_after_and_next_after(api: Api) -> None:
    auditor = api.client("auditor")
    first = auditor.get("/v1/audit/events", after=0, limit=5)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["data"]) == 5
    positions = [e["position"] for e in page["data"]]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert page["next_after"] == positions[-1]
    for event in page["data"]:
        assert {"position", "type", "aggregate_id", "version", "on", "recorded_at", "actor", "request_id",
                "data"} <= event.keys()
    second = auditor.get("/v1/audit/events", after=page["next_after"], limit=5).json()
    assert len(second["data"]) == 5
    assert min(e["position"] for e in second["data"]) > page["next_after"]
    both = auditor.get("/v1/audit/events", after=0, limit=10).json()
    assert [e["position"] for e in both["data"]] == positions + [e["position"] for e in second["data"]]
    end = api.ledger.max_position()
    tail = auditor.get("/v1/audit/events", after=end).json()
    assert tail["data"] == [] and tail["next_after"] == end
    assert_problem(auditor.get("/v1/audit/events", limit=0), "validation_error")
    assert_problem(auditor.get("/v1/audit/events", after=-1), "validation_error")


def test_audit_events_show_who_and_when(api: Api) -> None:
    number = full_member(api)
    body = recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/dues",
                                                     {"month": "2026-10", "amount": "3.00", "on": "2026-10-31"}))
    events = api.client("auditor").get("/v1/audit/events", after=body["position"] - 1, limit=1).json()["data"]
    assert len(events) == 1
    event = events[0]
    assert event["position"] == body["position"]
    assert event["on"] == "2026-10-31"
    assert event["actor"] == api.operator_ids["xw_clerk"]
    assert event["data"]["month"] == "2026-10" and event["data"]["amount"] == "3.00"
    assert isinstance(event["version"], int) and event["aggregate_id"]
    assert datetime.fromisoformat(event["recorded_at"]).date() != date(2026, 10, 31)  # when, not effective


def test_audit_verify_finds_the_views_consistent(api: Api) -> None:
    full_member(api)
    response = api.client("auditor").get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["mismatches"] == []
    assert isinstance(body["events"], int) and body["events"] > 0
