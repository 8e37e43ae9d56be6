"""Build the dossier API: one router per noun, shared auth and error handling (``deps``).

Mounted into Airflow's API server by ``plugins/dossier_api.py`` at ``/dossier-api``, its
OpenAPI document is ``/dossier-api/openapi.json`` and its docs ``/dossier-api/docs``. It
can also run on its own (tests, the benchmark: ``uvicorn --factory
dossiers.api.app:create_app``); its lifespan then creates Airflow's configured auth
manager, which validates the tokens. (Airflow does not run a mounted app's lifespan: it
has initialised its auth manager itself.)

A new noun is one module with a ``router`` added to :data:`ROUTERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dossiers.api.deps import install_error_handlers
from dossiers.api.same_origin import SameOriginGuard
from dossiers.core import paging

#: The router modules, in the order their routes appear in the OpenAPI document.
ROUTERS = ("system", "forms", "dossiers", "documents", "updates", "queries", "loans", "vault",
           "compliance")

DESCRIPTION = f"""\
The overseas-client dossier system of record (the same actions as the `dossier` CLI).

**Authentication**: an Airflow JWT (`POST /auth/token` on the Airflow API server) as
`Authorization: Bearer <token>`, or the Airflow UI's session. The Airflow username must be a
staff username; what the staff member may do follows the policy's role matrix. A request
that may change something (not `GET`) and carries the UI's session cookie must come from this
server's own pages (its `Origin`, or else `Referer`): otherwise 403, logged.

**Lists come in pages**: `{{"items": [...], "next": "<cursor>" | null}}`, at most `limit` rows
(default {paging.DEFAULT_LIMIT}, at most {paging.MAX_LIMIT}); send `next` back as `after` for
the rows that follow, until `next` is null. Each list has a fixed order, so the pages hold every row once.

**Errors**: `{{"detail": "<record>: <field>: <reason>"}}`; 401 no valid token, 403 not
allowed (logged), 404 no such record, 409 concurrent change, 422 invalid or refused.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Airflow is imported when the app starts, not with this module (see ``deps``: importing
    # it configures Airflow from the environment, not yet set where the app is only built).
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()  # the singleton Airflow's get_user() validates tokens with
    yield


def create_app() -> FastAPI:
    modules = [importlib.import_module(f"dossiers.api.{name}") for name in ROUTERS]
    app = FastAPI(
        title="Dossier API", version="1", description=DESCRIPTION, lifespan=_lifespan,
        openapi_tags=[{"name": str(m.router.tags[0]),
                       "description": (m.__doc__ or "").strip().split("\n")[0]} for m in modules],
    )
    install_error_handlers(app)
    app.add_middleware(SameOriginGuard)  # cross-site requests signed in by the UI's cookie
    for module in modules:
        app.include_router(module.router)
    return app
