"""The web pages in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against a real uvicorn server on a free port: one server per module, on an SQLite store
with the test tree and a letter in flight. A clerk signs in, receives the letter from the
inbox, sees the roster and the report change, meets a refusal in words, switches the
language, can't reach another subtree, and the pages fit a 390px-wide phone."""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
import uvicorn

from api.app import create_app
from api.services import Services
from api.web.i18n import WORDS
from domain.settings import Settings
from tests.conftest import TEST_ID_KEY, TODAY
from tests.factories import admit, build_tree
from tests.web.conftest import Scenario, build_scenario

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")


def chromium_or_skip() -> str:
    """The browser; under CI=true its absence fails the run instead of skipping."""
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (scripts/test does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    tokens: dict[str, str]
    scenario: Scenario
    services: Services


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("web") / "ledger.db"
    settings = Settings(database_url=f"sqlite:///{path}", id_key=TEST_ID_KEY)  # type: ignore[arg-type]
    services = Services(settings, today=lambda: TODAY)
    build_tree(services.ledger)
    tokens = {label: services.ledger.grant_operator(label, role, org)[1] for label, role, org in (
        ("xw_clerk", "clerk", "XW-C1"), ("xw_auditor", "auditor", "XW"))}
    scenario = build_scenario(services.ledger)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", tokens, scenario, services)
    server.should_exit = True
    thread.join(timeout=10)
    services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


def signed_in(browser, site: Site, label: str, **context_options):  # type: ignore[no-untyped-def]
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(f"{site.url}/web/inbox")
    assert "/web/sign-in" in page.url  # not signed in yet: the sign-in form
    page.fill("input[name=token]", site.tokens[label])
    page.click("form[action='/web/sign-in'] button[type=submit]")
    page.wait_for_url(f"{site.url}/web/inbox")
    return context, page


def figure(page, name: str) -> str:  # type: ignore[no-untyped-def]
    return page.inner_text(f"tr[data-figure={name}] td.num").strip()


def test_a_clerk_receives_a_letter_and_sees_roster_and_report_change(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_clerk")
    try:
        cookie = next(c for c in context.cookies() if c["name"] == "ledger_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.goto(f"{site.url}/web/orgs/XW-C1/report?month=2026-11")
        assert figure(page, "transferred_in") == "0"
        page.goto(f"{site.url}/web/orgs/XW-C1-B2/roster")
        assert page.locator("tr[data-member]").count() == 0

        page.goto(f"{site.url}/web/inbox")
        card = page.locator(f"article[data-transfer='{site.scenario.inbound}']")
        assert site.scenario.inbound_letter in card.inner_text()
        card.locator("select[name=organization_code]").select_option("XW-C1-B2")
        card.locator("form.action-receive button[type=submit]").click()
        page.wait_for_url("**/web/inbox?*done=1*")
        assert page.locator("p.notice").inner_text() == WORDS["done"][0]
        received = page.locator(f"article[data-transfer='{site.scenario.inbound}']")
        assert received.locator("form.action-return-receipt").count() == 1

        page.goto(f"{site.url}/web/orgs/XW-C1-B2/roster")
        assert page.locator(f"tr[data-member='{site.scenario.inbound_member}']").count() == 1
        page.goto(f"{site.url}/web/orgs/XW-C1/report?month=2026-11")
        assert figure(page, "transferred_in") == "1"
        assert page.locator("svg rect[data-month='2026-11'][data-figure=transferred_in]").get_attribute(
            "data-value") == "1"
        page.goto(f"{site.url}/web/orgs/XW-C1-B2/roster")
        page.click(f"tr[data-member='{site.scenario.inbound_member}'] a")
        assert "XW-C1-B2" in page.locator(".place").inner_text()
        assert page.locator("li[data-type='Transfer.MemberReceived']").count() == 1
    finally:
        context.close()


def test_a_refusal_is_shown_in_words_and_records_nothing(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_clerk")
    try:
        position = site.services.ledger.max_position()
        page.goto(f"{site.url}/web/transfers/{site.scenario.requested}")
        form = page.locator("form.action-issue")
        form.locator("input[name=valid_days]").evaluate("e => e.removeAttribute('max')")
        form.locator("input[name=valid_days]").fill("120")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.status == 422
        assert page.locator(".refusal .message").inner_text() == WORDS["err_validity_too_long"][0]
        assert site.services.ledger.max_position() == position
        assert site.services.ledger.transfer(site.scenario.requested).status == "requested"
    finally:
        context.close()


def test_the_language_switch_turns_the_pages_english_and_back(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_clerk")
    try:
        assert page.locator("nav.nav").inner_text().split()[0] == WORDS["nav_tree"][0]
        page.click("a.lang")
        assert page.locator("html").get_attribute("lang") == "en"
        assert WORDS["nav_inbox"][1] in page.locator("nav.nav").inner_text()
        page.goto(f"{site.url}/web/outbox")  # the choice is kept
        assert WORDS["outbox_title"][1].split(":")[0] in page.locator("h1").inner_text()
        page.click("a.lang")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
    finally:
        context.close()


def test_another_subtree_is_out_of_reach(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_auditor")
    try:
        name = site.services.ledger.member(site.scenario.foreign_member).name
        for path in (f"/web/members/{site.scenario.foreign_member}", f"/web/transfers/{site.scenario.foreign}",
                     "/web/orgs/SC-C1-B1/roster"):
            answer = page.goto(f"{site.url}{path}")
            assert answer is not None and answer.status == 403, path
            assert page.locator(".refusal .message").inner_text() == WORDS["err_out_of_jurisdiction"][0]
            assert name not in page.content()
        page.goto(f"{site.url}/web/inbox")
        assert page.locator("form.action-receive").count() == 0  # an auditor sees no action forms
    finally:
        context.close()


def test_the_pages_fit_a_phone_screen(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_clerk", viewport={"width": 390, "height": 844},
                              is_mobile=True, has_touch=True)
    try:
        for path in ("/web/", "/web/inbox", "/web/outbox", "/web/orgs/XW-C1/roster", "/web/orgs/XW-C1/overdue",
                     "/web/orgs/XW-C1/report", f"/web/members/{site.scenario.local_member}"):
            page.goto(f"{site.url}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide"
            assert page.locator("nav.nav").is_visible()
    finally:
        context.close()


def test_a_clerk_prints_a_letter_with_its_stub_and_receipt(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    context, page = signed_in(browser, site, "xw_clerk")
    try:
        page.goto(f"{site.url}/web/transfers/{site.scenario.inbound}")
        page.click("a.print-letter")
        page.wait_for_url(f"**/web/transfers/{site.scenario.inbound}/letter")
        letter = site.scenario.inbound_letter
        for part in ("stub", "letter", "receipt"):
            assert letter in page.locator(f"[data-part={part}] .letter-no").inner_text(), part
        assert page.locator(".letter-no").count() == 3
        text = page.locator("body").inner_text()
        assert "存根" in text and "回执" in text and "叁拾天" in text
        assert "秦淮第一支部" in text and "第二党支部" in text  # organizations by name
        assert page.locator("button[data-print]").is_visible()
        page.emulate_media(media="print")
        assert not page.locator("button[data-print]").is_visible()  # the button is not printed
        assert page.locator("[data-part=receipt]").is_visible()
    finally:
        context.close()


def letters_to_receive(site: Site) -> tuple[list[str], str]:
    """Three letters from QH-C1-B1 to XW-C1-B3, the last one expired: (transfer ids, the expired one's letter)."""
    ledger = site.services.ledger
    ids, letter = [], ""
    for n, issued_on in ((31, date(2026, 11, 10)), (32, date(2026, 11, 12)), (33, date(2026, 9, 1))):
        member = admit(ledger, n, "QH-C1-B1")
        transfer = ledger.request_transfer(member, "XW-C1-B3", reason="graduation", basis="household",
                                           on=issued_on).transfer_id or ""
        letter = ledger.issue_letter(transfer, 30, on=issued_on).letter_no or ""
        ids.append(transfer)
    return ids, letter


def test_a_clerk_receives_several_letters_at_once_and_sees_which_was_refused(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    ids, expired_letter = letters_to_receive(site)
    context, page = signed_in(browser, site, "xw_clerk")
    try:
        page.goto(f"{site.url}/web/inbox")
        for transfer in ids:
            page.check(f"article[data-transfer='{transfer}'] input[name=transfer_id]")
        page.click("form#bulk-receive button[type=submit]")
        page.wait_for_selector("section.bulk-done")
        done = page.locator("section.bulk-done li[data-transfer]")
        assert sorted(done.evaluate_all("els => els.map(e => e.dataset.transfer)")) == sorted(ids[:2])
        refused = page.locator("section.bulk-refused li")
        assert refused.count() == 1
        assert refused.get_attribute("data-transfer") == ids[2]
        assert refused.get_attribute("data-code") == "letter_expired"
        assert expired_letter in refused.inner_text()
        assert WORDS["err_letter_expired"][0] in refused.locator(".reason").inner_text()
        ledger = site.services.ledger
        assert [ledger.transfer(t).status for t in ids] == ["received", "received", "issued"]
        assert {ledger.transfer(t).received_in_code for t in ids[:2]} == {"XW-C1-B3"}
        page.click("a.button")  # back to the inbox, which shows the change
        page.wait_for_url("**/web/inbox*")
        assert page.locator(f"input[form=bulk-receive][value='{ids[0]}']").count() == 0  # no longer to receive
        assert page.locator(f"input[form=bulk-return][value='{ids[0]}']").count() == 1  # its receipt to return
        assert page.locator(f"input[form=bulk-receive][value='{ids[2]}']").count() == 1
    finally:
        context.close()


def test_a_clerk_exports_the_overdue_list(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    ledger = site.services.ledger
    member = admit(ledger, 41, "XW-C1-B1")
    transfer = ledger.request_transfer(member, "QH-C1-B1", reason="job_change", basis="household",
                                       on=date(2026, 8, 3)).transfer_id or ""
    letter = ledger.issue_letter(transfer, 30, on=date(2026, 8, 3)).letter_no or ""
    context, page = signed_in(browser, site, "xw_clerk", accept_downloads=True)
    try:
        page.goto(f"{site.url}/web/orgs/XW-C1/overdue")
        row = page.locator(f"tr.row-red:has(a[href='/web/members/{member}'])")
        assert "第一党支部" in row.inner_text()  # the organization by name
        with page.expect_download() as download:
            page.click("a.download:has-text('CSV')")
        path = download.value.path()
        assert download.value.suggested_filename.endswith(".csv")
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:3] == [WORDS["kind"][0], WORDS["member_name"][0], WORDS["registration_no"][0]]
        mine = [r for r in rows[1:] if member in r]
        assert len(mine) == 1
        assert mine[0][0] == WORDS["okind_overdue_letter"][0] and letter in mine[0]
        assert ledger.member(member).name in mine[0] and "第一党支部" in mine[0]
        assert len(rows) - 1 == int(page.locator("section.band.red .total").get_attribute("data-total") or -1)
    finally:
        context.close()
