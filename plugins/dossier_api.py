"""Mount the dossier REST API into Airflow's API server at ``/dossier-api`` (glue only).

The app is ``dossiers.api.app.create_app()``, built on the first request (``LazyApp``) so
that the many Airflow processes that load plugins without serving HTTP stay cheap. Every
route except ``/health`` authenticates the caller with Airflow's own JWT check and maps the
Airflow username to a staff member. OpenAPI: ``/dossier-api/openapi.json``; docs:
``/dossier-api/docs``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from dossiers.api.mount import LazyApp


class DossierApiPlugin(AirflowPlugin):
    name = "dossier_api"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [{"app": LazyApp(), "url_prefix": "/dossier-api",
                                                     "name": "Dossier API"}]
