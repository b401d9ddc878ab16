"""The web pages for organization departments, served next to the API under /web: every
clerk's page group on one router (`routes`: sign-in, the tree and rosters, transfers, the
overdue ledger, reports) ending with the page for every other path, and the first-responder
cases and the member's own pages beside it.

Each group is a module of its own (api/web/sign_in.py, orgs.py, transfers.py, overdue.py,
reports.py, cases.py, member_pages.py) on what they share (api/web/base.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

# Importing a group's module adds its pages to `routes`:
from api.web import cases, member_pages, orgs, overdue, reports, sign_in, transfers  # noqa: F401
from api.web.base import refusal, routes

STATIC = Path(__file__).parent / "static"


@routes.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    """Every other /web path: a page that says so (the last route)."""
    return refusal(request, "page_not_found", 404, "")


def install(app: FastAPI) -> None:
    """Mount the static files and the pages; `/` and `/web` lead to them."""
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    @app.get("/web", include_in_schema=False)
    def web_index() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    app.include_router(cases.routes)  # before the pages' catch-all
    app.include_router(member_pages.pages)  # before `routes`, whose last route answers every other /web path
    app.include_router(routes)
