"""What every route shares: who is calling, one transaction as them, and errors as HTTP.

**Authentication is Airflow's.** Airflow mounts a plugin's FastAPI app with ``app.mount``
and adds no authentication to it (``airflow/api_fastapi/app.py``, ``init_plugins``; its
root middleware ``JWTRefreshMiddleware`` only refreshes a UI cookie and never refuses a
request). So every route here except ``/health`` depends on :func:`airflow_username`, which
calls Airflow's own ``get_user`` (``airflow.api_fastapi.core_api.security``): the JWT from
``Authorization: Bearer …`` (``POST /auth/token``) or the UI's session cookie, checked by
the configured auth manager (signature, expiry, audience, revocation). Airflow answers an
invalid token with 403; this API answers every authentication failure with 401.

**Authorisation is the dossier system's.** The Airflow username must be a staff username
(403 otherwise, logged in ``access_log``); what that staff member may do is decided by
``dossiers.core.permissions.authorize`` inside the domain call, exactly as for the CLI.

**Cross-site requests**: a state-changing request signed in by the UI's cookie must come
from this server's pages (:mod:`dossiers.api.same_origin`, a middleware of both apps).

**Errors** are ``{"detail": "<one line naming the record, field and reason>"}``:
401 authentication, 403 :class:`~dossiers.core.errors.PermissionDenied` or not staff,
404 :class:`~dossiers.core.errors.NotFound`, 422 any other :class:`~dossiers.core.errors.Refused`
or an invalid request, 409 a concurrent change, 503 the database is unreachable. Nothing a
client sends yields a 500.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dossiers.core import db, directory
from dossiers.core.config import Settings, settings
from dossiers.core.crypto import KeyRing, MasterKey, master_key_from_settings
from dossiers.core.errors import CannotRun, NotFound, PermissionDenied, Refused
from dossiers.core.permissions import Actor, log_refusal
from dossiers.intake.reader import FileRefused

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_UNREAD: Any = object()  # load_actor: the staff row is still to be read

#: ``access_log`` action of a refused API call by someone who is not staff.
API_ACCESS = "api.access"


class ErrorBody(BaseModel):
    """Every error: one line naming the record, the field and the reason."""

    model_config = ConfigDict(extra="forbid")
    detail: str


#: The error answers every authenticated route may give (documented in the OpenAPI).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no valid Airflow token (or session cookie)"},
    403: {"model": ErrorBody,
          "description": "not a staff member, or the staff member may not do this (logged)"},
    404: {"model": ErrorBody, "description": "no such record"},
    409: {"model": ErrorBody, "description": "a concurrent change got there first; retry"},
    422: {"model": ErrorBody,
          "description": "invalid request, or refused by a rule (illegal transition, …)"},
    503: {"model": ErrorBody, "description": "the dossier database is unavailable"},
}


class ApiError(Exception):
    """An HTTP answer decided in this layer (authentication, staff check)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


# --- who is calling --------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False, scheme_name="AirflowJWT",
    description="A JWT issued by Airflow's API server: `POST /auth/token` with an Airflow "
                "username and password. The Airflow UI's session cookie works too.",
)


class Unauthenticated(Exception):
    """Airflow's own check refused the caller (no token, expired, invalid, revoked)."""


async def authenticated_user(request: Request,
                             credentials: HTTPAuthorizationCredentials | None) -> Any:
    """The Airflow user of the request (Bearer token or the UI's session cookie), checked by
    Airflow's own ``get_user`` — the one authentication of every plugin route (API, reports).
    Airflow mounts plugin apps without any; this is what protects them."""
    # Imported on the first request, not with this module: importing Airflow configures it
    # from the environment (AIRFLOW_HOME, its metadata DB), and this module is imported where
    # that is not set yet (building the OpenAPI document, the tests' collection).
    from airflow.api_fastapi.core_api.security import get_user

    try:
        return await get_user(request, None, credentials)
    except HTTPException as exc:  # Not authenticated / Token Expired / Invalid JWT token
        raise Unauthenticated(str(exc.detail)) from None


async def airflow_username(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """The Airflow user of the request, authenticated by Airflow's own ``get_user``."""
    try:
        user = await authenticated_user(request, credentials)
    except Unauthenticated as exc:
        raise ApiError(401, f"authentication: {exc}; send an Airflow JWT as "
                            "'Authorization: Bearer <token>' (POST /auth/token)",
                       {"WWW-Authenticate": "Bearer"}) from None
    name = user.get_name()
    if not isinstance(name, str) or not name.strip():
        raise ApiError(403, "user: the Airflow user has no username to match a staff member")
    return name


#: Units of work running at once, per API process. Each may hold two pooled connections
#: (its transaction, and the one that logs a refusal in ``access_log`` whatever the
#: outcome; an allowed read is logged in the transaction itself), and the pool keeps
#: ``db.POOL_SIZE`` open: this many at once never wait on each other and open no new
#: connection. (FastAPI's threadpool runs up to 40 requests at once.) The api-server runs
#: ``dossiers.airflow.topology.API_WORKERS`` such processes, each with its own pool.
UNITS_AT_ONCE = db.POOL_SIZE // 2
DB_SLOTS = threading.BoundedSemaphore(UNITS_AT_ONCE)

_SETUP = threading.Lock()  # engines and master keys are made once, by one thread
_ENGINES: dict[str | None, Engine] = {}


def engine(config: Settings | None = None) -> Engine:
    """The dossier database's engine, checked to answer once per database (not per request)."""
    key = (config or settings()).database_url
    found = _ENGINES.get(key)
    if found is None:
        with _SETUP:
            found = _ENGINES.get(key) or db.get_engine()  # CannotRun (503) if unreachable
            _ENGINES[key] = found
    return found


def load_actor(conn: Connection, username: str, row: Any = _UNREAD) -> Actor:
    """The staff member behind an Airflow username; 403 (logged) when there is none.
    ``row``: their row of ``directory.ACTOR`` if already read (``None``: not staff)."""
    if not username.strip():  # directory.load_actor would return the system actor
        raise ApiError(403, "user: no username")
    try:
        if row is _UNREAD:
            return directory.load_actor(conn, username)
        return directory.actor_from(username, row)
    except NotFound:
        reason = "authenticated by Airflow but not a staff member of the dossier system"
        log_refusal(conn, username, API_ACCESS, f"user {username}", reason)
        raise ApiError(403, f"user {username}: {reason}; the CS head onboards staff with "
                            "`dossier staff add`") from None


def require_staff(username: str) -> Actor:
    """403 (logged) unless the Airflow user is a staff member; in its own transaction."""
    with DB_SLOTS, db.transaction(engine()) as conn:
        return load_actor(conn, username)


#: The dependency of every authenticated route: the Airflow username of the caller. Whether
#: they are staff is checked by :func:`run`, in the transaction of the work itself.
StaffUser = Annotated[str, Depends(airflow_username)]


def run_fetched(username: str, fetch: Callable[[db.Autocommit], tuple[Any, R]],
                work: Callable[[db.Autocommit, Actor, R, Settings], T]) -> T:
    """The hot path's unit of work (issue 16): on a pooled connection in autocommit,
    ``fetch(unit)`` reads the caller's ``directory.ACTOR`` row and what the work needs in one
    round trip; then ``work(unit, actor, fetched, settings)``, whose statements commit as they
    run (a read's log row). 403 (logged) if not staff. ``settings()`` is read once."""
    config = settings()
    with DB_SLOTS, db.autocommit(engine(config)) as unit:
        actor_row, fetched = fetch(unit)
        return work(unit, load_actor(unit.conn, username, actor_row), fetched, config)


def run(username: str, work: Callable[[Connection, Actor], T]) -> T:
    """``work(conn, actor)`` in one transaction as the staff member (as the CLI's ``_acting``):
    committed whole when it returns, rolled back whole when it raises; 403 if not staff."""
    with DB_SLOTS, db.transaction(engine()) as conn:
        return work(conn, load_actor(conn, username))


_MASTERS: dict[tuple[str | None, str], MasterKey] = {}


def keyring(config: Settings | None = None) -> KeyRing:
    """A fresh key ring per request (data keys are never cached across requests, so a
    crypto-shredded dossier is unreadable at once); the master key is loaded once."""
    s = config or settings()
    where = (s.kms_key_id, str(s.master_key_file))
    if where not in _MASTERS:
        with _SETUP:
            if where not in _MASTERS:
                _MASTERS[where] = master_key_from_settings()
    return KeyRing(_MASTERS[where])


# --- errors as HTTP ----------------------------------------------------------------------------

def _answer(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    line = " ".join(str(detail).split()) or "error"
    return JSONResponse({"detail": line}, status_code=status, headers=dict(headers or {}))


def refused_status(exc: Refused) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    return 422


def _location(loc: list[Any]) -> str:
    where = str(loc.pop(0)) if loc and loc[0] in ("body", "query", "path", "header") else ""
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    if where and field:
        return where + field if field.startswith("[") else f"{where} {field}"
    return where or field or "request"


def validation_detail(errors: Any) -> str:
    """The first validation error as one line: where, which field, why (never the value)."""
    errors = list(errors) or [{"loc": [], "msg": "invalid request"}]
    first = errors[0]
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid" and (ctx := first.get("ctx")):
        message += f" ({ctx.get('error')})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{_location(list(first.get('loc', ())))}: {message}{more}"


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _answer(exc.status, exc.detail, exc.headers)


async def _on_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return _answer(refused_status(exc), str(exc))


async def _on_cannot_run(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, FileRefused):  # an imported body the reader refused whole
        return _answer(422, f"request body: refused: {exc.reason}")
    log.error("dossier API could not run: %s", exc)
    return _answer(503, "the dossier system cannot run right now (database or key "
                        "unavailable); nothing was changed, try again later")


async def _invalid_input(request: Request, detail: str) -> JSONResponse:
    """422, but authentication comes first: an unknown caller learns nothing about the body.

    (FastAPI parses the body before it runs the dependencies, so an invalid request reaches
    this point before anyone is authenticated.) ``/health`` takes no input, so every route
    that can fail here is an authenticated one.
    """
    try:
        username = await airflow_username(request, await bearer(request))
        await run_in_threadpool(require_staff, username)
    except ApiError as err:
        return _answer(err.status, err.detail, err.headers)
    return _answer(422, detail)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return await _invalid_input(request, validation_detail(exc.errors()))


#: FastAPI's 400 for a body it cannot even read as text (e.g. not UTF-8).
_UNPARSABLE = "There was an error parsing the body"


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE:
        return await _invalid_input(request, "body: cannot be parsed (JSON in UTF-8 expected)")
    return _answer(exc.status_code, str(exc.detail), exc.headers)


def _db_reason(exc: Exception) -> str:
    """What went wrong, for the server log, without the values (they may be personal)."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__} (SQLSTATE {getattr(orig, 'sqlstate', None) or '-'})"


async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Safety net under the API's own validation: a value the database itself refuses
    (also the report pages' handler)."""
    if isinstance(exc, DataError):
        log.warning("dossier API: the database refused a value: %s", _db_reason(exc))
        return _answer(422, "request: a value is out of range or malformed for the database")
    if isinstance(exc, IntegrityError):
        log.warning("dossier API: integrity conflict: %s", _db_reason(exc))
        return _answer(409, "request: conflicts with a concurrent change; nothing was "
                            "changed, retry")
    if isinstance(exc, OperationalError | SQLAlchemyTimeout):
        log.error("dossier API: database unavailable: %s", _db_reason(exc))
        return _answer(503, "the dossier database is unavailable; nothing was changed, "
                            "try again later")
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(Refused, _on_refused)
    app.add_exception_handler(CannotRun, _on_cannot_run)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(SQLAlchemyTimeout, on_database_error)
