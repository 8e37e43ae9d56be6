"""The dossier reports in Airflow's UI (glue only; the app is ``dossiers.api.report_pages``).

``fastapi_apps`` mounts the report pages at ``/dossier-reports``; ``external_views`` adds
"Dossier reports" to the UI's navigation, shown in an iframe (``url_route``), and the same
page in a new tab for the PDF and CSV files; both send the UI's session cookie, so the
pages are authenticated by Airflow as the user is. The app
is built on the first request: the many Airflow processes that load plugins without serving
HTTP import nothing of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
PREFIX = "/dossier-reports"


class _LazyApp:
    """An ASGI app that builds ``module:function`` on its first request."""

    def __init__(self, factory: str) -> None:
        self.factory = factory
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self._app is None:
            module, _, name = self.factory.partition(":")
            self._app = getattr(importlib.import_module(module), name)()
        await self._app(scope, receive, send)


class DossierReportsPlugin(AirflowPlugin):
    name = "dossier_reports"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": _LazyApp("dossiers.api.report_pages:create_app"), "url_prefix": PREFIX,
         "name": "Dossier reports"},
    ]
    # Two entries: the page inside the UI (its iframe is sandboxed by Airflow: HTML reports
    # read there, but downloads and the PDF viewer are blocked), and the same page in a tab
    # of its own (no ``url_route``), where the PDF and CSV files open.
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Dossier reports 檔案報告", "href": f"{PREFIX}/", "url_route": "dossier-reports",
         "destination": "nav", "category": "browse"},
        {"name": "Dossier reports, new tab (PDF, CSV) 檔案報告（新分頁）", "href": f"{PREFIX}/",
         "destination": "nav", "category": "browse"},
    ]
