"""JSON request bodies are read within ``authgate.jsonlimits``: too deep is a 400.

FastAPI (through Starlette's ``Request.json``) and pydantic parse a body recursively,
one level per bracket; ``[[[[...`` a few kilobytes long reaches the recursion limit.
This middleware sits inside the body-size limit, so the body it buffers is bounded,
and refuses a body nested deeper than ``MAX_DEPTH`` before the rate limiter, the CSRF
check or any route parses it (RFC 8259 s9 lets a parser limit the depth).
"""

from __future__ import annotations

from email.message import Message as _MimeMessage

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.http.error_responses import json_error
from authgate.jsonlimits import MAX_DEPTH, nesting_depth

__all__ = ["JsonBodyLimitMiddleware"]


class JsonBodyLimitMiddleware:
    """400 ``Invalid request`` for a JSON body nested deeper than ``max_depth``."""

    def __init__(self, app: ASGIApp, *, max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        body, replay = await _buffer(receive)
        if nesting_depth(body, stop_above=self.max_depth) > self.max_depth:
            response = json_error(400, "Invalid request", "The JSON body is nested too deeply")
            await response(scope, replay, send)
            return
        await self.app(scope, replay, send)


_PLAIN_JSON = frozenset({"application/json", "application/json; charset=utf-8"})


def _may_be_json(scope: Scope) -> bool:
    """A body that FastAPI would parse as JSON: declared JSON, or with no type at all."""
    content_type = None
    has_body = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            has_body = has_body or value not in (b"0", b"")
    if not has_body:
        return False
    if content_type is None:
        return True
    if content_type in _PLAIN_JSON:
        return True  # the usual header, without parsing it
    mime = _MimeMessage()
    mime["content-type"] = content_type
    subtype = mime.get_content_subtype()
    return mime.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the size limit outside bounds it) and a ``receive`` replaying it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", _replaying(message, receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replaying({"type": "http.request", "body": body, "more_body": False}, receive)


def _replaying(first: Message, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return replay
