"""The yardstick of the write benchmarks: the same three transfer calls as the ledger, written
as a plain CRUD service would write them (rows updated in place, one transaction a call).

    .venv/bin/python scripts/crud_peer.py --schema SCHEMA --port 8001   # serve it (127.0.0.1)

`scripts/bench_writes.py` serves it over HTTP next to `ledger serve` (FastAPI, one uvicorn
process, psycopg_pool), and `scripts/bench_commands.py` calls the same three transactions
in-process. Each call, in one transaction on one pooled connection:

- the bearer token looked up (its SHA-256 in `crud_operators`), the role checked;
- POST /v1/transfers: the member exists (its row locked), is held, lies in the operator's
  subtree and has no open transfer; the target exists, is active, is not a department and is
  not the member's organization; the route from the two sides' committees and regions; a
  transfer row inserted and the member's open transfer set;
- POST /v1/transfers/{id}/issue: the transfer (locked) is requested and its sending side in
  the operator's subtree; the letter number from the sending committee's counter row for the
  year (an upsert that locks the row); the transfer issued and the member in transit;
- POST /v1/transfers/{id}/receive: the transfer (locked) is issued and its receiving side in
  the operator's subtree; the receiving organization exists, holds members, is active, lies
  in the target's subtree and is not the sender; the transfer received and the member moved
  (its organization updated in place).

Request and response bodies are the API's own pydantic models (the same validation);
refusals are problem+json with the API's codes. Organizations carry their committee
(nearest committee-like organization at or above them) and a closure table of ancestors,
filled once when the store is loaded: the tree does not change during a benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg_pool import ConnectionPool

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.schemas import IssueRequest, ReceiveRequest, TransferCreate, TransferPublic  # noqa: E402
from domain.jurisdiction import ACT  # noqa: E402
from domain.organization import nearest_committee  # noqa: E402
from domain.vocabulary import HOLDING_KINDS, MAX_VALID_DAYS, NETWORK_STOPS, PAPER_STOPS  # noqa: E402

SCHEMA_DDL = (
    "CREATE TABLE crud_operators (token_sha256 text PRIMARY KEY, operator_id uuid NOT NULL, name text NOT NULL, "
    "role text NOT NULL, organization_code text NOT NULL, active boolean NOT NULL)",
    "CREATE TABLE crud_organizations (code text PRIMARY KEY, kind text NOT NULL, parent_code text, "
    "region text NOT NULL, status text NOT NULL, committee_code text NOT NULL)",
    "CREATE TABLE crud_org_closure (descendant text NOT NULL, ancestor text NOT NULL, "
    "PRIMARY KEY (descendant, ancestor))",
    "CREATE TABLE crud_members (registration_no text PRIMARY KEY, organization_code text NOT NULL, "
    "status text NOT NULL, place text NOT NULL, transfer_id uuid)",
    "CREATE TABLE crud_transfers (transfer_id uuid PRIMARY KEY, registration_no text NOT NULL, "
    "from_organization_code text NOT NULL, to_organization_code text NOT NULL, received_in_code text, "
    "status text NOT NULL, reason text NOT NULL, basis text NOT NULL, route text NOT NULL, letter_no text UNIQUE, "
    "requested_on date NOT NULL, issued_on date, valid_until date, received_on date, receipt_returned_on date)",
    "CREATE INDEX crud_transfers_member ON crud_transfers (registration_no)",
    "CREATE TABLE crud_letter_counters (committee_code text NOT NULL, year integer NOT NULL, "
    "last integer NOT NULL, PRIMARY KEY (committee_code, year))",
)
PUBLIC = ("transfer_id, letter_no, registration_no, from_organization_code, to_organization_code, "
          "received_in_code, status, reason, basis, route, requested_on, issued_on, valid_until, received_on, "
          "receipt_returned_on")
STATUS = {"unauthenticated": 401, "forbidden": 403, "out_of_jurisdiction": 403, "not_found": 404,
          "validation_error": 422, "future_date": 422, "validity_too_long": 422}


class Refused(Exception):
    """A refusal with the API's stable code (409 unless the code says otherwise)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, STATUS.get(code, 409)


@dataclass(frozen=True)
class Caller:
    role: str
    organization_code: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def route(from_committee: str, to_committee: str, from_region: str, to_region: str) -> str:
    if from_committee == to_committee:
        return "within_committee"
    if from_region == to_region:
        return "within_county"
    return "cross_county" if from_region[:2] == to_region[:2] else "cross_province"


def public(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [name.strip() for name in PUBLIC.split(",")]
    out = dict(zip(names, row, strict=True))
    out["transfer_id"] = str(out["transfer_id"])
    out["paper_stops"], out["network_stops"] = PAPER_STOPS[out["route"]], NETWORK_STOPS
    out["on_time"] = (out["received_on"] <= out["valid_until"]) if out["received_on"] else None
    return out


def effective(on: date | None) -> date:
    today = date.today()
    if on is None:
        return today
    if on > today:
        raise Refused("future_date", f"{on} is in the future")
    return on


# --- the three transactions (the caller's connection; it commits or rolls back) ----------------

def authenticate(conn: psycopg.Connection[Any], token: str | None) -> Caller:
    if not token:
        raise Refused("unauthenticated", "send Authorization: Bearer <token>")
    row = conn.execute("SELECT role, organization_code FROM crud_operators WHERE token_sha256 = %s AND active",
                       (token_digest(token),)).fetchone()
    if row is None:
        raise Refused("unauthenticated", "the token is unknown or revoked")
    if row[0] not in ACT:
        raise Refused("forbidden", f"the {row[0]} role can't do this (needs admin or clerk)")
    return Caller(row[0], row[1])


def request_transfer(conn: psycopg.Connection[Any], token: str | None, registration_no: str, to_code: str,
                     reason: str, basis: str, on: date | None) -> dict[str, Any]:
    caller = authenticate(conn, token)
    day = effective(on)
    member = conn.execute(
        "SELECT m.organization_code, m.place, m.transfer_id, o.committee_code, o.region, "
        "EXISTS (SELECT 1 FROM crud_org_closure c WHERE c.descendant = m.organization_code AND c.ancestor = %s) "
        "FROM crud_members m JOIN crud_organizations o ON o.code = m.organization_code "
        "WHERE m.registration_no = %s FOR UPDATE OF m", (caller.organization_code, registration_no)).fetchone()
    if member is None:
        raise Refused("not_found", f"no member {registration_no}")
    home, place, open_transfer, home_committee, home_region, within = member
    if place != "held":
        raise Refused("member_not_held", f"member {registration_no} is {place}")
    if not within:
        raise Refused("out_of_jurisdiction", f"organization {home} is outside the jurisdiction of "
                      f"{caller.organization_code}")
    if open_transfer is not None:
        raise Refused("transfer_open", f"member {registration_no} has an open transfer")
    target = conn.execute("SELECT kind, status, committee_code, region FROM crud_organizations WHERE code = %s",
                          (to_code,)).fetchone()
    if target is None:
        raise Refused("not_found", f"no organization {to_code}")
    kind, status, to_committee, to_region = target
    if to_code == home:
        raise Refused("same_organization", f"member {registration_no} is already held by {home}")
    if status != "active":
        raise Refused("organization_dissolved", f"organization {to_code} was dissolved")
    if kind == "department":
        raise Refused("cannot_hold_members", f"organization {to_code} is a department")
    transfer_id = uuid.uuid4()
    row = conn.execute(
        "INSERT INTO crud_transfers (transfer_id, registration_no, from_organization_code, to_organization_code, "
        "status, reason, basis, route, requested_on) VALUES (%s, %s, %s, %s, 'requested', %s, %s, %s, %s) "
        f"RETURNING {PUBLIC}",
        (transfer_id, registration_no, home, to_code, reason, basis,
         route(home_committee, to_committee, home_region, to_region), day)).fetchone()
    conn.execute("UPDATE crud_members SET transfer_id = %s WHERE registration_no = %s", (transfer_id, registration_no))
    assert row is not None
    return public(row)


def _transfer(conn: psycopg.Connection[Any], caller: Caller, transfer_id: str, side: str) -> tuple[Any, ...]:
    """The transfer's row, locked, if the caller acts on its sending (`from`) or receiving (`to`) side."""
    try:
        key = uuid.UUID(transfer_id)
    except ValueError:
        raise Refused("not_found", f"no transfer {transfer_id}") from None
    column = "t.from_organization_code" if side == "from" else "t.to_organization_code"
    row = conn.execute(
        "SELECT t.status, t.registration_no, t.from_organization_code, t.to_organization_code, t.valid_until, "
        "EXISTS (SELECT 1 FROM crud_org_closure c WHERE c.descendant = " + column + " AND c.ancestor = %s) "
        "FROM crud_transfers t WHERE t.transfer_id = %s FOR UPDATE", (caller.organization_code, key)).fetchone()
    if row is None:
        raise Refused("not_found", f"no transfer {transfer_id}")
    if not row[5]:
        raise Refused("out_of_jurisdiction", f"transfer {transfer_id} is outside the jurisdiction of "
                      f"{caller.organization_code}")
    return row


def issue_letter(conn: psycopg.Connection[Any], token: str | None, transfer_id: str, valid_days: int,
                 on: date | None) -> dict[str, Any]:
    caller = authenticate(conn, token)
    day = effective(on)
    status, _number, from_code, to_code, _valid, _ = _transfer(conn, caller, transfer_id, "from")
    if status != "requested":
        raise Refused("invalid_transition", f"transfer {transfer_id} is {status}; this needs it requested")
    if valid_days < 1:
        raise Refused("validation_error", "valid_days must be a whole number of days, at least 1")
    if valid_days > MAX_VALID_DAYS:
        raise Refused("validity_too_long", f"a letter is valid for at most {MAX_VALID_DAYS} days")
    sides = {code: rest for code, *rest in conn.execute(
        "SELECT code, status, committee_code, region FROM crud_organizations WHERE code IN (%s, %s)",
        (from_code, to_code)).fetchall()}
    to_status, to_committee, to_region = sides[to_code]
    _, committee, from_region = sides[from_code]
    if to_status != "active":
        raise Refused("organization_dissolved", f"organization {to_code} was dissolved")
    counter = conn.execute(
        "INSERT INTO crud_letter_counters AS c (committee_code, year, last) VALUES (%s, %s, 1) "
        "ON CONFLICT (committee_code, year) DO UPDATE SET last = c.last + 1 RETURNING last",
        (committee, day.year)).fetchone()
    assert counter is not None
    row = conn.execute(
        "UPDATE crud_transfers SET status = 'issued', letter_no = %s, issued_on = %s, valid_until = %s, route = %s "
        f"WHERE transfer_id = %s RETURNING {PUBLIC}",
        (f"{committee}-{day.year}-{counter[0]:05d}", day, day + timedelta(days=valid_days),
         route(committee, to_committee, from_region, to_region), uuid.UUID(transfer_id))).fetchone()
    assert row is not None
    conn.execute("UPDATE crud_members SET place = 'in_transit' WHERE registration_no = %s", (row[2],))
    return public(row)


def receive_member(conn: psycopg.Connection[Any], token: str | None, transfer_id: str, into_code: str,
                   on: date | None) -> dict[str, Any]:
    caller = authenticate(conn, token)
    day = effective(on)
    status, number, from_code, to_code, valid_until, _ = _transfer(conn, caller, transfer_id, "to")
    if status != "issued":
        raise Refused("invalid_transition", f"transfer {transfer_id} is {status}; this needs it issued")
    into = conn.execute(
        "SELECT kind, status, EXISTS (SELECT 1 FROM crud_org_closure c WHERE c.descendant = o.code "
        "AND c.ancestor = %s) FROM crud_organizations o WHERE o.code = %s", (to_code, into_code)).fetchone()
    if into is None:
        raise Refused("not_found", f"no organization {into_code}")
    kind, into_status, within = into
    if into_status != "active":
        raise Refused("organization_dissolved", f"organization {into_code} was dissolved")
    if kind not in HOLDING_KINDS:
        raise Refused("cannot_hold_members", f"organization {into_code} is a {kind}")
    if not within:
        raise Refused("not_in_target_subtree", f"{into_code} is not {to_code} or below it")
    if into_code == from_code:
        raise Refused("same_organization", f"the member was sent from {from_code}")
    if day > valid_until:
        raise Refused("letter_expired", f"the letter was valid until {valid_until}")
    row = conn.execute(
        "UPDATE crud_transfers SET status = 'received', received_in_code = %s, received_on = %s "
        f"WHERE transfer_id = %s RETURNING {PUBLIC}", (into_code, day, uuid.UUID(transfer_id))).fetchone()
    conn.execute("UPDATE crud_members SET organization_code = %s, place = 'held', transfer_id = NULL "
                 "WHERE registration_no = %s", (into_code, number))
    assert row is not None
    return public(row)


# --- the store -----------------------------------------------------------------------------------

def committee_of(code: str, kinds: dict[str, str], parents: dict[str, str | None]) -> str:
    chain: list[str] = []
    node: str | None = code
    while node is not None:
        chain.append(node)
        node = parents[node]
    return nearest_committee(chain, kinds.__getitem__)


def load(conn: psycopg.Connection[Any], organizations: Iterable[tuple[str, str, str | None, str, str]],
         members: Iterable[tuple[str, str, str, str, str | None]]) -> dict[str, int]:
    """Create the tables in the connection's schema and fill them: organizations as (code, kind,
    parent_code, region, status), members as (registration_no, organization_code, status,
    place, open transfer id)."""
    for statement in SCHEMA_DDL:
        conn.execute(statement)
    orgs = list(organizations)
    kinds = {code: kind for code, kind, *_ in orgs}
    parents = {code: parent for code, _, parent, *_ in orgs}
    with conn.cursor().copy("COPY crud_organizations (code, kind, parent_code, region, status, committee_code) "
                            "FROM STDIN") as copy:
        for code, kind, parent, region, status in orgs:
            copy.write_row((code, kind, parent, region, status, committee_of(code, kinds, parents)))
    with conn.cursor().copy("COPY crud_org_closure (descendant, ancestor) FROM STDIN") as copy:
        for code in kinds:
            node: str | None = code
            while node is not None:
                copy.write_row((code, node))
                node = parents[node]
    count = 0
    with conn.cursor().copy("COPY crud_members (registration_no, organization_code, status, place, transfer_id) "
                            "FROM STDIN") as copy:
        for number, org, status, place, transfer in members:
            copy.write_row((number, org, status, place, transfer))
            count += 1
    for table in ("crud_operators", "crud_organizations", "crud_org_closure", "crud_members"):
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return {"organizations": len(orgs), "members": count}


def grant(conn: psycopg.Connection[Any], role: str, organization_code: str) -> str:
    """A new operator's bearer token (random, stored as its SHA-256 only)."""
    token = uuid.uuid4().hex + uuid.uuid4().hex
    conn.execute("INSERT INTO crud_operators VALUES (%s, %s, %s, %s, %s, true)",
                 (token_digest(token), uuid.uuid4(), "bench clerk", role, organization_code))
    return token


# --- the HTTP service -------------------------------------------------------------------------------

def create_app(conninfo: str, schema: str, pool_min: int = 4, pool_max: int = 10) -> Any:
    pool = ConnectionPool(conninfo, min_size=pool_min, max_size=pool_max, timeout=30,
                          kwargs={"options": f"-c search_path={schema}"})
    pool.wait(timeout=30)
    app = FastAPI(title="CRUD peer")

    @app.exception_handler(Refused)
    def refused(_: Request, error: Refused) -> JSONResponse:
        return JSONResponse({"type": f"/problems/{error.code}", "title": "Refused", "status": error.status,
                             "detail": error.detail, "code": error.code}, status_code=error.status,
                            media_type="application/problem+json")

    def bearer(authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/transfers", status_code=201, response_model=TransferPublic)
    def request(body: TransferCreate, authorization: str | None = Header(None)) -> Any:
        with pool.connection() as conn:
            return request_transfer(conn, bearer(authorization), body.registration_no, body.to_organization_code,
                                    body.reason, body.basis, body.on)

    @app.post("/v1/transfers/{transfer_id}/issue", response_model=TransferPublic)
    def issue(transfer_id: str, body: IssueRequest, authorization: str | None = Header(None)) -> Any:
        with pool.connection() as conn:
            return issue_letter(conn, bearer(authorization), transfer_id, body.valid_days, body.on)

    @app.post("/v1/transfers/{transfer_id}/receive", response_model=TransferPublic)
    def receive(transfer_id: str, body: ReceiveRequest, authorization: str | None = Header(None)) -> Any:
        with pool.connection() as conn:
            return receive_member(conn, bearer(authorization), transfer_id, body.organization_code, body.on)

    return app


def main(argv: list[str] | None = None) -> int:
    import os

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", required=True)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test"))
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--pool-max", type=int, default=10)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.postgres_url, args.schema, pool_max=args.pool_max), host="127.0.0.1",
                port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
