"""An ASGI app that builds the dossier API on its first request (what the plugin mounts).

Airflow imports every plugin module in many processes that never serve HTTP (each task's
process loads plugins for macros and listeners, the scheduler and DAG processor for
timetables). Building the FastAPI app there would cost ≈ 0.5 s of imports each time, so
the plugin mounts this stand-in, which imports nothing beyond the standard library until
the API server hands it a request.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    """``factory`` is ``"module:function"`` returning an ASGI app; called once, on first use."""

    def __init__(self, factory: str = "dossiers.api.app:create_app") -> None:
        self.factory = factory
        self._app: ASGIApp | None = None

    @property
    def app(self) -> ASGIApp:
        if self._app is None:  # built in the event loop's thread: no await, no race
            module, _, name = self.factory.partition(":")
            self._app = getattr(importlib.import_module(module), name)()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"LazyApp({self.factory!r}, built={self._app is not None})"
