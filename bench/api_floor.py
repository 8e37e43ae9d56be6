"""The dossier API with two routes of its own for the API benchmark's floors (issue 16).

``GET /bench/empty`` answers ``{}`` with nothing behind it: uvicorn, FastAPI's routing and a
sync route (FastAPI's threadpool, as ``GET /dossiers/{no}``), and the client's own HTTP.
``GET /bench/floor`` adds what every authenticated route runs before its own work: Airflow's
``get_user`` (JWT validation and the revoked-token lookup). Neither touches the dossier
database. What the read costs above the floor is the dossier system's own.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from dossiers.api.app import create_app as create_dossier_app
from dossiers.api.deps import StaffUser


def create_app() -> FastAPI:
    app = create_dossier_app()

    @app.get("/bench/empty", include_in_schema=False)
    def empty() -> Response:
        return Response(b"{}", media_type="application/json")

    @app.get("/bench/floor", include_in_schema=False)
    def floor(user: StaffUser) -> Response:
        return Response(b"{}", media_type="application/json")

    return app
