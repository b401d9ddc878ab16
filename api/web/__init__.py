"""Web pages for organization departments, served next to the API under /web."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the static files and the pages; `/` and `/web` lead to them."""
    from api.web.cases import routes as case_routes
    from api.web.member_pages import pages
    from api.web.routes import routes

    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    @app.get("/web", include_in_schema=False)
    def web_index() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=307)

    app.include_router(case_routes)  # before the pages' catch-all
    app.include_router(pages)  # before `routes`, whose last route answers every other /web path
    app.include_router(routes)
