"""Regenerate docs/screenshots/ from the demo data: loads the small demo into a scratch
SQLite store, serves the app with uvicorn on a free port, signs in as the demo admin in
headless Chromium and saves the main pages at desk width and at phone width (390px).

    .venv/bin/python scripts/screenshots.py [--scale small|city] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.app import create_app  # noqa: E402
from api.demo import load_demo  # noqa: E402
from api.services import Services  # noqa: E402
from domain.personal import new_key_entry  # noqa: E402
from domain.settings import Settings  # noqa: E402

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("small", "city"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(database_url=f"sqlite:///{scratch}/demo.db",  # type: ignore[call-arg]
                            id_key=secrets.token_hex(32), data_keys=new_key_entry())
        services = Services(settings)
        print(f"loading the {args.scale} demo …", file=sys.stderr)
        token = load_demo(services.ledger, scale_name=args.scale)
        services.engine.catch_up()
        with services.queries() as queries:  # a member on a roster, for the member's own pages
            number = queries.db.scalar("SELECT registration_no FROM proj_members WHERE place = 'held' "
                                       "ORDER BY registration_no LIMIT 1")
        member_token = services.ledger.issue_member_access(str(number))[1]
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
                shoot(browser, base, token, out)
                shoot_member(browser, base, member_token, out)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            services.close()
    print(f"screenshots written to {out}", file=sys.stderr)


def shoot(browser, base: str, token: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    page.goto(f"{base}/web/sign-in")
    page.screenshot(path=str(out / "sign-in.png"))
    page.fill("input[name=token]", token)
    page.click("form[action='/web/sign-in'] button[type=submit]")
    page.wait_for_url(f"{base}/web/")
    root = re.search(r'data-org="([^"]+)"', page.content()).group(1)  # type: ignore[union-attr]
    committee = page.locator("tr.depth-1").first.get_attribute("data-org") or root
    pages = {
        "tree": "/web/",
        "roster": f"/web/orgs/{committee}/roster",
        "inbox": f"/web/inbox?org={committee}",
        "outbox": f"/web/outbox?org={committee}",
        "overdue": f"/web/orgs/{committee}/overdue",
        "report": f"/web/orgs/{root}/report",
        "hosted": f"/web/orgs/{root}/hosted",
        "cases": f"/web/cases?org={root}",
    }
    for name, path in pages.items():
        page.goto(base + path)
        page.screenshot(path=str(out / f"{name}.png"), full_page=name not in ("tree", "overdue", "roster"))
    # a member who moved: the first letter of the committee's inbox (its timeline has a transfer)
    page.goto(f"{base}/web/inbox?org={committee}")
    member = page.locator("table.transfers td a[href^='/web/members/']").first
    if not member.count():
        page.goto(f"{base}/web/orgs/{committee}/roster")
        member = page.locator("tr[data-member] a").first
    if member.count():
        member.click()
        page.screenshot(path=str(out / "member.png"), full_page=True)
    page.goto(f"{base}/web/inbox?org={committee}")
    letter = page.locator("table.transfers tr[data-transfer] td:first-child a:not(:text('—'))").first
    if letter.count():
        letter.click()
        page.screenshot(path=str(out / "transfer.png"), full_page=True)
        page.click("a.print-letter")
        page.screenshot(path=str(out / "letter.png"), full_page=True)
    page.goto(f"{base}/web/orgs/{root}/report?lang=en")
    page.screenshot(path=str(out / "report-en.png"), full_page=True)
    cookies = desk.cookies()
    desk.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
    phone.add_cookies([c for c in cookies if c["name"] == "ledger_session"])
    page = phone.new_page()
    for name, path in (("phone-inbox", f"/web/inbox?org={committee}&lang=zh"),
                       ("phone-report", f"/web/orgs/{root}/report")):
        page.goto(base + path)
        page.screenshot(path=str(out / f"{name}.png"))
    phone.close()


def shoot_member(browser, base: str, token: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The member's own record on a phone, signed in with the member's token."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
    page = phone.new_page()
    page.goto(f"{base}/web/me/sign-in")
    page.fill("input[name=token]", token)
    page.click("form[action='/web/me/sign-in'] button[type=submit]")
    page.wait_for_url(f"{base}/web/me/")
    page.screenshot(path=str(out / "phone-me.png"))
    page.goto(f"{base}/web/me/transfer")
    page.screenshot(path=str(out / "phone-me-transfer.png"))
    phone.close()


if __name__ == "__main__":
    main()
