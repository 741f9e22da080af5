"""The access log: one JSON line per request, written without the logging machinery.

uvicorn's access log goes through ``logging`` (caller lookup, a LogRecord, the redaction
filter's three regular expressions, a formatter, a write and a flush per request), about
35 µs per request. This middleware writes the same line for a few microseconds:

- only when the ``authgate.access`` logger is enabled for INFO;
- the fast path only when that logger ends in authgate's own JSON handler (one
  ``StreamHandler`` with ``JsonFormatter`` and ``RedactingFilter``, as ``log_config``
  sets up); with any other logging setup it logs an ordinary record instead, which the
  configured filters and formatters see as usual;
- the line carries the path without its query string, and any path or client that is
  not made only of plain URL characters goes through ``redact`` and ``json.dumps``, so
  no token, code or secret reaches the log by this route either (OWASP ASVS V16);
- lines are buffered for one turn of the event loop and written together.

``authgate serve`` turns uvicorn's own access log off, so each request is logged once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.logconfig import JsonFormatter, RedactingFilter, redact

__all__ = ["ACCESS_LOGGER", "AccessLogMiddleware"]

ACCESS_LOGGER = "authgate.access"
# What a path or client may hold to be written as is: nothing a JWT, "Bearer x",
# "name=value" or a JSON escape could be made of (eyJ is checked separately).
_PLAIN = re.compile(r"[A-Za-z0-9/._~%@+!$()*,-]*")
_VERSIONS = frozenset({"1.0", "1.1", "2", "2.0", "3"})
_PEER = re.compile(r"[0-9A-Fa-f.:\[\]-]*")  # an IPv4 or IPv6 address and a port


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._pending: list[str] = []
        self._second = -1
        self._stamp = ""
        self._out: IO[str] | None = None
        self._peers: dict[Any, str] = {}
        self._json_handler: logging.Handler | None = None  # a StreamHandler once set
        self._json_parts: tuple[Any, ...] = ()
        self._paths: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled():
            await self.app(scope, receive, send)
            return

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.log(scope, message["status"])
            await send(message)

        await self.app(scope, receive, logging_send)

    def enabled(self) -> bool:
        """Whether requests are logged now (``authgate.access`` enabled for INFO)."""
        return self._logger.isEnabledFor(logging.INFO)

    def log(self, scope: Scope, status: int) -> None:
        """Log one request's line (its answer started with ``status``)."""
        self._log(scope, status)

    def _log(self, scope: Scope, status: int) -> None:
        now = time.time()
        if int(now) != self._second:
            self._tick(now)
        client = scope.get("client")
        path = scope.get("root_path", "") + scope["path"]  # never the query string
        method, version = scope["method"], scope["http_version"]
        # A connection sends its client tuple with every request, and a service sees the
        # same few paths: their checks are remembered (bounded: both are the client's).
        peer = self._peers.get(client) if client else _NO_PEER
        if peer is None and client:
            peer = _remember(self._peers, client, f"{client[0]}:{client[1]}", _PEER)
        plain = self._paths.get(path)
        if plain is None:
            plain = _remember(self._paths, path, _plain(path))
        if self._out is None or not (
            plain and type(peer) is _Plain and version in _VERSIONS and method.isalpha()
        ):
            self._slow(f'{peer} - "{method} {path} HTTP/{version}" {status}', now)
            return
        # Plain characters only: the JSON string needs no escaping but the quotes.
        self._queue(f'{peer} - \\"{method} {path} HTTP/{version}\\" {status}', now)

    def _slow(self, message: str, now: float) -> None:
        message = redact(message)
        if self._out is None:
            self._logger.info(message)
            return
        self._queue(json.dumps(message, ensure_ascii=False)[1:-1], now)

    def _tick(self, now: float) -> None:
        """Once a second: the time stamp's prefix, and where lines go now."""
        self._second = int(now)
        self._stamp = datetime.fromtimestamp(self._second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self._out = self._stream()

    def _queue(self, escaped_message: str, now: float) -> None:
        millis = int((now - self._second) * 1000)
        line = (
            f'{{"time": "{self._stamp}.{millis:03d}+00:00", "level": "info", '
            f'"logger": "{ACCESS_LOGGER}", "message": "{escaped_message}"}}\n'
        )
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(line)

    def _flush(self) -> None:
        lines, self._pending = self._pending, []
        stream = self._stream()
        if stream is None:  # the logging setup changed since: log them the slow way
            for line in lines:
                self._logger.info(json.loads(line)["message"])
            return
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # a closed stream must not break requests
            pass

    def _stream(self) -> IO[str] | None:
        """The stream of authgate's JSON handler when that is where the line would go.

        Checked before every write (a few attribute reads): the logging set-up may change
        at any time, and a line must never go where the set-up no longer sends it.
        """
        current: logging.Logger | None = self._logger
        while current is not None and not current.handlers:
            if not current.propagate:
                return None
            current = current.parent
        if current is None or len(current.handlers) != 1:
            return None
        handler = current.handlers[0]
        if handler is not self._json_handler:
            # A handler not seen before: is it authgate's JSON one (log_config)?
            if not (
                isinstance(handler, logging.StreamHandler)
                and isinstance(handler.formatter, JsonFormatter)
                and any(isinstance(f, RedactingFilter) for f in handler.filters)
            ):
                return None
            self._json_handler = handler
            self._json_parts = (handler.formatter, tuple(handler.filters))
        elif self._json_parts != (handler.formatter, tuple(handler.filters)):
            self._json_handler = None  # its formatter or filters changed: check again
            return self._stream()
        if handler.level > logging.INFO:
            return None
        stream: IO[str] = handler.stream  # type: ignore[attr-defined]
        return stream


_REMEMBERED = 1024


class _Plain(str):
    """A peer string made only of address characters (written as is)."""

    __slots__ = ()


_NO_PEER = _Plain("-")


def _remember(
    cache: dict[Any, Any], key: Any, value: Any, plain: re.Pattern[str] | None = None
) -> Any:
    if plain is not None:  # a peer: marked plain, or kept as an ordinary string
        value = _Plain(value) if plain.fullmatch(value) else str(value)
    if len(cache) >= _REMEMBERED:
        cache.clear()
    cache[key] = value
    return value


def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None and "eyJ" not in text
