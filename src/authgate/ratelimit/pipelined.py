"""One Redis connection with requests pipelined, for the limiter's per-request script call.

Every limited request makes one call (a GCRA script, ``EVALSHA``). Through redis-py's
pooled client that call cost 135-185 µs of CPU against 45 µs for the same command
written to one connection and parsed by hiredis (``bench/README.md``, 18.6): the pool,
per-read timeouts and the pure-Python parser were most of a refresh's limiter cost.
Here requests from all tasks share one connection: each writes its command and waits
for its reply, and replies come back in the order the commands were sent (Redis
answers each connection in order), so they are matched first in, first out.

Failure is loud and bounded: a call that gets no reply within ``timeout`` closes the
connection and fails every call waiting on it (a reply that might still come could no
longer be matched); a connection the server closed fails its waiting calls at once.
A call whose connection was closed under it (Redis restarted or dropped an idle client)
is tried once more on a fresh one, as redis-py's retry did (a script that ran before the
close may then count twice, never zero times); a timeout never is, since a hung server
would only hang again. The callers (``RateLimits``) then fail closed or open by group.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url

__all__ = ["PipelinedRedis", "RedisReplyError", "RedisUnavailableError", "pack_command"]


class RedisUnavailableError(ConnectionError):
    """No connection, a lost connection, or no reply in time."""


class RedisReplyError(Exception):
    """Redis answered the command with an error reply."""


def pack_command(*args: str | int | bytes) -> bytes:
    """One command as a RESP array of bulk strings (the encoding every client sends)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Link(asyncio.Protocol):
    """One connection: commands go out as they come, replies are matched in order."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if not self._waiting:  # a reply nobody asked for: the stream is out of step
                self.close(RedisUnavailableError("unexpected reply from Redis"))
                return
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisUnavailableError("Redis closed the connection"))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.closed or self._transport is None:
            future.set_exception(RedisUnavailableError("connection closed"))
            return future
        self._waiting.append(future)
        self._transport.write(command)
        return future

    def close(self, error: Exception) -> None:
        if self._transport is not None:
            self._transport.abort()
        self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.closed = True
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)


class PipelinedRedis:
    """``call(*args)``: one command over a shared connection, opened on first use."""

    def __init__(self, url: str, *, timeout: float) -> None:
        options: dict[str, Any] = dict(parse_url(url))
        self._timeout = timeout
        self._host: str = options.get("host", "localhost")
        self._port: int = options.get("port", 6379)
        self._path: str | None = options.get("path")  # unix://
        tls = options.get("connection_class") is SSLConnection
        self._ssl = _ssl_context(options) if tls else None
        self._hello = _handshake(options)
        self._link: _Link | None = None
        self._connecting = asyncio.Lock()

    async def call(self, *args: str | int | bytes) -> Any:
        """The reply to one command; raises ``RedisReplyError`` or ``RedisUnavailableError``."""
        command = pack_command(*args)
        link = self._link
        if link is not None and not link.closed:
            try:
                return await self._request(link, command)
            except RedisUnavailableError as exc:
                if isinstance(exc, _TimedOut) or not link.closed:
                    raise
                # The connection was already gone (a restart, an idle drop): once more.
        return await self._request(await self._connect(), command)

    async def run_script(
        self, sha: str, source: str, keys: Sequence[str], args: Sequence[int]
    ) -> Any:
        """A Lua script by its SHA1 (``EVALSHA``), sent whole (``EVAL``) if Redis lacks it
        (a restart or ``SCRIPT FLUSH`` emptied its script cache)."""
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.call("EVAL", source, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._link is not None:
            self._link.close(RedisUnavailableError("client closed"))
            self._link = None

    async def _request(self, link: _Link, command: bytes) -> Any:
        future = link.send(command)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._timeout, _expire, link, future)
        try:
            reply = await future
        finally:
            timer.cancel()
        if isinstance(reply, hiredis.ReplyError):
            raise RedisReplyError(str(reply))
        return reply

    async def _connect(self) -> _Link:
        async with self._connecting:
            if self._link is not None and not self._link.closed:
                return self._link  # another task connected while this one waited
            link: _Link | None = None
            try:
                async with asyncio.timeout(self._timeout):
                    link = await self._open()
                    for command in self._hello:
                        reply = await link.send(command)
                        if isinstance(reply, hiredis.ReplyError):
                            # The reply names the reason, never the password sent.
                            raise RedisUnavailableError(f"Redis refused the handshake: {reply}")
            except (OSError, TimeoutError, RedisUnavailableError) as exc:
                if link is not None:
                    link.close(RedisUnavailableError("handshake failed"))
                if isinstance(exc, RedisUnavailableError):
                    raise
                raise RedisUnavailableError(f"cannot reach Redis: {type(exc).__name__}") from exc
            self._link = link
            return link

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        if self._path is not None:
            _, link = await loop.create_unix_connection(_Link, self._path, ssl=self._ssl)
        else:
            _, link = await loop.create_connection(_Link, self._host, self._port, ssl=self._ssl)
        return link


class _TimedOut(RedisUnavailableError):
    """No reply within the timeout: never retried."""


def _expire(link: _Link, future: asyncio.Future[Any]) -> None:
    if not future.done():
        link.close(_TimedOut("no reply from Redis in time"))


def _handshake(options: dict[str, Any]) -> list[bytes]:
    commands = []
    password = options.get("password")
    if password is not None:
        username = options.get("username")
        auth = ("AUTH", username, password) if username else ("AUTH", password)
        commands.append(pack_command(*auth))
    if options.get("db", 0):
        commands.append(pack_command("SELECT", int(options["db"])))
    return commands


def _ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """``rediss://``: verified TLS, with the URL's CA, client certificate and mode."""
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    if str(options.get("ssl_check_hostname", "true")).lower() in ("false", "0", "no"):
        context.check_hostname = False
    if str(options.get("ssl_cert_reqs", "required")).lower() == "none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
