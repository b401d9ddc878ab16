"""For auditors: the event stream itself, a verification of every view against a
re-derivation from the events (with how far the views checked trail the log) and of the
sealed log against the stored bytes, and signed checkpoints of the sealed log. The whole
stream is read by operators of a root."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.access import check_root_auditor
from api.deps import CurrentCaller, ServicesDep
from api.errors import ApiError
from api.routes.common import MinPosition, Number, router
from api.services import stored_record
from domain.identifiers import validate_registration_no
from domain.sealing import sign
from domain.settings import MissingSetting
from projections import access

routes = router("/v1/audit", "audit")




@routes.get("/events")
def events(services: ServicesDep, operator: CurrentCaller,
           after: Annotated[int, Query(ge=0, le=2**53), Number] = 0,
           limit: Annotated[int, Query(ge=1, le=5000), Number] = 500,
           min_position: MinPosition = None) -> Any:
    check_root_auditor(services, operator)
    data = []
    for stored in services.ledger.read_stored(after=after, limit=limit):
        data.append(stored_record(stored.id, stored, services.ledger.mapper))  # flagged when undecodable
        if len(data) >= limit:
            break
    services.record_access(operator, "export", scope=str(after))
    return {"data": data, "next_after": data[-1]["position"] if data else after}


@routes.get("/access")
def access_rows(services: ServicesDep, operator: CurrentCaller,
                after: Annotated[int, Query(ge=0, le=2**53), Number] = 0,
                limit: Annotated[int, Query(ge=1, le=5000), Number] = 500,
                registration_no: Annotated[str | None, Query(max_length=18)] = None,
                min_position: MinPosition = None) -> Any:
    """Who read which member's personal record, oldest first (projections/access.py)."""
    check_root_auditor(services, operator)
    number = validate_registration_no(registration_no) if registration_no else None
    with services.pool.connection() as db:
        data = access.rows(db, after, limit, number)
    return {"data": data, "next_after": data[-1]["position"] if data else after}


@routes.get("/verify")
def verify(services: ServicesDep, operator: CurrentCaller, min_position: MinPosition = None) -> Any:
    check_root_auditor(services, operator)
    verdict = services.sealer.verify()
    chain = verdict.as_dict()
    access_chain = services.sealer.verify(log=services.sealer.logs[1]).as_dict()
    # the views re-derived from the events once the chain checks out (not from a changed log)
    result = services.engine.verify_sealed(verdict)
    return {"ok": result["ok"] and chain["ok"] and access_chain["ok"], "events": result["events"],
            "position": result["position"],
            "mismatch_count": result["mismatch_count"],
            # which rows and columns differ, not their values (personal data: an auditor reads
            # the members' records through the calls that log it)
            "mismatches": [services.engine.difference(m) for m in result["mismatches"]],
            # the views were checked as they stood at `position`: how far that trails the log
            "lag": services.engine.lag(result["position"]),
            # the sealed log recomputed from the stored bytes (domain/sealing.py)
            "chain": chain, "access_chain": access_chain,
            # whether the views were compared, else why not and from which position
            "views": result["views"]}


@routes.get("/checkpoint")
def checkpoint(services: ServicesDep, operator: CurrentCaller, min_position: MinPosition = None) -> Any:
    """The last sealed position and its seal, signed with LEDGER_CHECKPOINT_KEY: kept by an
    auditor outside the database, it proves later that the log only grew."""
    check_root_auditor(services, operator)
    try:
        key = services.settings.checkpoint_secret()
    except MissingSetting as error:
        raise ApiError("not_ready", str(error), 503) from None
    position, root = services.sealer.checkpoint()
    return sign(position, root, key)
