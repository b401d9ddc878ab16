"""The members router (api/routes/members.py): admit or import, read, confirm, death and
leaving, organization life and dues, and a member's history.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.identifiers import check_character, make_registration_no
from tests.api.conftest import Api, member_body
from tests.api.helpers import (
    assert_problem,
    dissolved_org,
    fresh_org,
    full_member,
    joined,
    new_member_body,
    no_500,
    numbers,
    probationary_member,
    recorded,
    refused,
    requested,
    valid_registration_no,
)
from tests.conftest import TODAY
from tests.factories import admit, person

# --- members ----------------------------------------------------------------------------------


def test_admit_a_new_member_gets_a_registration_number(api: Api) -> None:
    body = new_member_body(name="欧阳·测试", status="probationary", joined_on="2026-03-01", on="2026-03-02")
    answer = recorded(api, api.client("xw_clerk").post("/v1/members", body), 201)
    number = answer["registration_no"]
    assert valid_registration_no(number)
    assert number.startswith("320102" + "20260301")  # the region of XW-C1-B1, the date joined
    assert answer["name"] == "欧阳·测试"
    assert answer["status"] == "probationary"
    assert answer["probation_ends_on"] == "2027-03-01"
    assert answer["place"] == {"kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
    assert isinstance(answer["flags"], list)
    read = api.client("xw_clerk").get(f"/v1/members/{number}").json()
    assert {k: read[k] for k in ("registration_no", "name", "status", "probation_ends_on", "place")} == {
        k: answer[k] for k in ("registration_no", "name", "status", "probation_ends_on", "place")}


def test_import_a_member_with_an_existing_number(api: Api) -> None:
    number = make_registration_no("330102", date(2012, 7, 1), 321)  # joined elsewhere
    answer = recorded(api, api.client("xw_clerk").post(
        "/v1/members", new_member_body(registration_no=number, status="full")), 201)
    assert answer["registration_no"] == number
    assert answer["status"] == "full"
    assert answer["probation_ends_on"] is None
    assert api.client("xw_clerk").get(f"/v1/members/{number}").json()["registration_no"] == number


def test_a_resident_id_frees_up_when_its_member_dies(api: Api) -> None:
    n = next(numbers)
    first = admit(api.ledger, n, "XW-C1-B1", joined_on=joined(n))
    again = member_body(n, "XW-C1-B1", joined_on=joined(n).isoformat())
    refused(api, lambda: api.client("xw_clerk").post("/v1/members", again), "duplicate_registration")
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{first}/death", {"on": "2026-01-01"}))
    assert api.client("xw_clerk").post("/v1/members", {**again, "on": "2026-02-01"}).status_code == 201


def _member_case(api: Api, case: str) -> dict[str, Any]:
    body = new_member_body()
    if case == "missing_name":
        del body["name"]
    elif case == "unknown_field":
        body["nickname"] = "小明"
    elif case == "date_as_number":
        body["birth_date"] = 19800101
    elif case == "bad_gender":
        body["gender"] = "unknown"
    elif case == "bad_category":
        body["category"] = "astronaut"
    elif case == "bad_id_card":
        body["id_card_no"] = body["id_card_no"][:17] + ("0" if body["id_card_no"][17] != "0" else "1")
    elif case == "joined_after_on":
        body.update(joined_on="2026-10-02", on="2026-10-01")
    elif case == "bad_household_region":
        body["household_region"] = "abc"
    elif case == "future":
        body["on"] = (TODAY + timedelta(days=1)).isoformat()
    elif case == "bad_check_character":
        good = make_registration_no("320102", date(2014, 7, 1), 5)
        body["registration_no"] = good[:17] + ("0" if good[17] != "0" else "1")
    elif case == "short_number":
        body["registration_no"] = "32010220140701005"
    elif case == "impossible_date_in_number":
        first17 = "32010220141301005"
        body["registration_no"] = first17 + check_character(first17)
    elif case == "duplicate_id_card":
        n = next(numbers)
        admit(api.ledger, n, joined_on=joined(n))
        body["id_card_no"] = person(n)["id_card_no"]
    elif case == "duplicate_number":
        body["registration_no"] = full_member(api)
    elif case == "committee":
        body["organization_code"] = "XW-C1"
    elif case == "department":
        body["organization_code"] = "XW"
    elif case == "unknown_org":
        body["organization_code"] = "NOPE"
    elif case == "dissolved_org":
        body["organization_code"] = dissolved_org(api)
    elif case == "before_org_registered":
        body.update(organization_code=fresh_org(api, "XW-C1", on=date(2026, 5, 1)), on="2026-04-01")
    else:
        raise AssertionError(case)
    return body


@pytest.mark.parametrize(("case", "code"), [
    ("missing_name", "validation_error"),
    ("unknown_field", "validation_error"),
    ("date_as_number", "validation_error"),
    ("bad_gender", "validation_error"),
    ("bad_category", "validation_error"),
    ("bad_id_card", "validation_error"),
    ("joined_after_on", "validation_error"),
    ("bad_household_region", "validation_error"),
    ("future", "future_date"),
    ("bad_check_character", "invalid_registration_no"),
    ("short_number", "invalid_registration_no"),
    ("impossible_date_in_number", "invalid_registration_no"),
    ("duplicate_id_card", "duplicate_registration"),
    ("duplicate_number", "duplicate_registration"),
    ("committee", "cannot_hold_members"),
    ("department", "cannot_hold_members"),
    ("unknown_org", "not_found"),
    ("dissolved_org", "organization_dissolved"),
    ("before_org_registered", "before_last_event"),
])
def test_member_create_refusals(api: Api, case: str, code: str) -> None:
    body = _member_case(api, case)
    # the county's admin: the department and the dissolved branch are inside its subtree
    refused(api, lambda: api.client("xw_admin").post("/v1/members", body), code)


def test_get_unknown_member_is_404_at_a_root(api: Api) -> None:
    """A root department's operator holds the whole tree: a number the ledger does not
    know is `not_found` (API.md: 404 unknown)."""
    unknown = make_registration_no("320102", date(1999, 1, 1), 999)
    admin = api.client("admin")
    assert_problem(admin.get(f"/v1/members/{unknown}"), "not_found")
    assert_problem(admin.get(f"/v1/members/{unknown}/history"), "not_found")
    assert_problem(admin.get("/v1/members/garbage"), "not_found")
    refused(api, lambda: admin.post(f"/v1/members/{unknown}/confirm"), "not_found")
    refused(api, lambda: admin.post(f"/v1/members/{unknown}/dues", {"month": "2026-10", "amount": "1.00"}),
            "not_found")


def test_below_a_root_an_unknown_member_is_refused_like_one_outside(api: Api) -> None:
    """A registration number can be guessed: an operator below a root learns nothing from
    the refusal of one the ledger does not know (domain/jurisdiction.py)."""
    unknown = make_registration_no("320102", date(1999, 1, 1), 999)
    elsewhere = full_member(api, "SC-C1-B1")
    clerk = api.client("xw_clerk")
    for number in (unknown, elsewhere):
        words = {assert_problem(clerk.get(f"/v1/members/{number}"), "out_of_jurisdiction")["detail"],
                 assert_problem(clerk.get(f"/v1/members/{number}/history"), "out_of_jurisdiction")["detail"],
                 refused(api, lambda n=number: clerk.post(f"/v1/members/{n}/confirm"), "out_of_jurisdiction")["detail"],
                 refused(api, lambda n=number: clerk.post(f"/v1/members/{n}/dues",
                                                          {"month": "2026-10", "amount": "1.00"}),
                         "out_of_jurisdiction")["detail"]}
        assert words == {f"member {number} is not within the jurisdiction of XW-C1"}
    assert_problem(clerk.get("/v1/members/garbage"), "out_of_jurisdiction")


def test_confirm_makes_a_probationary_member_full(api: Api) -> None:
    number = probationary_member(api, date(2025, 6, 1))  # probation ended 2026-06-01
    assert "confirmation_due" in api.client("xw_clerk").get(f"/v1/members/{number}").json()["flags"]
    body = recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {"on": "2026-06-02"}))
    assert body["status"] == "full"
    assert body["probation_ends_on"] is None
    assert "confirmation_due" not in body["flags"]
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {}), "invalid_transition")


def test_confirm_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    early = probationary_member(api, date(2026, 3, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{early}/confirm", {}), "probation_not_over")
    ended = probationary_member(api, date(2025, 6, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": "2026-05-31"}), "probation_not_over")
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": "2026-11-21"}), "future_date")
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": 20260601}), "validation_error")
    travelling = probationary_member(api, date(2025, 12, 20))
    transfer_id = requested(api, travelling, on=date(2026, 11, 1), probation_override_reason="工作调动",
                            performance_record="表现良好")
    api.ledger.issue_letter(transfer_id, on=date(2026, 11, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{travelling}/confirm", {}), "member_not_held")


def test_death_and_leaving_take_the_member_off_the_roster(api: Api) -> None:
    clerk = api.client("xw_clerk")
    dead, gone = full_member(api), full_member(api)
    body = recorded(api, clerk.post(f"/v1/members/{dead}/death", {"on": "2026-10-01"}))
    assert body["place"]["kind"] == "deceased"
    body = recorded(api, clerk.post(f"/v1/members/{gone}/leave", {"reason": "self_withdrawal"}))
    assert body["place"]["kind"] == "left"
    roster = clerk.get("/v1/organizations/XW-C1-B1/roster", limit=1000).json()
    assert not {dead, gone} & {r["registration_no"] for r in roster["data"]}
    for number in (dead, gone):  # gone is terminal
        refused(api, lambda number=number: clerk.post(f"/v1/members/{number}/death", {}), "member_not_held")
        refused(api, lambda number=number: clerk.post(f"/v1/members/{number}/dues",
                                                      {"month": "2026-11", "amount": "5.00"}), "member_not_held")
        refused(api, lambda number=number: clerk.post("/v1/transfers", {
            "registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change",
            "basis": "household"}), "member_not_held")


def test_death_and_leaving_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    busy = full_member(api)
    requested(api, busy)
    refused(api, lambda: clerk.post(f"/v1/members/{busy}/death", {}), "transfer_open")
    refused(api, lambda: clerk.post(f"/v1/members/{busy}/leave", {"reason": "withdrew"}), "transfer_open")
    number = full_member(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/leave", {"reason": "bored"}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/leave", {}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/death", {"on": "2020-05-31"}), "before_last_event")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/death", {"cause": "x"}), "validation_error")


def test_org_life_and_dues_clear_the_inactivity_flag(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    assert "inactive_6m" in clerk.get(f"/v1/members/{number}").json()["flags"]
    recorded(api, clerk.post(f"/v1/members/{number}/org-life", {"organization_code": "XW-C1-B1",
                                                                 "on": "2026-10-15"}))
    assert "inactive_6m" not in clerk.get(f"/v1/members/{number}").json()["flags"]
    other = full_member(api)
    body = recorded(api, clerk.post(f"/v1/members/{other}/dues", {"month": "2026-09", "amount": "12.50",
                                                                  "on": "2026-09-30"}))
    assert "inactive_6m" not in body["flags"]


@pytest.mark.parametrize(("body", "code"), [
    ({"month": "2026-10", "amount": 12.5}, "validation_error"),
    ({"month": "2026-10", "amount": "abc"}, "validation_error"),
    ({"month": "2026-10", "amount": "-1.00"}, "validation_error"),
    ({"month": "2026-10", "amount": "1.234"}, "validation_error"),
    ({"month": "2026-13", "amount": "1.00"}, "validation_error"),
    ({"month": "202610", "amount": "1.00"}, "validation_error"),
    ({"amount": "1.00"}, "validation_error"),
    ({"month": "2026-10", "amount": "1.00", "on": "2026-11-21"}, "future_date"),
    ({"month": "2026-10", "amount": "1.00", "on": "2019-01-01"}, "before_last_event"),
], ids=["float", "text", "negative", "three_places", "month_13", "month_format", "missing_month", "future",
        "before_import"])
def test_dues_refusals(api: Api, body: dict[str, Any], code: str) -> None:
    number = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/dues", body), code)


def test_org_life_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {"organization_code": "NOPE"}), "not_found")
    dissolved = dissolved_org(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {"organization_code": dissolved}),
            "organization_dissolved")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {}), "validation_error")


# --- member history ---------------------------------------------------------------------------


def test_member_history_oldest_first_with_who_and_when(api: Api) -> None:
    clerk = api.client("xw_clerk")
    created = recorded(api, clerk.post("/v1/members", new_member_body(name="李四·历史")), 201)
    number = created["registration_no"]
    dues = recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-10", "amount": "12.50",
                                                                   "on": "2026-10-05"}))
    request = recorded(api, clerk.post("/v1/transfers", {
        "registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change", "basis": "household",
        "on": "2026-10-06"}), 201)
    issue = recorded(api, clerk.post(f"/v1/transfers/{request['transfer_id']}/issue", {"on": "2026-10-07"}))
    receive = recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{request['transfer_id']}/receive", {
        "organization_code": "QH-C1-B1", "on": "2026-10-09"}))

    history = api.client("qh_clerk").get(f"/v1/members/{number}/history")
    assert history.status_code == 200, history.text
    rows = history.json()["data"]
    positions = [r["position"] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)  # oldest first
    for row in rows:
        assert {"position", "type", "on", "recorded_at", "actor", "request_id", "data"} <= row.keys()
        assert isinstance(row["type"], str) and row["type"]
        assert isinstance(row["data"], dict)
        datetime.fromisoformat(row["recorded_at"])
    # a command's events lie after the previous command's last position, up to its own
    steps = [(created, "2020-06-01", "xw_clerk"), (dues, "2026-10-05", "xw_clerk"),
             (request, "2026-10-06", "xw_clerk"), (issue, "2026-10-07", "xw_clerk"),
             (receive, "2026-10-09", "qh_clerk")]
    previous, request_ids = 0, []
    for answer, on, who in steps:
        mine = [r for r in rows if previous < r["position"] <= answer["position"]]
        assert mine, f"no history of the command recorded at {answer['position']}"
        assert {r["on"] for r in mine} == {on}
        assert {r["actor"] for r in mine} == {api.operator_ids[who]}
        assert len({r["request_id"] for r in mine}) == 1 and mine[0]["request_id"]
        request_ids.append(mine[0]["request_id"])
        previous = answer["position"]
    assert len(rows) == sum(1 for r in rows if r["position"] <= receive["position"])
    assert len(set(request_ids)) == len(steps)  # one request id per command
    paid = [r for r in rows if r["data"].get("month") == "2026-10"]
    assert len(paid) == 1 and paid[0]["data"]["amount"] == "12.50"
    assert any(r["data"].get("name") == "李四·历史" for r in rows)  # Chinese round-trips in the trail


def test_requests_sending_the_same_x_request_id_record_their_own_ids(api: Api) -> None:
    """The request id an event records is the request's own: two requests sending the same
    X-Request-Id record two ids, each after the caller's id (its tracing finds them)."""
    clerk = api.client("xw_clerk")
    number = recorded(api, clerk.post("/v1/members", new_member_body(), **{"X-Request-Id": "trace-7"}), 201)[
        "registration_no"]
    recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-10", "amount": "12.50"},
                             **{"X-Request-Id": "trace-7"}))
    recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-11", "amount": "12.50"}))
    ids = [row["request_id"] for row in clerk.get(f"/v1/members/{number}/history").json()["data"]]
    sent = [i for i in ids if i.startswith("trace-7/")]
    assert len(set(sent)) == 2 and len(set(ids)) == 3, ids


# --- edges the fuzzer found (tests/api/test_fuzz.py leaves these inputs to these tests) -------


def test_an_absurd_amount_is_a_validation_error(api: Api) -> None:
    number = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/dues",
                                                      {"month": "2026-10", "amount": "1e999999"}), "validation_error")


def test_a_member_who_joined_before_the_year_1000_is_no_500(api: Api) -> None:
    before = api.ledger.max_position()
    response = api.client("xw_clerk").post("/v1/members", new_member_body(
        birth_date="0900-01-01", joined_on="0999-01-01", status="probationary", on="2026-01-01"))
    if response.status_code == 201:
        assert valid_registration_no(response.json()["registration_no"])
    else:
        no_500(response, empty_ok=False)
        assert api.ledger.max_position() == before
