"""Forms sent once: a form whose second submit would record a second time (open a case,
request a transfer, a member's request or regular report) carries a one-time key in a
hidden field (`once`), fresh at each rendering. The page's handler runs its command
through the API's idempotency store (api/idempotency.py), as a POST with that
Idempotency-Key: the same form sent again (a double click, a reload of the POST) gets the
first answer (the same redirect) and records nothing; the same key with other values is
refused 422 `idempotency_key_reused`; one still running, 409 `conflict`. A refusal is not
kept (it recorded nothing): sent again, the form is judged again. A form sent without the
key (a script, a page from before) runs as before.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid5

from fastapi import Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from api.errors import ApiError
from api.idempotency import command_name, request_digest
from api.services import Services
from domain.commandkey import keyed
from domain.errors import ValidationError
from domain.identifiers import NAMESPACE

FIELD = "once"
KEY_MAX = 200
WAIT_SECONDS, WAIT_STEP = 10.0, 0.1  # how long a second submit waits for the first one's answer
REDIRECT = "text/uri-list"  # the media type a kept answer (a redirect's target) is stored under


def once_field() -> Markup:
    """The hidden field of a fresh one-time key (a template global: `{{ once_field() }}`)."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{secrets.token_urlsafe(18)}">')


def sent_once(request: Request, services: Services, who: str, key: str, fields: dict[str, Any],
              run: Callable[[], Response]) -> Response:
    """`run` (a form's command, answering a redirect) at most once for `key` sent by `who`
    (an operator's or a member's id, kept hashed) with `fields`: a second time, the first
    answer again."""
    key = key.strip()
    if not key:
        return run()
    if len(key) > KEY_MAX:
        raise ValidationError(f"{FIELD} is at most {KEY_MAX} characters")
    store = services.idempotency
    owner = f"web:{uuid5(NAMESPACE, 'web-form:' + who)}"
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
    digest = request_digest("POST", request.url.path, "", body)
    lease = services.settings.idempotency_lease_seconds
    claim = store.claim(owner, key, digest, lease)
    waited = 0.0
    while claim.verdict == "running" and waited < WAIT_SECONDS:  # a double click: the first one's answer
        time.sleep(WAIT_STEP)
        waited += WAIT_STEP
        claim = store.claim(owner, key, digest, lease)
    if claim.verdict == "reused":
        raise ApiError("idempotency_key_reused", "this form was sent before with other values", 422)
    if claim.verdict == "running":
        raise ApiError("conflict", "this form is still being sent", 409)
    if claim.answer is not None:
        return replayed(claim.answer)
    assert claim.holder is not None
    try:
        try:
            with keyed(command_name(owner, key, digest)):
                response = run()
        except BaseException:
            store.release(owner, key, claim.holder)  # a refusal records nothing: judged again next time
            raise
        location = response.headers.get("location")
        if response.status_code != 303 or not location:
            store.release(owner, key, claim.holder)
            return response
        first = store.complete(owner, key, 303, location.encode(), REDIRECT)
        return replayed(first) if first is not None else response
    finally:
        store.ended(owner, key, claim.holder)


def replayed(answer: tuple[int, str, str | None]) -> Response:
    status, text, media_type = answer
    if media_type == REDIRECT:
        return RedirectResponse(text, status_code=status)
    return Response(text, status_code=status, media_type=media_type)
