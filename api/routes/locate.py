"""Locating a relationship across jurisdictions (API.md "Locating a relationship"): any admin
or clerk who holds a member's registration number and resident ID number learns where the
member's relationship is (the organization and its committee), and nothing personal.

Both numbers must belong to the same living member; anything else is one and the same
404 `not_found`, which says nothing of which number failed, and both are checked in full
either way (domain/ledger/application.py `Ledger.locate`). Every call, found or not, is a
row of the access log (projections/access.py; the ID number is not written there), and the
server's request log shows the ID number's parameter blanked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from api.access import MEMBER_ROLES
from api.deps import CurrentCaller, ServicesDep
from api.errors import ApiError
from api.presenters import located
from api.routes.common import MinPosition, router

routes = router("/v1/locate", "locate")
NOT_FOUND = "no living member holds both numbers"
# A number longer than any is still a call to log (then 422, as any malformed number): the
# bound only keeps what a request may carry short.
LONGEST = 64


def logged(request: Request, services: ServicesDep, operator: CurrentCaller) -> None:
    """The call, written to the access log before anything else is checked: found or not,
    malformed, missing a number or refused to the caller's role (a dependency runs before
    the route's own parameters are checked)."""
    number = request.query_params.get("registration_no") or ""
    services.record_access(operator, "locate", registration_no=number.strip().upper()[:18])


@routes.get("", dependencies=[Depends(logged)])
def locate(services: ServicesDep, operator: CurrentCaller,
           registration_no: Annotated[str, Query(min_length=1, max_length=LONGEST)],
           id_card_no: Annotated[str, Query(min_length=1, max_length=LONGEST)],
           min_position: MinPosition = None) -> Any:
    operator.require(*MEMBER_ROLES)
    member = services.ledger.locate(registration_no, id_card_no)
    if member is None:
        raise ApiError("not_found", NOT_FOUND, 404)
    return located(services, member.registration_no, member.place, member.organization_code)
