"""Request latency for Prometheus, and the ``/metrics`` endpoint.

``/metrics`` is open by default (bind it to an internal network) or, with
``AUTHGATE_METRICS_TOKEN`` set, needs ``Authorization: Bearer <that token>``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.errors import TokenMissingError
from authgate.http.error_responses import error_response
from authgate.metrics import CONTENT_TYPE, Metrics

__all__ = ["MetricsMiddleware", "metrics_endpoint"]


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(scope["method"], route, status, elapsed)


def metrics_endpoint(
    metrics: Metrics, token: str | None
) -> Callable[[Request], Awaitable[Response]]:
    expected = token.encode("utf-8") if token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode("utf-8", "replace"), expected
            ):
                return error_response(TokenMissingError("Provide the metrics token"))
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return endpoint
