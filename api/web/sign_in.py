"""Signing in and out: the clerks' pages here, and the steps the member's own pages
(api/web/member_pages.py) share with them. The form carries a nonce its cookie must match,
a token the API would refuse is refused here too, and the session's token is kept in a
cookie of its own (api/web/session.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.web.base import FormText, log, refusal, render, routes, safe_next
from api.web.i18n import error_text
from api.web.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    WebCaller,
    check_csrf,
    clear_cookie,
    language,
    new_sign_in_nonce,
    operator_for,
    set_cookie,
)


def sign_in_form(request: Request, nonce_cookie: str, status: int = 200, **form: Any) -> Response:
    """The sign-in form with a fresh nonce, which its cookie keeps."""
    nonce = new_sign_in_nonce()
    response = render(request, "sign_in.html", status=status, nonce=nonce, **form)
    set_cookie(request, response, nonce_cookie, nonce)
    return response


def signed_in(request: Request, nonce: str, token: str, cookies: tuple[str, str], who: Callable[[str], str | None],
              target: str, **form: Any) -> Response:
    """A sign-in sent: refused (403) unless the nonce is the one its cookie (`cookies[0]`)
    keeps; the form again (401) unless `who` knows the token (it names whom for the log);
    else to `target` with the token in the session's cookie (`cookies[1]`)."""
    nonce_cookie, session_cookie = cookies
    kept = request.cookies.get(nonce_cookie) or ""
    if not nonce or nonce != kept:
        return refusal(request, "csrf", 403, "")
    token = token.strip()
    whom = who(token) if token else None
    if whom is None:
        return sign_in_form(request, nonce_cookie, status=401, **form,
                            error=error_text("unauthenticated", language(request)))
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, session_cookie, token, max_age=12 * 3600)
    clear_cookie(request, response, nonce_cookie)
    log.info("web sign-in by %s", whom)
    return response


def signed_out(request: Request, submitted_csrf: str, session_cookie: str, target: str) -> Response:
    """A sign-out sent with the session's CSRF token: the session's cookie cleared, on to `target`."""
    check_csrf(request, submitted_csrf)
    response = RedirectResponse(target, status_code=303)
    clear_cookie(request, response, session_cookie)
    return response


@routes.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return sign_in_form(request, SIGN_IN_COOKIE, next=safe_next(next))


@routes.post("/sign-in")
def sign_in(request: Request, services: ServicesDep, token: FormText = "", nonce: FormText = "",
            next: FormText = "/web/") -> Response:
    def who(token: str) -> str | None:
        operator = operator_for(services, token)
        return f"operator {operator.id}" if operator else None

    return signed_in(request, nonce, token, (SIGN_IN_COOKIE, SESSION_COOKIE), who, safe_next(next),
                     next=safe_next(next))


@routes.post("/sign-out")
def sign_out(request: Request, operator: WebCaller, csrf_token: FormText = "") -> Response:
    return signed_out(request, csrf_token, SESSION_COOKIE, "/web/sign-in")
