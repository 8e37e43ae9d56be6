"""Cross-site request forgery: a state-changing request signed in by the Airflow UI's session
cookie must come from this server's own pages.

Both plugin apps (the API at ``/dossier-api``, the report pages at ``/dossier-reports``)
accept Airflow's ``_token`` cookie, because the UI's pages and its iframe send it. A browser
sends that cookie with a request that another site's page makes too (a form posted from
another port of the same host, or from a sibling subdomain, is "same-site", so even
``SameSite=Lax`` does not hold it back). So every request with a method that may change
something (anything but ``GET``, ``HEAD``, ``OPTIONS``, ``TRACE``) that carries the cookie is
refused with a 403 unless its ``Origin`` — or, when a browser sent none, its ``Referer`` —
is this server's origin: the ``Host`` the request was sent to, or Airflow's configured
``[api] base_url`` (set it behind a proxy that rewrites ``Host``).

**Bearer-token clients are unaffected**: a request without the cookie is never checked (a
page of another site cannot add an ``Authorization`` header without the server's CORS
consent, which neither app gives). A request with the cookie *and* a bearer token is checked
all the same: Airflow's ``JWTRefreshMiddleware`` resolves the cookie's user first, and
``get_user`` prefers that user to the bearer token's.

A refusal is one line, and — when the cookie names an Airflow user — logged in
``access_log`` (action ``api.cross_site``) as every other refusal is (Art. 18).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from dossiers.api.deps import DB_SLOTS, Unauthenticated, authenticated_user, engine
from dossiers.core.errors import CannotRun
from dossiers.core.permissions import log_refusal

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Airflow's session cookie (``airflow.api_fastapi.auth.managers.base_auth_manager.
#: COOKIE_NAME_JWT_TOKEN``; a test checks they agree — not imported, see ``deps``).
SESSION_COOKIE = "_token"
#: Methods that change nothing (RFC 9110 "safe"); every other method is checked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: ``access_log`` action of a refused cross-site request.
CROSS_SITE = "api.cross_site"
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def parse_origin(value: str | None) -> Origin | None:
    """``(scheme, host, port)`` of an origin or URL; ``None`` when it names none (``null``,
    not http(s), no host, a bad port)."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


@cache
def _configured_origin() -> Origin | None:
    # Imported on first use, not with this module: importing Airflow configures it from the
    # environment, which is not set yet where the app is only built (see ``deps``).
    from airflow.configuration import conf

    return parse_origin(conf.get("api", "base_url", fallback=None))


def own_origins(request: Request) -> set[Origin]:
    """This server's origins: where the request was sent, and Airflow's ``base_url``."""
    found = {parse_origin(f"{request.url.scheme}://{request.headers.get('host', '')}"),
             _configured_origin()}
    return {origin for origin in found if origin is not None}


def cross_site_reason(request: Request) -> str | None:
    """Why this request must be refused, or ``None`` when it may go on."""
    if request.method in SAFE_METHODS or SESSION_COOKIE not in request.cookies:
        return None
    sent = request.headers.get("origin")
    header = "Origin"
    if sent is None:
        sent, header = request.headers.get("referer"), "Referer"
    if sent is None:
        # Browsers send Origin with every POST, PUT, PATCH and DELETE, same-origin ones too
        # (the Fetch standard); a request with the session cookie and neither header comes
        # from an old browser, a privacy tool that strips both, or a script holding the
        # cookie: none of them can prove where it comes from, so it is refused (fail closed);
        # scripts use a bearer token.
        return "neither Origin nor Referer says which page sent it"
    if parse_origin(sent) in own_origins(request):
        return None
    shown = " ".join(sent.split())[:120] or "(empty)"
    return f"{header} {shown} is not this server's"


def _log(username: str, subject: str, reason: str) -> None:
    with DB_SLOTS, engine().connect() as conn:
        log_refusal(conn, username[:64], CROSS_SITE, subject[:500], reason)


async def _refuse(request: Request, reason: str, scope: Scope, receive: Receive,
                  send: Send) -> None:
    subject = f"{request.method} {request.url.path}"
    try:
        user = await authenticated_user(request, None)
    except Unauthenticated:
        user = None  # an invalid cookie: nobody to attribute it to, and nothing was done
    name = user.get_name() if user is not None else None
    if isinstance(name, str) and name.strip():
        try:
            await run_in_threadpool(_log, name, subject, reason)
        except (CannotRun, DBAPIError) as exc:  # refused all the same; say it in the log
            log.error("cross-site refusal of %s by %s not logged in access_log: %s", subject,
                      name, type(exc).__name__)
    response = JSONResponse(status_code=403, content={"detail": (
        f"request: refused: {subject} came with the Airflow session cookie but {reason} "
        "(a page of another site cannot act for a signed-in user); send the request from "
        "this server's pages, or as an API client with 'Authorization: Bearer <token>'")})
    await response(scope, receive, send)


class SameOriginGuard:
    """ASGI middleware: refuse a cross-site state-changing request signed in by the cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            reason = cross_site_reason(request)
            if reason is not None:
                await _refuse(request, reason, scope, receive, send)
                return
        await self.app(scope, receive, send)
