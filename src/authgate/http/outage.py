"""The one place that turns "the store cannot be reached" into 503, for every route.

Routes and middleware below this one may meet a database that is down, starting up
or failing over in many ways: ``StorageUnavailableError`` from the store boundary, or a
raw SQLAlchemy/asyncpg/aiosqlite error from a query outside it. Whatever
``storage.outage.is_unavailable`` recognises becomes the documented 503 with
``Retry-After`` instead of a 500. Anything else is a bug and goes on to the 500 handler.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.errors import StorageUnavailableError
from authgate.http.error_responses import error_response, unavailable_response
from authgate.storage.outage import is_unavailable
from authgate.supervision import describe

__all__ = ["StoreOutageMiddleware"]

logger = logging.getLogger("authgate.http")

_LOG_EVERY = 10.0  # seconds: one warning per burst, not one per request


class StoreOutageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._logged_at = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not is_unavailable(exc):
                raise
            await self.answer(exc, scope, receive, send)

    async def answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """The 503 for an outage ``is_unavailable`` recognised, before any answer started."""
        self._log(exc)
        if isinstance(exc, StorageUnavailableError):
            await error_response(exc)(scope, receive, send)
        else:
            await unavailable_response()(scope, receive, send)

    def _log(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            # The type chain only: driver messages can carry statement parameters.
            logger.warning("store unavailable, answering 503 (%s)", describe(exc))
