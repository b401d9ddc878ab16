"""The printable letter (介绍信): capital numerals, and the letter with its stub and receipt
through the API (`GET /v1/transfers/{id}/letter`) and the web page, on both stores."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from api.web.letter import age_on, capital_numeral
from tests.api.conftest import Api
from tests.factories import admit
from tests.web.conftest import Scenario, WebClient


@pytest.mark.parametrize(("number", "words"), [
    (0, "零"), (1, "壹"), (9, "玖"), (10, "壹拾"), (15, "壹拾伍"), (20, "贰拾"), (30, "叁拾"), (45, "肆拾伍"),
    (60, "陆拾"), (90, "玖拾"), (99, "玖拾玖"), (100, "壹佰"), (101, "壹佰零壹"), (105, "壹佰零伍"),
    (110, "壹佰壹拾"), (365, "叁佰陆拾伍"), (1000, "壹仟"), (1001, "壹仟零壹"), (1010, "壹仟零壹拾"),
    (1100, "壹仟壹佰"), (2024, "贰仟零贰拾肆"), (9999, "玖仟玖佰玖拾玖"),
])
def test_capital_numerals_are_written_as_on_paper(number: int, words: str) -> None:
    assert capital_numeral(number) == words


@pytest.mark.parametrize("number", [-1, 10_000])
def test_capital_numerals_outside_their_range_are_refused(number: int) -> None:
    with pytest.raises(ValueError):
        capital_numeral(number)


def test_age_counts_full_years() -> None:
    assert age_on(date(1990, 11, 20), date(2026, 11, 19)) == 35
    assert age_on(date(1990, 11, 20), date(2026, 11, 20)) == 36


def issued_letter(api: Api, valid_days: int = 30) -> tuple[str, str, str]:
    """A member of XW-C1-B1 with dues paid, a letter to QH-C1-B1 issued: (transfer, letter, member)."""
    ledger = api.ledger
    member = admit(ledger, 7, "XW-C1-B1")
    ledger.record_dues(member, "2026-10", Decimal("12.50"), on=date(2026, 10, 8))
    transfer = ledger.request_transfer(member, "QH-C1-B1", reason="job_change", basis="household",
                                       on=date(2026, 11, 10)).transfer_id or ""
    letter = ledger.issue_letter(transfer, valid_days, on=date(2026, 11, 10)).letter_no or ""
    return transfer, letter, member


def test_either_side_prints_the_letter_with_its_stub_and_receipt(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    transfer, letter, _member = issued_letter(api)
    for label in ("xw_clerk", "qh_clerk", "auditor"):
        answer = api.client(label).get(f"/v1/transfers/{transfer}/letter")
        assert answer.status_code == 200, (label, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        page = answer.text
        assert page.count(letter) >= 3  # the stub, the letter and the receipt carry the number
        assert [m.group(1) for m in re.finditer(r'data-part="([a-z]+)"', page)] == ["stub", "letter", "receipt"]
        assert "存根" in page and "回执" in page
        assert "叁拾天" in page  # 30 days in capital numerals
        assert "党员7" in page and "（女）" in page and "正式党员" in page
        assert "第一党支部" in page and "秦淮第一支部" in page  # names, not codes
        assert "XW-C1-B1" not in page and "QH-C1-B1" not in page
        assert "党费已交到2026年10月" in page
        assert "@page" in page  # printable on A4, complete in itself


def test_the_letter_shows_the_member_age_on_the_day_of_issue(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    transfer, _, member = issued_letter(api, valid_days=15)
    birth = api.ledger.member(member).birth_date
    page = api.client("xw_clerk").get(f"/v1/transfers/{transfer}/letter").text
    assert f"{age_on(birth, date(2026, 11, 10))}岁" in page
    assert "壹拾伍天" in page


def test_a_letter_printed_again_later_says_what_it_said_when_issued(web: tuple[Api, Scenario]) -> None:
    """The letter is a numbered document: printed after the member was received, confirmed
    and paid more dues elsewhere, it still gives the status and the dues of its issue."""
    api, _ = web
    ledger = api.ledger
    member = admit(ledger, 8, "XW-C1-B1", status="probationary", joined_on=date(2025, 10, 1), on=date(2025, 10, 1))
    ledger.record_dues(member, "2026-08", Decimal("3.00"), on=date(2026, 8, 8))
    transfer = ledger.request_transfer(member, "QH-C1-B1", reason="job_change", basis="household",
                                       probation_override_reason="工作调动", performance_record="表现良好",
                                       on=date(2026, 9, 1)).transfer_id or ""
    ledger.issue_letter(transfer, on=date(2026, 9, 1))
    first = api.client("xw_clerk").get(f"/v1/transfers/{transfer}/letter").text
    ledger.receive_member(transfer, "QH-C1-B1", on=date(2026, 9, 10))
    ledger.record_dues(member, "2026-11", Decimal("3.00"), on=date(2026, 11, 5))
    ledger.confirm_member(member, on=date(2026, 11, 5))
    again = api.client("xw_clerk").get(f"/v1/transfers/{transfer}/letter").text
    assert "预备党员" in first and "党费已交到2026年8月" in first
    assert "预备党员" in again and "正式党员" not in again and "党费已交到2026年8月" in again
    assert "2026年11月" not in again


def test_a_letter_is_refused_outside_both_sides_and_before_issue(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    transfer, _, _member = issued_letter(api)
    outside = api.client("sc_clerk").get(f"/v1/transfers/{transfer}/letter")
    assert outside.status_code == 403 and outside.json()["code"] == "out_of_jurisdiction"
    assert api.client(None).get(f"/v1/transfers/{transfer}/letter").status_code == 401
    unknown = api.client("admin").get("/v1/transfers/00000000-0000-4000-8000-000000000000/letter")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    other = admit(api.ledger, 8, "XW-C1-B1")
    requested = api.ledger.request_transfer(other, "QH-C1-B1", reason="job_change", basis="household",
                                            on=date(2026, 11, 10)).transfer_id
    early = api.client("xw_clerk").get(f"/v1/transfers/{requested}/letter")
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"


def test_the_transfer_page_links_to_the_printable_letter(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    transfer, letter, _ = issued_letter(api)
    clerk = WebClient(api, "qh_clerk")
    page = clerk.get(f"/web/transfers/{transfer}").text
    assert f'href="/web/transfers/{transfer}/letter"' in page
    printed = clerk.get(f"/web/transfers/{transfer}/letter")
    assert printed.status_code == 200
    assert printed.text.count(letter) >= 3 and "叁拾天" in printed.text
    assert 'href="/web/static/letter.css"' in printed.text and "<style>" not in printed.text
    assert "data-print" in printed.text
    assert WebClient(api, "sc_clerk").get(f"/web/transfers/{transfer}/letter").status_code == 403


@pytest.mark.parametrize("void", ["cancelled", "rejected"])
def test_a_cancelled_or_rejected_letter_prints_marked_void_and_the_page_offers_no_print(
        web: tuple[Api, Scenario], void: str) -> None:
    """DOMAIN §5: cancel or reject voids the letter. It still prints (200, either side),
    but every part (stub, letter, receipt) carries 作废 with how and when; the transfer page
    offers no print button for it."""
    api, _ = web
    transfer, letter, _member = issued_letter(api)
    valid = api.client("xw_clerk").get(f"/v1/transfers/{transfer}/letter").text
    assert "data-void" not in valid and "（作废）" not in valid
    if void == "cancelled":
        api.ledger.cancel_transfer(transfer, "工作变动", on=date(2026, 11, 12))
    else:
        api.ledger.reject_transfer(transfer, "材料不全", on=date(2026, 11, 12))
    how = "已撤销" if void == "cancelled" else "已退回"
    clerk = WebClient(api, "qh_clerk")
    for answer in (api.client("xw_clerk").get(f"/v1/transfers/{transfer}/letter"),
                   clerk.get(f"/web/transfers/{transfer}/letter")):
        assert answer.status_code == 200
        parts = re.split(r'<section class="letter-part [a-z]+" data-part="', answer.text)[1:]
        assert [p.split('"', 1)[0] for p in parts] == ["stub", "letter", "receipt"]
        for part in parts:
            assert f'data-void="{void}"' in part and "作废" in part and f"{how}（2026年11月12日）" in part
        assert "叁拾天" in answer.text and letter in answer.text  # the letter as it was, marked
    assert "data-print" not in clerk.get(f"/web/transfers/{transfer}/letter").text
    page = clerk.get(f"/web/transfers/{transfer}").text
    assert f'href="/web/transfers/{transfer}/letter"' not in page and f'data-letter-void="{void}"' in page
