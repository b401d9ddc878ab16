"""Idempotency-Key (API.md): the same key with the same body returns the first response
again and records nothing new, a refusal included; the same key with another body is
refused with 422 idempotency_key_reused; keys belong to one operator and survive a restart."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.errors import Conflict
from domain.identifiers import make_registration_no
from domain.settings import Settings
from tests.api.conftest import Api, ApiClient, member_body
from tests.api.helpers import assert_problem
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import admit, person


@pytest.fixture(scope="module")
def shared(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    yield api
    api.close()


_numbers = itertools.count(3000)


def new_body(org: str = "XW-C1-B1", **overrides: Any) -> dict[str, Any]:
    n = next(_numbers)
    return member_body(n, org, **{"joined_on": (date(2005, 1, 1) + timedelta(days=n)).isoformat(), **overrides})


def full_member(api: Api) -> str:
    n = next(_numbers)
    return admit(api.ledger, n, joined_on=date(2005, 1, 1) + timedelta(days=n))


def test_a_replay_returns_the_first_response_and_records_nothing(shared: Api) -> None:
    clerk = shared.client("xw_clerk")
    body = new_body(name="重放·测试")
    first = clerk.post("/v1/members", body, key="admit-1")
    assert first.status_code == 201, first.text
    after_first = shared.ledger.max_position()
    assert first.json()["position"] == after_first
    for _ in range(2):
        again = clerk.post("/v1/members", body, key="admit-1")
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["content-type"] == first.headers["content-type"]
    assert shared.ledger.max_position() == after_first
    roster = clerk.get("/v1/organizations/XW-C1-B1/roster", q="重放·测试").json()
    assert roster["count"] == 1
    # a 200 command too
    number = first.json()["registration_no"]
    dues = {"month": "2026-10", "amount": "12.50", "on": "2026-10-31"}
    paid = clerk.post(f"/v1/members/{number}/dues", dues, key="dues-1")
    assert paid.status_code == 200, paid.text
    position = shared.ledger.max_position()
    replay = clerk.post(f"/v1/members/{number}/dues", dues, key="dues-1")
    assert (replay.status_code, replay.json()) == (200, paid.json())
    assert shared.ledger.max_position() == position
    history = clerk.get(f"/v1/members/{number}/history").json()["data"]
    assert len([e for e in history if e["data"].get("month") == "2026-10"]) == 1


def test_a_replayed_operator_grant_creates_no_second_operator(shared: Api) -> None:
    admin = shared.client("admin")
    body = {"name": "一次性", "role": "auditor", "organization_code": "QH"}
    first = admin.post("/v1/operators", body, key="grant-1")
    assert first.status_code == 201, first.text
    position = shared.ledger.max_position()
    again = admin.post("/v1/operators", body, key="grant-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert shared.ledger.max_position() == position
    listed = admin.get("/v1/operators", organization_code="QH").json()["data"]
    assert [o["name"] for o in listed].count("一次性") == 1


def kept_answers(api: Api) -> list[tuple[str, str, str, int, str]]:
    """(owner, key, request_hash, status, body) of every answer kept, as the database holds it."""
    with api.services.pool.connection() as db:
        return [tuple(row) for row in db.query(  # type: ignore[misc]
            "SELECT owner, key, request_hash, status, body FROM api_idempotency WHERE status <> 0")]


def test_a_kept_answer_shows_no_token_and_no_name_without_the_data_keys(shared: Api) -> None:
    """The answers kept for replay are sealed with the data keys: a token shown once and a
    member's name stay out of a copy of the database, and the replay still gives them."""
    granted = shared.client("admin").post("/v1/operators", {"name": "封存·核对", "role": "clerk",
                                                            "organization_code": "QH"}, key="sealed-grant")
    assert granted.status_code == 201, granted.text
    admitted = shared.client("xw_clerk").post("/v1/members", new_body(name="封存·姓名"), key="sealed-admit")
    assert admitted.status_code == 201, admitted.text
    stored = repr(kept_answers(shared))
    assert granted.json()["token"] not in stored and "封存" not in stored
    assert "\\u5c01" not in stored.lower()  # nor escaped in JSON
    again = shared.client("admin").post("/v1/operators", {"name": "封存·核对", "role": "clerk",
                                                          "organization_code": "QH"}, key="sealed-grant")
    assert (again.status_code, again.json()) == (201, granted.json())


def test_a_kept_answer_opens_only_in_its_own_row_and_a_plain_one_is_replayed_as_it_is(shared: Api) -> None:
    """An answer sealed for one (operator, key) copied onto another does not open (503, the
    keys can't read it); one kept in plain text by an earlier version is replayed unchanged."""
    clerk = shared.client("xw_clerk")
    first = clerk.post("/v1/members", new_body(), key="row-a")
    second_body = new_body()
    second = clerk.post("/v1/members", second_body, key="row-b")
    assert first.status_code == second.status_code == 201
    answers = {key: (owner, body) for owner, key, _, _, body in kept_answers(shared)}
    owner = answers["row-b"][0]
    with shared.services.pool.connection() as db:
        db.execute("UPDATE api_idempotency SET body = ? WHERE owner = ? AND key = ?",
                   (answers["row-a"][1], owner, "row-b"))
    assert_problem(clerk.post("/v1/members", second_body, key="row-b"), "not_ready", {503})
    with shared.services.pool.connection() as db:
        db.execute("UPDATE api_idempotency SET body = ? WHERE owner = ? AND key = ?",
                   (second.text, owner, "row-b"))
    replayed = clerk.post("/v1/members", second_body, key="row-b")
    assert (replayed.status_code, replayed.json()) == (201, second.json())


def test_a_refusal_is_replayed_too(shared: Api) -> None:
    clerk = shared.client("xw_clerk")
    number = make_registration_no("320102", date(2011, 11, 11), 111)
    body = {"registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change",
            "basis": "household"}
    first = clerk.post("/v1/transfers", body, key="transfer-1")
    assert_problem(first, "out_of_jurisdiction")  # an unknown member, refused like one outside
    # the member now exists, so running the request again would succeed...
    n = next(_numbers)
    shared.ledger.import_member("XW-C1-B1", registration_no=number, status="full", on=date(2020, 6, 1),
                                **person(n))
    position = shared.ledger.max_position()
    again = clerk.post("/v1/transfers", body, key="transfer-1")
    # ...but the first answer is replayed, and nothing is recorded
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again.headers["content-type"].startswith("application/problem+json")
    assert shared.ledger.max_position() == position
    assert clerk.get(f"/v1/members/{number}").json()["place"]["transfer_id"] is None
    fresh = clerk.post("/v1/transfers", body, key="transfer-2")
    assert fresh.status_code == 201, fresh.text


def test_the_same_key_with_another_body_is_refused(shared: Api) -> None:
    clerk = shared.client("xw_clerk")
    body = new_body()
    first = clerk.post("/v1/members", body, key="admit-2")
    assert first.status_code == 201, first.text
    position = shared.ledger.max_position()
    other = new_body()
    assert_problem(clerk.post("/v1/members", other, key="admit-2"), "idempotency_key_reused")
    assert_problem(clerk.post("/v1/members", {**body, "name": "改了名字"}, key="admit-2"), "idempotency_key_reused")
    number = first.json()["registration_no"]
    assert_problem(clerk.post(f"/v1/members/{number}/death", {}, key="admit-2"), "idempotency_key_reused")
    assert shared.ledger.max_position() == position
    assert clerk.post("/v1/members", body, key="admit-2").json() == first.json()  # the first still replays
    assert clerk.post("/v1/members", other, key="admit-3").status_code == 201


def test_the_same_document_written_another_way_is_the_same_request(shared: Api) -> None:
    """API.md's "the same body" is the same JSON document: keys in another order, characters
    escaped, other spacing, and no body for `{}`, are replayed, not refused as another body."""
    clerk = shared.client("xw_clerk")
    headers = {**clerk.headers("doc-1"), "Content-Type": "application/json"}
    body = new_body(name="张三")
    first = shared.test_client.post("/v1/members", content=json.dumps(body, ensure_ascii=False).encode(),
                                    headers=headers)
    assert first.status_code == 201, first.text
    position = shared.ledger.max_position()
    for written in (json.dumps(dict(reversed(list(body.items()))), ensure_ascii=False),
                    json.dumps(body), json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                    "\n  " + json.dumps(body, indent=2, ensure_ascii=False)):
        again = shared.test_client.post("/v1/members", content=written.encode(), headers=headers)
        assert (again.status_code, again.json()) == (201, first.json()), written
        assert again.headers.get("Idempotent-Replayed") == "true"
    number = full_member(shared)
    died = shared.test_client.post(f"/v1/members/{number}/death", headers=clerk.headers("doc-2"))
    assert died.status_code == 200, died.text
    assert clerk.post(f"/v1/members/{number}/death", {}, key="doc-2").json() == died.json()
    assert shared.ledger.max_position() == died.json()["position"] > position


def test_a_passing_conflict_is_not_kept_and_the_same_request_is_judged_again(
    shared: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 409 `conflict` (a concurrent change, a busy writer: nothing recorded, "try again")
    is not kept under the key: the same request with the same key is judged again, and is
    then kept and replayed as any answer."""
    clerk = shared.client("xw_clerk")
    number = full_member(shared)
    record_dues = shared.ledger.record_dues
    calls = itertools.count()

    def busy_once(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 0:
            raise Conflict("the ledger did not take the command in time; nothing was recorded: try again")
        return record_dues(*args, **kwargs)

    monkeypatch.setattr(shared.ledger, "record_dues", busy_once)
    body = {"month": "2026-10", "amount": "12.50"}
    assert_problem(clerk.post(f"/v1/members/{number}/dues", body, key="dues-busy"), "conflict")
    paid = clerk.post(f"/v1/members/{number}/dues", body, key="dues-busy")
    assert paid.status_code == 200 and paid.headers.get("Idempotent-Replayed") is None, paid.text
    again = clerk.post(f"/v1/members/{number}/dues", body, key="dues-busy")
    assert (again.json(), again.headers.get("Idempotent-Replayed")) == (paid.json(), "true")
    assert shared.ledger.max_position() == paid.json()["position"]
    history = clerk.get(f"/v1/members/{number}/history").json()["data"]
    assert [row["data"]["month"] for row in history if row["type"] == "Member.DuesPaid"] == ["2026-10"]


def test_keys_belong_to_one_operator(shared: Api) -> None:
    clerk, admin = shared.client("xw_clerk"), shared.client("xw_admin")
    body = new_body()
    assert clerk.post("/v1/members", body, key="shared-key").status_code == 201
    # another operator's same key and body is a request of its own: it runs (and is refused)
    position = shared.ledger.max_position()
    assert_problem(admin.post("/v1/members", body, key="shared-key"), "duplicate_registration")
    assert shared.ledger.max_position() == position
    # and another operator's same key with another body is no reuse
    assert admin.post("/v1/members", new_body(), key="shared-key-2").status_code == 201
    mine = clerk.post("/v1/members", new_body(), key="shared-key-2")
    assert mine.status_code == 201, mine.text


def test_a_key_is_honoured_only_with_a_bearer_token(shared: Api) -> None:
    """Authorization other than `Bearer <token>` is 401 with a key as without one: a kept
    answer is never replayed to it (nor is a new one kept)."""
    clerk = shared.client("xw_clerk")
    number = full_member(shared)
    dues = {"month": "2026-08", "amount": "1.00", "on": "2026-08-31"}
    assert clerk.post(f"/v1/members/{number}/dues", dues, key="scheme-1").status_code == 200
    position = shared.ledger.max_position()
    for scheme in ("Basic", "Token", "bearerx"):
        headers = {"Authorization": f"{scheme} {shared.tokens['xw_clerk']}"}
        for key in ("scheme-1", "scheme-2"):
            answer = shared.test_client.post(f"/v1/members/{number}/dues", json=dues,
                                             headers={**headers, "Idempotency-Key": key})
            assert answer.status_code == 401, (scheme, key, answer.text)
            assert "Idempotent-Replayed" not in answer.headers
    assert shared.ledger.max_position() == position


def test_a_request_with_no_key_is_not_deduplicated(shared: Api) -> None:
    clerk = shared.client("xw_clerk")
    number = full_member(shared)
    dues = {"month": "2026-09", "amount": "1.00", "on": "2026-09-30"}
    first = clerk.post(f"/v1/members/{number}/dues", dues)
    second = clerk.post(f"/v1/members/{number}/dues", dues)
    assert first.status_code == second.status_code == 200
    assert second.json()["position"] > first.json()["position"]


def test_two_identical_requests_at_once_record_once(shared: Api) -> None:
    body = new_body()
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def send() -> None:
        client = ApiClient(TestClient(shared.app, raise_server_exceptions=False), shared.tokens["xw_clerk"])
        barrier.wait()
        results.append(client.post("/v1/members", body, key="at-once"))

    before = shared.ledger.max_position()
    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 3
    statuses = sorted(r.status_code for r in results)
    assert 201 in statuses and set(statuses) <= {201, 409}, [r.text for r in results]
    created = [r.json() for r in results if r.status_code == 201]
    assert all(c == created[0] for c in created)  # the others replayed the first
    for refused in (r for r in results if r.status_code == 409):
        assert_problem(refused, "conflict")  # "still running": try again later
    roster = shared.client("xw_clerk").get("/v1/organizations/XW-C1-B1/roster", q=body["name"]).json()
    assert [r["registration_no"] for r in roster["data"]] == [created[0]["registration_no"]]
    assert created[0]["position"] == shared.ledger.max_position() > before


def test_keys_survive_a_restart(store: Store) -> None:
    first_app = Api(store)
    try:
        clerk = first_app.client("xw_clerk")
        body = new_body()
        created = clerk.post("/v1/members", body, key="before-restart")
        assert created.status_code == 201, created.text
        refused_body = new_body("XW-C1")  # a committee holds no one
        refusal = clerk.post("/v1/members", refused_body, key="refused-before")
        assert_problem(refusal, "cannot_hold_members")
        tokens = dict(first_app.tokens)
    finally:
        first_app.close()

    settings = Settings(database_url=store.url, id_key=TEST_ID_KEY)  # type: ignore[arg-type]
    services = Services(settings, today=lambda: TODAY)
    try:
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            clerk = ApiClient(client, tokens["xw_clerk"])
            position = services.ledger.max_position()
            again = clerk.post("/v1/members", body, key="before-restart")
            assert (again.status_code, again.json()) == (201, created.json())
            replayed = clerk.post("/v1/members", refused_body, key="refused-before")
            assert (replayed.status_code, replayed.json()) == (refusal.status_code, refusal.json())
            assert services.ledger.max_position() == position
            assert_problem(clerk.post("/v1/members", new_body(), key="before-restart"), "idempotency_key_reused")
            assert services.ledger.max_position() == position
    finally:
        services.close()


def test_a_keyed_post_looks_its_operator_up_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idempotency check finds the token's operator; the route takes it from there
    instead of looking it up again. A POST without a key looks it up once too."""
    looked_up: list[str] = []
    lookup = api.ledger.operator_for_token

    def counted(token: str) -> Any:
        looked_up.append(token)
        return lookup(token)

    monkeypatch.setattr(api.ledger, "operator_for_token", counted)
    client = api.client("xw_clerk")
    assert client.post("/v1/members", member_body(3990), key="once-1").status_code == 201
    assert len(looked_up) == 1
    assert client.post("/v1/members", member_body(3991)).status_code == 201
    assert len(looked_up) == 2
