"""Sign-in for the web pages: the operator token in an HttpOnly, SameSite=Strict cookie,
checked exactly as the API checks a bearer token, and a CSRF token bound to it.

The CSRF token is an HMAC of the session token under the ledger's key (with a label of
its own), so it needs no server-side state, changes with every sign-in and is checked
on every POST. The sign-in form itself carries a random value that must match a cookie
set when the form was shown (double submit), so no other site can sign a clerk in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from api.deps import Caller, ServicesDep, get_caller
from api.errors import ApiError
from api.services import Services
from api.web.i18n import DEFAULT_LANGUAGE, LANGUAGES

SESSION_COOKIE = "ledger_session"
MEMBER_SESSION_COOKIE = "ledger_member_session"  # a member's own pages (/web/me): a session of its own
SIGN_IN_COOKIE = "ledger_sign_in"
LANGUAGE_COOKIE = "ledger_lang"
COOKIE_PATH = "/"


class SignInRequired(Exception):
    """No session, or its token is unknown or revoked: show the sign-in page."""


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANGUAGE_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT_LANGUAGE


def is_member_page(path: str) -> bool:
    return path == "/web/me" or path.startswith("/web/me/")


def csrf_token(services: Services, session_token: str) -> str:
    key = services.settings.id_key.get_secret_value().encode()
    return hmac.new(key, b"web-csrf\0" + session_token.encode(), hashlib.sha256).hexdigest()


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def operator_for(services: Services, token: str) -> Caller | None:
    """The operator of a token, by the API's own bearer check; None when refused."""
    try:
        return get_caller(services, authorization=f"Bearer {token}", x_request_id=None)
    except ApiError as error:
        if error.code in ("unauthenticated", "forbidden"):  # forbidden: a member's token
            return None
        raise


def web_caller(request: Request, services: ServicesDep) -> Caller:
    token = request.cookies.get(SESSION_COOKIE)
    operator = operator_for(services, token) if token else None
    if operator is None:
        raise SignInRequired
    request.state.csrf = csrf_token(services, token or "")
    return operator


WebCaller = Annotated[Caller, Depends(web_caller)]


def check_csrf(request: Request, submitted: str) -> None:
    """Every POST carries the session's CSRF token (nothing is done without it)."""
    expected = getattr(request.state, "csrf", None)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise ApiError("csrf", "the form's CSRF token is missing or wrong", 403)
