"""``GET /oauth2/revocations``: the revocation feed for resource servers elsewhere.

A resource server authenticates as its client (HTTP Basic, RFC 6749 s2.3.1: a client
from ``authgate clients create``) and asks for the events after the cursor it holds:

    GET /oauth2/revocations?after=41&wait=25
    -> {"events": [{"id": 42, "kind": "session", "subject": "...", "revokedAt": ...,
                    "until": ...}], "cursor": 42, "now": 1764590000}

``after=0`` returns every revocation whose tokens may still be alive. With ``wait`` (a
long poll, at most ``AUTHGATE_REVOCATION_FEED_MAX_WAIT`` seconds) the answer comes as
soon as there is news, or empty when the wait is over; either answer confirms the
reader's view as of ``now``. Events carry ids and times only, never a token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authgate.agents.registry import InvalidClientError, parse_basic_auth
from authgate.errors import AuthgateError
from authgate.http.dependencies import get_runtime
from authgate.http.oauth2_form import NO_STORE, OAuthRequestError, oauth_error
from authgate.runtime import Runtime
from authgate.storage.revocation_events import Revocation

__all__ = ["router"]

router = APIRouter(prefix="/oauth2", tags=["oauth2"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_MAX_CURSOR = 2**63 - 1


@router.get("/revocations")
async def revocations(request: Request, runtime: RuntimeDep) -> JSONResponse:
    try:
        await _authenticate(request, runtime)
        after = _number(request, "after", 0, _MAX_CURSOR)
        wait = _number(request, "wait", 0, int(runtime.settings.revocation_feed_max_wait))
    except AuthgateError as exc:
        return oauth_error(exc)
    events, cursor = await _read(runtime, after, wait, request)
    body = {
        "events": [event.as_json() for event in events],
        "cursor": cursor,
        "now": int(runtime.clock()),
    }
    return JSONResponse(body, headers=NO_STORE)


async def _authenticate(request: Request, runtime: Runtime) -> None:
    basic = parse_basic_auth(request.headers.get("authorization"))
    if basic is None:
        raise InvalidClientError()
    client = await runtime.clients.authenticate(*basic)
    if client.kind != "resource_server":
        raise OAuthRequestError("Only resource servers read this feed", error="unauthorized_client")


def _number(request: Request, name: str, default: int, maximum: int) -> int:
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1 or not values[0].isdigit() or len(values[0]) > 19:
        raise OAuthRequestError(f"{name} must be one non-negative integer")
    return min(int(values[0]), maximum)


async def _read(
    runtime: Runtime, after: int, wait: int, request: Request
) -> tuple[list[Revocation], int]:
    # Monotonic: the long poll must end after ``wait`` even under a frozen test clock.
    deadline = time.monotonic() + wait
    gone: asyncio.Task[None] | None = None
    try:
        while True:
            events, cursor = await runtime.revocation_events.after(after)
            remaining = deadline - time.monotonic()
            if events or cursor != after or remaining <= 0:
                return events, cursor
            # A reader that hung up ends its poll at once: nothing is held for it, and
            # a server stopping is not kept waiting for an answer nobody will read.
            gone = gone or asyncio.ensure_future(_disconnected(request))
            news = asyncio.ensure_future(runtime.revocation_follower.wait_for_news(remaining))
            await asyncio.wait((news, gone), return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                news.cancel()
                return [], after
    finally:
        if gone is not None:
            gone.cancel()


async def _disconnected(request: Request) -> None:
    """Return when the client has gone (the request has no body left to read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
