"""The outer layer of every request: access log, metrics, security headers, store outage.

The four only watch a request from outside: the status its answer starts with, the
headers that answer gets, the time it took, and an outage that ends it before any
answer. As four middlewares they cost four ``send`` wrappers and four coroutine frames
per request; this one layer does all four with one, in the order they had, outermost
first:

1. the access log (``http/access_log.py``) writes the final status;
2. metrics (``http/monitoring.py``) time everything and count the status;
3. security headers (``http/headers.py``) go on every answer, 503 included;
4. a store that cannot be reached becomes the documented 503 (``http/outage.py``).

Each part is the module's own code (the classes remain usable alone); which parts run
follows the settings exactly as the separate middlewares did.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.http.access_log import AccessLogMiddleware
from authgate.http.headers import SecurityHeadersMiddleware, add_headers
from authgate.http.outage import StoreOutageMiddleware
from authgate.metrics import Metrics
from authgate.storage.outage import is_unavailable

__all__ = ["EdgeMiddleware"]


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        metrics: Metrics | None = None,
        security_headers: dict[str, Any] | None = None,
    ) -> None:
        """``security_headers``: SecurityHeadersMiddleware's options, or None for none."""
        self.app = app
        self._access = AccessLogMiddleware(app) if access_log else None
        self._metrics = metrics
        self._headers = (
            SecurityHeadersMiddleware(app, **security_headers)
            if security_headers is not None
            else None
        )
        self._outage = StoreOutageMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = self._access if self._access is not None and self._access.enabled() else None
        extra = self._headers.headers_for(scope) if self._headers is not None else None
        metrics = self._metrics
        started_at = time.perf_counter() if metrics is not None else 0.0
        status = 500
        started = False

        async def edge_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                if extra is not None:
                    add_headers(message, extra)
                if access is not None:
                    access.log(scope, status)
            await send(message)

        try:
            await self.app(scope, receive, edge_send)
        except Exception as exc:
            if started or not is_unavailable(exc):
                raise
            await self._outage.answer(exc, scope, receive, edge_send)
        finally:
            if metrics is not None:
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started_at
                metrics.observe_request(scope["method"], route, status, elapsed)
