"""A resource server's view of authgate's revocations, kept current by following the feed.

The view holds every revoked session, agent (client) and key whose tokens may still be
alive (each entry until its ``until``). ``HttpRevocationFollower`` long-polls
``GET /oauth2/revocations?after=CURSOR`` as the resource server's client (HTTP Basic);
each answer confirms the view as of that moment. A view not confirmed for longer than
``max_staleness`` is ``stale``: verification then fails closed (503) unless the
deployment chose otherwise.

The follower is a plain coroutine loop that logs and retries every error, so a
supervisor may wrap it but never needs to restart it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

__all__ = ["HttpRevocationFollower", "RevocationView"]

logger = logging.getLogger("authgate.resource")

_MAX_BACKOFF = 5.0


class RevocationView:
    def __init__(self, *, max_staleness: float, clock: Callable[[], float] = time.time) -> None:
        self._sessions: dict[str, float] = {}
        self._agents: dict[str, tuple[int, float]] = {}  # client id -> (revoked_at, until)
        self._keys: dict[str, float] = {}
        self._max_staleness = max_staleness
        self._clock = clock
        self._confirmed_at: float | None = None  # monotonic
        self.on_key_revoked: Callable[[str], None] | None = None

    @property
    def stale(self) -> bool:
        confirmed = self._confirmed_at
        return confirmed is None or time.monotonic() - confirmed > self._max_staleness

    def confirm(self) -> None:
        self._confirmed_at = time.monotonic()

    def apply(self, event: Mapping[str, Any]) -> None:
        kind, subject, until = event.get("kind"), event.get("subject"), event.get("until")
        if not isinstance(subject, str) or not isinstance(until, int | float):
            return
        if kind == "session":
            self._sessions[subject] = max(until, self._sessions.get(subject, 0))
        elif kind == "agent":
            revoked_at = event.get("revokedAt")
            if isinstance(revoked_at, int):
                previous = self._agents.get(subject, (0, 0.0))
                self._agents[subject] = (max(revoked_at, previous[0]), max(until, previous[1]))
        elif kind == "key":
            self._keys[subject] = until
            if self.on_key_revoked is not None:
                self.on_key_revoked(subject)

    def revoked(
        self, *, session_id: str | None, client_id: str | None, iat: float, kid: str
    ) -> bool:
        """Whether a token with these claims was killed by a revocation the view holds."""
        if session_id is not None and session_id in self._sessions:
            return True
        if kid in self._keys:
            return True
        agent = self._agents.get(client_id) if client_id is not None else None
        # Whole seconds on both sides: a token from the revocation's second is refused.
        return agent is not None and iat <= agent[0]

    def purge(self) -> None:
        now = self._clock()
        for table in (self._sessions, self._keys):
            for subject in [s for s, until in table.items() if until <= now]:
                del table[subject]
        for subject in [s for s, (_, until) in self._agents.items() if until <= now]:
            del self._agents[subject]


class HttpRevocationFollower:
    def __init__(
        self,
        *,
        url: str,
        view: RevocationView,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        wait: float = 20.0,
    ) -> None:
        self._url = url
        self._view = view
        self._http = http
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._wait = int(max(0, wait))
        self.cursor = 0
        self.synced = asyncio.Event()

    async def run(self) -> None:
        backoff = 0.25
        while True:
            try:
                await self.poll(wait=self._wait if self.synced.is_set() else 0)
            except Exception as exc:  # keep following: the next attempt retries
                if backoff == 0.25 or backoff == _MAX_BACKOFF:
                    logger.warning("revocation feed at %s: %s", self._url, type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(_MAX_BACKOFF, backoff * 2)
            else:
                if backoff > 0.25:
                    logger.info("revocation feed at %s reachable again", self._url)
                backoff = 0.25

    async def poll(self, *, wait: int = 0) -> int:
        """One request; the number of events applied. Raises on any failure."""
        response = await self._http.get(
            self._url,
            params={"after": self.cursor, "wait": wait},
            auth=self._auth,
            timeout=wait + 10.0,
        )
        response.raise_for_status()
        body = response.json()
        events, cursor = body["events"], body["cursor"]
        if not isinstance(events, list) or not isinstance(cursor, int):
            raise ValueError("not a revocation feed answer")
        for event in events:
            if isinstance(event, dict):
                self._view.apply(event)
        self.cursor = cursor
        self._view.purge()
        self._view.confirm()
        if len(events) < 500:
            self.synced.set()
        return len(events)
