"""Idempotency keys, kept in the store so they survive a restart.

A POST with `Idempotency-Key` is claimed per operator and key before it runs. The same
key with the same request returns the first response again (a refusal included) and
records nothing new; the same key with another request is refused with 422
`idempotency_key_reused`; while the first is still running, a second gets 409 `conflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.errors import known_error_response, problem
from domain.operator import operator_id_for
from projections.db import ViewDatabase

DDL = (
    "CREATE TABLE IF NOT EXISTS api_idempotency (owner TEXT NOT NULL, key TEXT NOT NULL, "
    "request_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT, media_type TEXT, "
    "created_at TEXT NOT NULL, PRIMARY KEY (owner, key))"
)


def setup(db: ViewDatabase) -> None:
    db.execute(DDL)


class IdempotencyStore:
    def __init__(self, connection: Callable[[], Any]) -> None:
        self.connection = connection  # a context manager factory yielding a ViewDatabase

    def claim(self, owner: str, key: str, digest: str) -> tuple[str, Any]:
        with self.connection() as db:
            inserted = db.execute_count(
                "INSERT INTO api_idempotency (owner, key, request_hash, status, created_at) "
                "VALUES (?, ?, ?, 0, ?) ON CONFLICT (owner, key) DO NOTHING",
                (owner, key, digest, datetime.now(UTC).isoformat()),
            )
            if inserted:
                return "run", None
            rows = db.query(
                "SELECT request_hash, status, body, media_type FROM api_idempotency WHERE owner = ? AND key = ?",
                (owner, key),
            )
        if not rows:  # released in between: run it
            return self.claim(owner, key, digest)
        stored_hash, status, body, media_type = rows[0]
        if stored_hash != digest:
            return "reused", None
        if status == 0:
            return "running", None
        return "replay", (status, body, media_type)

    def complete(self, owner: str, key: str, status: int, body: bytes, media_type: str | None) -> None:
        with self.connection() as db:
            db.execute(
                "UPDATE api_idempotency SET status = ?, body = ?, media_type = ? WHERE owner = ? AND key = ?",
                (status, body.decode("utf-8"), media_type, owner, key),
            )

    def release(self, owner: str, key: str) -> None:
        with self.connection() as db:
            db.execute("DELETE FROM api_idempotency WHERE owner = ? AND key = ?", (owner, key))


class IdempotentRoute(APIRoute):
    """A route whose POSTs honour Idempotency-Key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            key = (request.headers.get("idempotency-key") or "").strip()
            authorization = request.headers.get("authorization") or ""
            token = authorization.partition(" ")[2].strip()
            if request.method != "POST" or not key or not token:
                return await original(request)
            if len(key) > 200:
                return problem(422, "validation_error", "Idempotency-Key is at most 200 characters")
            services = request.app.state.services
            if await run_in_threadpool(services.ledger.operator_for_token, token) is None:
                return problem(401, "unauthenticated", "the token is unknown or revoked")
            owner = str(operator_id_for(token))
            body = await request.body()
            digest = hashlib.sha256(
                b"\n".join([request.method.encode(), request.url.path.encode(), request.url.query.encode(), body])
            ).hexdigest()
            store: IdempotencyStore = services.idempotency
            verdict, stored = await run_in_threadpool(store.claim, owner, key, digest)
            if verdict == "reused":
                return problem(422, "idempotency_key_reused",
                               "this Idempotency-Key was used for a different request")
            if verdict == "running":
                return problem(409, "conflict", "a request with this Idempotency-Key is still running")
            if verdict == "replay":
                status, text, media_type = stored
                return Response(text, status_code=status, media_type=media_type,
                                headers={"Idempotent-Replayed": "true"})
            try:
                response = await original(request)
            except Exception as error:
                known = known_error_response(error)
                if known is None or known.status_code in (401, 503):
                    await run_in_threadpool(store.release, owner, key)
                    raise
                response = known
            if response.status_code >= 500 or response.status_code == 401:
                await run_in_threadpool(store.release, owner, key)
                return response
            await run_in_threadpool(
                store.complete, owner, key, response.status_code, bytes(response.body), response.media_type
            )
            return response

        return handler
