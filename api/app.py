"""The FastAPI application: routers, error handling, and the services built from settings."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import errors, openapi, requestlog
from api.boundary import IncomingText
from api.routes import (
    audit,
    cases,
    certificates,
    locate,
    me,
    members,
    operators,
    organizations,
    reports,
    transfers,
)
from api.services import Services
from api.web.routes import install as install_web
from domain.settings import Settings

requestlog.install()  # the server's request log without personal data, in every process serving the app

DESCRIPTION = """An event-sourced ledger of party members' organizational relationship transfers
(党员组织关系接转). Every call under /v1 needs `Authorization: Bearer <token>`; errors are
application/problem+json with a stable `code`; every POST accepts `Idempotency-Key`."""


def settle_heap() -> None:
    """Collect what a start left behind, then leave every object alive now (the app, the
    ledger, the pools: they live as long as the process) out of the cyclic collector's
    passes. A large answer (a province's overdue list, tens of thousands of rows) sets off
    collections of the oldest generation, and each walks every object so left out: the
    slowest of the root's lists is measurably faster with it (docs/BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, services: Services | None = None,
               settle: bool = False) -> FastAPI:
    """`settle`: `settle_heap()` once the services are built (a served process; tests,
    which build many apps in one process, leave it off)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services(settings or Settings())  # type: ignore[call-arg]
        app.state.services.attach_idempotency()
        if settle:
            settle_heap()
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(title="Transfer ledger", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(IncomingText)  # every string of a request checked once, before routing
    for module in (organizations, operators, members, transfers, certificates, cases, reports, audit, locate):
        app.include_router(module.routes)
    app.include_router(me.access_routes)
    app.include_router(me.routes)
    openapi.install(app)  # /openapi.json with every status, problem body and content type answered

    install_web(app)  # the web pages under /web; `/` leads there

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        """A probe without a token: the store answers (else 503 `not_ready`), and nothing
        of what it holds is told."""
        app.state.services.ledger.max_position()
        return {"ok": True}

    return app


def served_app() -> FastAPI:
    """The app of a serve process started by import string (uvicorn's workers: `ledger serve
    --workers N`), its settings read from the environment."""
    return create_app(settle=True)
