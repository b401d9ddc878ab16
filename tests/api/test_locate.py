"""The locator (GET /v1/locate), on both stores: any admin or clerk holding both numbers of
a living member learns where its relationship is, and nothing personal; any other pair is
the same 404, whichever half failed (a wrong check character too); every call is in the
access log, never the ID number."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

import pytest

import api.app  # noqa: F401  (importing the app installs the request log's filter)
from api.requestlog import RedactPersonalQuery
from domain.identifiers import check_character
from projections import access
from tests.api.conftest import Api
from tests.factories import admit, person

UNKNOWN_REGISTRATION = "32010220150701999" + check_character("32010220150701999")  # held by nobody


@pytest.fixture
def located(api: Api) -> Iterator[tuple[Api, str, str]]:
    yield api, admit(api.ledger, 1, "XW-C1-B1"), admit(api.ledger, 2, "XW-C1-B2")


def access_rows(api: Api) -> list[dict[str, object]]:
    with api.services.pool.connection() as db:
        return access.rows(db, 0, 10_000)


def test_a_clerk_anywhere_locates_a_member_by_both_numbers(located: tuple[Api, str, str]) -> None:
    api, first, _ = located
    answer = api.client("qh_clerk").get("/v1/locate", registration_no=first, id_card_no=person(1)["id_card_no"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"registration_no": first, "place_kind": "held", "organization_code": "XW-C1-B1",
                             "organization_name": "第一党支部", "committee_code": "XW-C1",
                             "committee_name": "玄武街道党工委"}
    assert api.client("sc_clerk").get("/v1/locate", registration_no=first.lower(),
                                      id_card_no=person(1)["id_card_no"]).status_code == 200
    assert api.client("auditor").get("/v1/locate", registration_no=first,
                                     id_card_no=person(1)["id_card_no"]).status_code == 403


def test_any_other_pair_is_the_same_404(located: tuple[Api, str, str]) -> None:
    api, first, second = located
    clerk = api.client("qh_clerk")
    answers = [
        clerk.get("/v1/locate", registration_no=first, id_card_no=person(2)["id_card_no"]),  # another's ID
        clerk.get("/v1/locate", registration_no=second, id_card_no=person(1)["id_card_no"]),
        clerk.get("/v1/locate", registration_no=UNKNOWN_REGISTRATION, id_card_no=person(1)["id_card_no"]),
        clerk.get("/v1/locate", registration_no=first, id_card_no=person(3)["id_card_no"]),  # nobody's ID
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1 and answers[0].json()["code"] == "not_found"
    api.ledger.record_death(second, on=date(2026, 11, 1))
    gone = clerk.get("/v1/locate", registration_no=second, id_card_no=person(2)["id_card_no"])
    assert (gone.status_code, gone.content) == (404, answers[0].content)
    mistyped_card = person(1)["id_card_no"][:17] + ("1" if person(1)["id_card_no"][17] != "1" else "2")
    mistyped_number = first[:17] + ("1" if first[17] != "1" else "2")
    for pair in ((first, mistyped_card), (mistyped_number, person(1)["id_card_no"])):  # a wrong check character
        answer = clerk.get("/v1/locate", registration_no=pair[0], id_card_no=pair[1])
        assert (answer.status_code, answer.content) == (404, answers[0].content), pair
    assert clerk.get("/v1/locate", registration_no=first, id_card_no="12345").status_code == 422  # no number's shape


def test_every_call_is_logged_without_the_id_number(located: tuple[Api, str, str]) -> None:
    api, first, _ = located
    clerk = api.client("qh_clerk")
    before = len(access_rows(api))
    clerk.get("/v1/locate", registration_no=first, id_card_no=person(1)["id_card_no"])
    clerk.get("/v1/locate", registration_no=first, id_card_no=person(2)["id_card_no"])
    new = access_rows(api)[before:]
    assert [(r["operator_id"], r["organization_code"], r["action"], r["registration_no"]) for r in new] == [
        (api.operator_ids["qh_clerk"], "QH-C1", "locate", first)] * 2
    assert person(1)["id_card_no"] not in repr(access_rows(api))


def test_a_malformed_or_refused_call_is_logged_too(located: tuple[Api, str, str]) -> None:
    """API.md: every call is written to the access log: an ID number a character too long
    (422, as any malformed number), an auditor's call (403: the role doesn't locate), and a
    number missing, empty or longer than any (422 before the route's own checks)."""
    api, first, _ = located
    before = len(access_rows(api))
    too_long = api.client("qh_clerk").get("/v1/locate", registration_no=first, id_card_no=person(1)["id_card_no"] + "1")
    assert too_long.status_code == 422
    refused = api.client("auditor").get("/v1/locate", registration_no=first, id_card_no=person(1)["id_card_no"])
    assert refused.status_code == 403
    clerk = api.client("qh_clerk")
    for params in ({"registration_no": first}, {"registration_no": first, "id_card_no": ""},
                   {"registration_no": first + "X" * 60, "id_card_no": person(1)["id_card_no"]}):
        assert clerk.get("/v1/locate", **params).status_code == 422, params  # a number missing, empty, too long
    new = access_rows(api)[before:]
    assert [(r["operator_id"], r["action"], r["registration_no"]) for r in new] == [
        (api.operator_ids["qh_clerk"], "locate", first), (api.operator_ids["auditor"], "locate", first)] + [
        (api.operator_ids["qh_clerk"], "locate", first)] * 3


def request_line(target: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5", "GET", target, "1.1", 200), None)


def test_the_request_log_blanks_the_id_number_and_the_searches() -> None:
    """Personal data stays out of the server's log: the ID number however its parameter's
    name is spelled (percent-encoded, as the server decodes it), and the name searched for;
    the other parameters are kept as sent."""
    # importing the app (api.app) installed the filter on uvicorn's access log
    installed = [f for f in logging.getLogger("uvicorn.access").filters if isinstance(f, RedactPersonalQuery)]
    assert len(installed) == 1
    for target, kept in (
        ("/v1/locate?registration_no=X&id_card_no=320102198001010011", "/v1/locate?registration_no=X&id_card_no=-"),
        ("/v1/locate?registration_no=X&id%5Fcard%5Fno=320102198001010011",
         "/v1/locate?registration_no=X&id%5Fcard%5Fno=-"),
        ("/v1/organizations/XW/roster?q=%E5%BC%A0%E4%B8%89&limit=5", "/v1/organizations/XW/roster?q=-&limit=5"),
        ("/web/orgs/XW/roster?subtree=1&q=%E5%BC%A0", "/web/orgs/XW/roster?subtree=1&q=-"),
        ("/v1/transfers?status=issued", "/v1/transfers?status=issued"),
    ):
        record = request_line(target)
        assert installed[0].filter(record)
        assert record.getMessage() == f'127.0.0.1:5 - "GET {kept} HTTP/1.1" 200', target
