"""A member on a phone (390 px wide, touch) in headless Chromium: signs in with the member's
own token, reads the record, requests a transfer through the form, sees the letter number
once the committee issues it, and, holding a mobile certificate, sends a regular report;
no page scrolls sideways. Same server and browser as tests/web/test_browser.py."""

from __future__ import annotations

from datetime import date

from api.web.i18n import WORDS
from tests.factories import admit
from tests.web.test_browser import Site, browser, site  # noqa: F401  (the module's fixtures)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def fits(page, path: str) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width}px wide"
    assert page.locator("nav.nav").is_visible()


def test_a_member_signs_in_and_requests_a_transfer_on_a_phone(browser, site: Site) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ledger = site.services.ledger
    number = admit(ledger, 301, "XW-C1-B1", name="王流动")
    ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 30),
                             host_description="深圳某公司")
    _, token = ledger.issue_member_access(number)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        page.goto(f"{site.url}/web/me/")
        assert page.url == f"{site.url}/web/me/sign-in"
        page.fill("input[name=token]", token)
        page.click("form[action='/web/me/sign-in'] button[type=submit]")
        page.wait_for_url(f"{site.url}/web/me/")
        assert "王流动" in page.inner_text("main") and number in page.inner_text("main")
        cookie = next(c for c in context.cookies() if c["name"] == "ledger_member_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        for path in ("/web/me/", "/web/me/history", "/web/me/transfer", "/web/me/report"):
            page.goto(f"{site.url}{path}")
            fits(page, path)

        page.goto(f"{site.url}/web/me/transfer")
        page.fill("input[name=q]", "秦淮街道")  # where to go, by name
        page.click("form[role=search] button[type=submit]")
        page.click("li[data-target='QH-C1'] a")
        assert page.input_value("input[name=to_organization_code]") == "QH-C1"
        fits(page, "/web/me/transfer with a choice")
        page.select_option("select[name=reason]", "job_change")
        page.select_option("select[name=basis]", "household")
        page.click("form[method=post][action='/web/me/transfer'] button[type=submit]")
        page.wait_for_url("**/web/me/?*done=1*")
        assert page.inner_text("[data-field=transfer_status]") == WORDS["tstatus_requested"][0]
        fits(page, "/web/me/ after the request")

        transfer_id = ledger.member(number).transfer_id
        assert transfer_id is not None
        letter = ledger.issue_letter(transfer_id).letter_no
        page.reload()
        assert page.inner_text("[data-field=letter_no]") == letter
        fits(page, "/web/me/ with the letter")

        page.goto(f"{site.url}/web/me/report")
        page.fill("textarea[name=report_text]", "本月参加网上党课两次。\n按时交纳党费。")
        page.click("form[action='/web/me/report'] button[type=submit]")
        page.wait_for_url("**/web/me/report?*done=1*")
        assert "按时交纳党费。" in page.inner_text("li[data-report]")
        fits(page, "/web/me/report after sending")
        assert [r.text for r in ledger.member_reports(number)] == ["本月参加网上党课两次。\n按时交纳党费。"]
    finally:
        context.close()
