"""The demo data set: the city of seed 001 (a city bureau's committee with 16 committees,
12 general branches, 238 branches and about 4,800 members) with the year up to today of
transfers (on time, late, overdue, cancelled, rejected), certificates (many never
returned), org life, dues and inactive members, recorded through the Ledger's own commands
(`api/simulation/`); and, today, a member hosted by another branch on a mobile
certificate and an open first-responder case, so that the hosted members' page and the
cases page show one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from api.simulation import SCALES, generate
from domain.errors import Conflict
from domain.ledger import Ledger

DEMO_ADMIN = "demo admin"


def load_demo(ledger: Ledger, seed: int = 1, progress: Any = None, scale_name: str = "city") -> str:
    """Load the demo into an empty store; returns a bearer token of an admin of its root."""
    if ledger.max_position():
        raise Conflict("the store is not empty: the demo loads only into an empty store")
    today = ledger.today()
    scale = replace(SCALES[scale_name], start=today - timedelta(days=365), end=today - timedelta(days=1))
    report = (lambda text: progress.print(text)) if progress is not None else None
    stats = generate(ledger, scale, seed, progress=report)
    add_today(ledger, stats["samples"]["committee"], stats["samples"]["branch"], today)
    _, token = ledger.grant_operator(DEMO_ADMIN, "admin", stats["samples"]["root"])
    return token


def holding_branches(ledger: Ledger, code: str) -> list[str]:
    """The active member-holding organizations of a subtree, in code order."""
    found, waiting = [], [code]
    while waiting:
        organization = ledger.organization(waiting.pop())
        if organization.status != "active":
            continue
        if organization.holds_members:
            found.append(organization.code)
        waiting += list(organization.children)
    return sorted(found)


def add_today(ledger: Ledger, committee: str, branch: str, today: date) -> None:
    """A member of `branch` working elsewhere for a while, hosted by another branch of the
    committee on a mobile certificate (seed 004), and a person asking the committee where
    their relationship sits (a first-responder case, seed 003), both through the Ledger."""
    host = next(code for code in holding_branches(ledger, committee) if code != branch)
    member = next(number for number in sorted(ledger.organization(branch).members)
                  if ledger.member(number).place == "held" and ledger.member(number).transfer_id is None
                  and not ledger.open_certificates(number))
    ledger.issue_certificate(member, kind="mobile", purpose="外出务工,就近参加组织生活", host_organization_code=host,
                             valid_until=today + timedelta(days=365), on=today)
    ledger.open_case(committee, name="王秀英", request="退休后查找本人组织关系所在,请协助查询", on=today)
