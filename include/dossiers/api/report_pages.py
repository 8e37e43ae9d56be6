"""The report pages in the Airflow UI: a small FastAPI app (``plugins/dossier_reports.py``
mounts it at ``/dossier-reports``; the UI shows it in an iframe through ``external_views``).

- ``GET /`` — the stored reports, latest first, with links (HTML, autoescaped). The links
  open in the same frame: the UI's iframe is sandboxed (``allow-scripts allow-same-origin
  allow-forms``, fixed by Airflow), so a link to a new window is dead there. The sandbox also
  blocks downloads and Chromium's PDF viewer: in the UI's view the HTML reports open, while
  PDF and CSV open from this page in a tab of its own (tests/airflow/test_report_pages.py);
- ``GET /reports/{id}`` — one stored report as recorded in ``report``; its bytes are checked
  against the recorded SHA-256 before they are served (409 when the store disagrees). GX's
  Data Docs (kind ``data_docs``, format ``zip``: the zipped site of a completeness run,
  :mod:`dossiers.reports.data_docs`) are listed and served the same way, as a download;
- ``GET /latest/{kind}?format=html`` — the latest period of a kind;
- ``GET /health`` — readiness, no authentication.

**Authentication is Airflow's**: Airflow mounts a plugin app as it is and protects none of
its routes, so every route but ``/health`` depends on :func:`airflow_user`, which calls
Airflow's own ``get_user`` (a JWT from ``Authorization: Bearer`` — ``POST /auth/token`` —
or the UI's ``_token`` session cookie, which the iframe sends). Any failure is a 401.
Nothing a client sends yields a 500: an id outside ``bigint``, a kind that is no kind (a NUL,
too long) or an unknown format is a one-line 422, a valid id or kind without a report a 404.
**Authorisation is the dossier system's**: the Airflow user must be a staff member whose
roles allow ``report.read`` (:mod:`dossiers.reports.catalogue`); otherwise 403, logged in
``access_log``. A department head reads their department's edition of the reports with rows
about each department or person, at the same links; the whole is ``report.read_all``. A
request that may change something and carries the cookie must come from this server's pages
(:mod:`dossiers.api.same_origin`). Reports carry dossier numbers and counts, never personal
data (Art. 18).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from dossiers.api.deps import (
    ApiError,
    Unauthenticated,
    authenticated_user,
    load_actor,
    on_database_error,
    validation_detail,
)
from dossiers.api.same_origin import SameOriginGuard
from dossiers.core import db
from dossiers.core.errors import CannotRun, NotFound, PermissionDenied
from dossiers.core.permissions import Actor
from dossiers.duties.runs import period_start
from dossiers.reports import catalogue
from dossiers.reports.html import CSP, environment
from dossiers.reports.model import FORMATS, KIND_MAX, KINDS, SLUG_PATTERN, Label
from dossiers.reports.store import CONTENT_TYPES, open_store

log = logging.getLogger(__name__)
PREFIX = "/dossier-reports"

#: GX Data Docs, published next to the reports by the completeness duty.
DATA_DOCS = "data_docs"
#: Every format a ``report`` row has: the reports' three, and the zip of the Data Docs site.
ALL_FORMATS: tuple[str, ...] = (*FORMATS, "zip")
#: Each kind's title on the index: the reports' own, and the Data Docs'.
TITLES: dict[str, Label] = {**{kind: title for kind, (title, _) in KINDS.items()},
                            DATA_DOCS: Label("數據質量文檔（GX Data Docs，網站壓縮檔）",
                                             "GX Data Docs (the site, zipped)")}
#: A report's CSV is the zip of its tables; the Data Docs' zip is a zip.
MEDIA = {"pdf": CONTENT_TYPES["pdf"], "html": CONTENT_TYPES["html"], "csv": CONTENT_TYPES["zip"],
         "zip": CONTENT_TYPES["zip"]}
#: Served for the browser to show; every other format is a download.
INLINE = frozenset({"pdf", "html"})
bearer = HTTPBearer(auto_error=False, scheme_name="AirflowJWT")
T = TypeVar("T")

#: ``report.id`` is a ``bigint``: an id outside it is refused (422), not sent to the database.
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: A kind as :mod:`dossiers.reports.model` names them (so no NUL or overlong text reaches SQL).
Kind = Annotated[str, Path(min_length=1, max_length=KIND_MAX, pattern=SLUG_PATTERN)]


async def airflow_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """The Airflow username of the request, checked by Airflow's own ``get_user``.

    Not signed in: a browser asking for a page (``Accept: text/html``) is sent to Airflow's
    login page, which brings it back here; any other client gets a 401 with the reason."""
    try:
        user = await authenticated_user(request, credentials)
    except Unauthenticated as exc:
        if "text/html" in request.headers.get("accept", ""):
            raise HTTPException(303, headers={"Location": _login_url(request)}) from None
        raise HTTPException(401, f"authentication: {exc}; sign in to Airflow or send "
                                 "'Authorization: Bearer <token>' (POST /auth/token)",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    return str(user.get_name())


def _login_url(request: Request) -> str:
    """Airflow's login page, returning to the requested page (under Airflow's base path)."""
    mount = request.scope.get("root_path", "")  # e.g. /dossier-reports, or /base/dossier-reports
    here = mount + request.scope.get("path", "").removeprefix(mount)
    if request.url.query:
        here += f"?{request.url.query}"
    return f"{mount.removesuffix(PREFIX)}/auth/login?next={quote(here, safe='/')}"


User = Annotated[str, Depends(airflow_user)]


def _reports(username: str, read: Callable[[Connection, Actor], T]) -> T:
    """``read`` as the staff member behind the Airflow user, in one transaction (403, logged,
    when the user is not staff or may not read reports)."""
    with db.transaction() as conn:
        return read(conn, load_actor(conn, username))


def _serve(row: Any) -> Response:
    data = open_store().get(row.uri)
    digest = hashlib.sha256(data).hexdigest()
    if digest != row.sha256:
        log.error("report %s (%s) digest %s, recorded %s", row.id, row.uri, digest, row.sha256)
        raise HTTPException(409, f"report {row.id}: the stored object does not match the digest "
                                 "recorded when it was published")
    ext = {"csv": "-csv.zip"}.get(row.format, f".{row.format}")
    edition = f"-{row.department}" if getattr(row, "department", None) else ""
    name = f"{row.kind}-{row.period}{edition}{ext}"
    disposition = "inline" if row.format in INLINE else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}"',
               "X-Report-SHA256": row.sha256, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": f"{CSP}; frame-ancestors 'self'"}
    # a format this page does not know yet is still served, as bytes to download
    return Response(data, media_type=MEDIA.get(row.format, "application/octet-stream"),
                    headers=headers)


def create_app() -> FastAPI:
    app = FastAPI(title="Dossier reports", docs_url=None, redoc_url=None, openapi_url=None)
    # The pages only read today; the guard keeps any route added later safe from a
    # cross-site request signed in by the UI's cookie (dossiers.api.same_origin).
    app.add_middleware(SameOriginGuard)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(PermissionDenied)
    async def _denied(_: Request, exc: PermissionDenied) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(ApiError)
    async def _not_staff(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(CannotRun)
    async def _cannot_run(_: Request, exc: CannotRun) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # only paths and queries: reached after the user is authenticated (the dependency
        # runs before the parameters are checked), so no body or caller check is needed here
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(SQLAlchemyTimeout, on_database_error)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        latest: dict[str, str] = {}
        for r in _reports(user, catalogue.listing):  # newest first: a line per kind and period
            latest.setdefault(r.kind, r.period)
            groups.setdefault((r.kind, r.period), {})[r.format] = r
        # newest period first across kinds (as text, "2026-Q3" would sort above "2026-11")
        ordered = sorted(groups.items(), key=lambda g: (-period_start(g[0][1]).toordinal(),
                                                        g[0][0]))
        page = environment().get_template("index.html.j2").render(
            groups=[{"kind": k, "period": p,
                     "formats": [f[x] for x in ALL_FORMATS if x in f]
                     + [f[x] for x in sorted(f) if x not in ALL_FORMATS],
                     "published": max(r.created_at for r in f.values()),
                     "latest": latest[k] == p} for (k, p), f in ordered],
            kinds=TITLES, user=user, base=request.scope.get("root_path", ""), csp=CSP)
        return HTMLResponse(page, headers={"Content-Security-Policy": f"{CSP}; frame-ancestors 'self'"})

    @app.get("/reports/{report_id}")
    def one(report_id: ReportId, user: User) -> Response:
        return _serve(_reports(user, lambda conn, actor: catalogue.one(conn, actor, report_id)))

    @app.get("/latest/{kind}")
    def latest_of(kind: Kind, user: User, format: Annotated[str, Query()] = "html") -> Response:
        if format not in ALL_FORMATS:
            raise HTTPException(422, f"format: one of {', '.join(ALL_FORMATS)}")
        return _serve(_reports(user, lambda conn, actor: catalogue.latest(conn, actor, kind,
                                                                          format)))

    return app
