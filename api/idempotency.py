"""Idempotency keys, kept in the store so they survive a restart.

A POST with `Idempotency-Key` is claimed per operator and key before it runs. The same
key with the same request returns the first response again (a refusal included) and
records nothing new; the same key with another request is refused with 422
`idempotency_key_reused`; while the first is still running, a second gets 409 `conflict`
with `Retry-After`.

A claim is a lease: it names the process holding it (host, boot, process id) and when it
was taken. A process killed while it runs a request leaves its claim running; a retry takes
the claim over (one UPDATE naming the old claim, so only one retry can) once its process is
known dead (gone from this host, or of an earlier boot of it), or is this very process
with no request of it running under the claim (its request ended but the database was
away when the claim was to be released or its answer kept), or the lease
(`LEDGER_IDEMPOTENCY_LEASE_SECONDS`) has run out, and runs the request again. That is safe:
the request's commands run under command keys derived from the operator, the key and the
request (domain/commandkey.py), so a command the first run recorded is not run again but
answers with what it recorded, and one it did not record runs now, once.

The answers kept are sealed with the data keys (domain/personal.py, LEDGER_DATA_KEYS), the
owner and the key as authenticated data: an answer may hold a token shown once (an
operator granted, a member's access) or a member's name, and a copy of the database
without the keys shows neither. An answer kept in plain text by an earlier version is
replayed as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.bearer import bearer_token
from api.errors import known_error_response, problem
from domain.commandkey import keyed
from domain.errors import Conflict
from domain.operator import operator_id_for
from domain.personal import DataKeys, is_sealed
from projections.db import ViewDatabase

log = logging.getLogger("api")

COLUMNS = (
    "owner TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER NOT NULL, "
    "body TEXT, media_type TEXT, created_at TEXT NOT NULL, claimant TEXT, claimed_at TEXT"
)
DDL = f"CREATE TABLE IF NOT EXISTS api_idempotency ({COLUMNS}, PRIMARY KEY (owner, key))"
# Columns added since the table's first version (a store made before them gets them).
ADDED_COLUMNS = ("claimant", "claimed_at")
RUNNING = 0  # the status of a claim whose answer is not kept yet
CLAIM_ATTEMPTS = 8


def setup(db: ViewDatabase) -> None:
    db.execute(DDL)
    if db.kind == "postgres":
        present = {row[0] for row in db.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'api_idempotency'")}
    else:
        present = {row[1] for row in db.query("PRAGMA table_info(api_idempotency)")}
    for column in ADDED_COLUMNS:
        if column in present:
            continue
        if db.kind == "postgres":
            db.execute(f"ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS {column} TEXT")
            continue
        try:
            db.execute(f"ALTER TABLE api_idempotency ADD COLUMN {column} TEXT")
        except sqlite3.OperationalError as error:  # another process added it first
            if "duplicate column" not in str(error):
                raise


def request_digest(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests with one key the same request: the method, the path, the
    query and the body; a JSON body as the document it is (keys in any order, characters
    escaped or not, any spacing; no body the same as `{}`), another body as its bytes."""
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), query.encode(), canonical(body)])).hexdigest()


def canonical(body: bytes) -> bytes:
    """A JSON body written one way (no body: `{}`); another body as it came."""
    if not body.strip():
        return b"{}"
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def command_name(owner: str, key: str, digest: str) -> str:
    """The name the keys of a keyed request's commands derive from (domain/commandkey.py)."""
    return f"idempotency:{owner}\n{key}\n{digest}"


# --- who holds a claim ----------------------------------------------------------------------

_NONCE = secrets.token_hex(8)  # tells this process from an earlier one that had its pid


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_BOOT = _boot_id()


@dataclass(frozen=True)
class Claimant:
    """A process: its host, the host's boot, its process id, and a number of its own."""

    host: str
    boot: str
    pid: int
    nonce: str

    def __str__(self) -> str:
        return f"{self.host}|{self.boot}|{self.pid}|{self.nonce}"

    @classmethod
    def current(cls) -> Claimant:
        return cls(socket.gethostname(), _BOOT, os.getpid(), _NONCE)

    @classmethod
    def parse(cls, text: str | None) -> Claimant | None:
        parts = (text or "").rsplit("|", 3)
        if len(parts) != 4 or not parts[2].isascii() or not parts[2].isdecimal():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])

    def is_dead(self) -> bool:
        """Known to have ended: a process of this host that is gone, or of an earlier boot
        of it. A process of another host (or one this host can't tell) may be alive."""
        me = Claimant.current()
        if self.host != me.host or not self.boot or not me.boot:
            return False
        if self.boot != me.boot:
            return True
        if self.pid == me.pid:
            return self.nonce != me.nonce  # an earlier process with this one's id
        return not _alive(self.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:  # a process that ended but whose parent has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --- the claims this process's requests hold ---------------------------------------------

_HELD: set[tuple[str, str, str]] = set()  # (owner, key, claimed_at) of this process's running requests
_HELD_LOCK = threading.Lock()


def _hold(owner: str, key: str, claimed_at: str) -> None:
    with _HELD_LOCK:
        _HELD.add((owner, key, claimed_at))


def _held(owner: str, key: str, claimed_at: str) -> bool:
    with _HELD_LOCK:
        return (owner, key, claimed_at) in _HELD


# --- the store ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A claim's verdict: "run" (held: `holder` is the claim), "replay" (`answer`),
    "running" (`retry_after` seconds) or "reused"."""

    verdict: str
    holder: tuple[str, str] | None = None
    answer: tuple[int, str, str | None] | None = None
    retry_after: int = 0
    recovered: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _age(claimed_at: str, now: str) -> float:
    try:
        return (datetime.fromisoformat(now) - datetime.fromisoformat(claimed_at)).total_seconds()
    except (TypeError, ValueError):
        return math.inf  # unreadable: as old as can be


class IdempotencyStore:
    def __init__(self, connection: Callable[[], Any], keys: DataKeys) -> None:
        self.connection = connection  # a context manager factory yielding a ViewDatabase
        self.keys = keys  # seal the answers kept

    def _sealed(self, owner: str, key: str, body: bytes) -> str:
        return self.keys.seal(body, _context(owner, key))

    def _opened(self, owner: str, key: str, kept: str) -> str:
        """A kept answer's text (one kept in plain text before answers were sealed: as it is)."""
        if not is_sealed(kept):
            return kept
        return self.keys.open(kept, _context(owner, key), "the answer kept for an Idempotency-Key").decode("utf-8")

    def claim(self, owner: str, key: str, digest: str, lease_seconds: float = 30.0) -> Claim:
        me = str(Claimant.current())
        for _ in range(CLAIM_ATTEMPTS):
            now = _now()
            with self.connection() as db:
                inserted = db.execute_count(
                    "INSERT INTO api_idempotency (owner, key, request_hash, status, created_at, claimant, "
                    "claimed_at) VALUES (?, ?, ?, 0, ?, ?, ?) ON CONFLICT (owner, key) DO NOTHING",
                    (owner, key, digest, now, me, now),
                )
                if inserted:
                    _hold(owner, key, now)
                    return Claim("run", holder=(me, now))
                rows = db.query(
                    "SELECT request_hash, status, body, media_type, claimant, COALESCE(claimed_at, created_at) "
                    "FROM api_idempotency WHERE owner = ? AND key = ?",
                    (owner, key),
                )
                if not rows:
                    continue  # released in between: claim it
                stored_hash, status, body, media_type, claimant, claimed_at = rows[0]
                if stored_hash != digest:
                    return Claim("reused")
                if status != RUNNING:
                    return Claim("replay", answer=(status, self._opened(owner, key, body), media_type))
                held_for = _age(claimed_at, now)
                holder = Claimant.parse(claimant)
                dead = holder is not None and holder.is_dead()
                # This process's own claim with no request of it running: a request that
                # ended while the database was away, before its claim could be released.
                orphaned = claimant == me and not _held(owner, key, claimed_at)
                dead = dead or orphaned
                if held_for < lease_seconds and not dead:
                    return Claim("running", retry_after=max(1, math.ceil(lease_seconds - held_for)))
                taken = db.execute_count(
                    "UPDATE api_idempotency SET claimant = ?, claimed_at = ? WHERE owner = ? AND key = ? "
                    "AND status = 0 AND COALESCE(claimant, '') = ? AND COALESCE(claimed_at, created_at) = ?",
                    (me, now, owner, key, claimant or "", claimed_at),
                )
            if taken:
                _hold(owner, key, now)
                log.warning("an Idempotency-Key left running %s is taken over",
                            "by a process that ended" if dead else f"for {held_for:.0f} s")
                return Claim("run", holder=(me, now), recovered=True)
            # another retry took it over, or its holder finished, first: look again
        return Claim("running", retry_after=1)

    def complete(
        self, owner: str, key: str, status: int, body: bytes, media_type: str | None
    ) -> tuple[int, str, str | None] | None:
        """Keep the answer of a request that ran. The first answer kept stays: when another
        run of the same request (one that took the claim over) kept its answer first, that
        one is returned, to be given instead."""
        with self.connection() as db:
            if db.execute_count(
                "UPDATE api_idempotency SET status = ?, body = ?, media_type = ? "
                "WHERE owner = ? AND key = ? AND status = 0",
                (status, self._sealed(owner, key, body), media_type, owner, key),
            ):
                return None
            rows = db.query(
                "SELECT status, body, media_type FROM api_idempotency WHERE owner = ? AND key = ?", (owner, key)
            )
        if rows and rows[0][0] != RUNNING:
            return rows[0][0], self._opened(owner, key, rows[0][1]), rows[0][2]
        return None

    def ended(self, owner: str, key: str, holder: tuple[str, str]) -> None:
        """The request that held this claim in this process has ended (whether or not its
        answer was kept or its claim released: the database may have been away)."""
        with _HELD_LOCK:
            _HELD.discard((owner, key, holder[1]))

    def release(self, owner: str, key: str, holder: tuple[str, str]) -> None:
        """Forget a claim still held by `holder` (a request that did not run to an answer)."""
        with self.connection() as db:
            db.execute(
                "DELETE FROM api_idempotency WHERE owner = ? AND key = ? AND status = 0 "
                "AND claimant = ? AND claimed_at = ?",
                (owner, key, *holder),
            )


def _context(owner: str, key: str) -> bytes:
    """The authenticated data of a kept answer: moved to another row, it does not open."""
    return f"api_idempotency/{owner}/{key}".encode()


def _replayed(answer: tuple[int, str, str | None]) -> Response:
    status, text, media_type = answer
    return Response(text, status_code=status, media_type=media_type, headers={"Idempotent-Replayed": "true"})


class IdempotentRoute(APIRoute):
    """A route whose POSTs honour Idempotency-Key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            key = (request.headers.get("idempotency-key") or "").strip()
            token = bearer_token(request.headers.get("authorization"))  # another scheme: the route's 401
            if request.method != "POST" or not key or not token:
                return await original(request)
            if len(key) > 200:
                return problem(422, "validation_error", "Idempotency-Key is at most 200 characters")
            services = request.app.state.services
            found = await run_in_threadpool(services.ledger.operator_for_token, token)
            if found is None and await run_in_threadpool(services.ledger.member_for_token, token) is None:
                return problem(401, "unauthenticated", "the token is unknown or revoked")
            if found is not None:  # an operator's (not a member's): the route's current_caller takes it
                request.state.token_operator = (token, found)
            owner = str(operator_id_for(token))
            body = await request.body()
            digest = request_digest(request.method, request.url.path, request.url.query, body)
            store: IdempotencyStore = services.idempotency
            claim = await run_in_threadpool(
                store.claim, owner, key, digest, services.settings.idempotency_lease_seconds
            )
            if claim.verdict == "reused":
                return problem(422, "idempotency_key_reused",
                               "this Idempotency-Key was used for a different request")
            if claim.verdict == "running":
                busy = problem(409, "conflict", "a request with this Idempotency-Key is still running")
                busy.headers["Retry-After"] = str(claim.retry_after)
                return busy
            if claim.answer is not None:
                return _replayed(claim.answer)
            assert claim.holder is not None
            try:
                try:
                    with keyed(command_name(owner, key, digest)):
                        response = await original(request)
                except Exception as error:
                    known = known_error_response(error)
                    if known is None or known.status_code in (401, 503):
                        await run_in_threadpool(store.release, owner, key, claim.holder)
                        raise
                    if isinstance(error, Conflict):  # a passing one ("try again"): not kept, so
                        # that the same request with the same key is judged again
                        await run_in_threadpool(store.release, owner, key, claim.holder)
                        return known
                    response = known
                if response.status_code >= 500 or response.status_code == 401:
                    await run_in_threadpool(store.release, owner, key, claim.holder)
                    return response
                first = await run_in_threadpool(
                    store.complete, owner, key, response.status_code, bytes(response.body), response.media_type
                )
                return _replayed(first) if first is not None else response
            finally:
                store.ended(owner, key, claim.holder)

        return handler
