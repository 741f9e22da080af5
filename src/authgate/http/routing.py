"""One router for authgate's own routes that a foreign path skips in one dict lookup.

Starlette and FastAPI try routes in order, one regular expression each, so a route a
user adds to ``create_app()`` was matched only after all of authgate's. authgate's
routers are included into one ``PrefixRouter``, which knows the first path segments of
its routes (``/auth/login`` -> ``auth``) and answers "no match" at once for a request
whose first segment is none of them. A user's route then costs what it costs on a bare
FastAPI app plus one set lookup, however many routes authgate has.

Inside, the same table sends a request only to the included routers that serve its
first segment (``/api/ai/chat`` tries the two ``/api`` routers, not the fifteen before
them). FastAPI (0.12x and later) matches an included router's routes once to choose it
and again to run it, and re-derives its candidates on every call; trying one segment's
routers instead of all of them is most of a request's routing cost. With a FastAPI
without included-router contexts, only the gate applies.

The segments are computed from the routes themselves (rebuilt when this router's routes
change, and otherwise at most once a second). A route whose first segment is dynamic
(``/{name}``) or of an unknown kind turns the gate and the table off: matching stays
correct, only slower.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import routing
from fastapi.routing import APIRouter
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send

__all__ = ["PrefixRouter", "first_segment", "route_path"]


def first_segment(path: str) -> str:
    """``/auth/login`` -> ``auth``; ``/`` -> ``""``."""
    return path[1:].partition("/")[0]


def route_path(scope: Scope) -> str:
    """The path routes match against: without the ``root_path`` it is mounted under."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    return rest if not rest or rest.startswith("/") else path


class PrefixRouter(APIRouter):
    """An ``APIRouter`` that refuses, without trying its routes, paths it cannot serve."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate: frozenset[str] | None = None
        self._gate_for: tuple[int, int] = (-1, -1)
        self._recheck_at = 0.0
        # Per inclusion (FastAPI's included-router object): first segment -> the
        # included routers serving it, in order; None when it cannot be built.
        self._tables: dict[int, tuple[Any, Any, dict[str, tuple[Any, ...]] | None]] = {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        gate = self.gate()
        segment = first_segment(route_path(scope))
        if gate is not None and segment not in gate:
            return Match.NONE, {}
        candidates = self._candidates(scope, segment)
        if candidates is None:
            return super().matches(scope)
        match = _first_match(candidates, scope)[0]
        return match, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        candidates = self._candidates(scope, first_segment(route_path(scope)))
        if candidates is not None:
            candidate = _first_match(candidates, scope)[1]
            if candidate is not None:
                # What FastAPI does with a selected included router (its child scope
                # is empty): the included router applies its context and runs.
                await candidate.handle(scope, receive, send)
                return
        await super().handle(scope, receive, send)

    def _candidates(self, scope: Scope, segment: str) -> tuple[Any, ...] | None:
        """The included routers that may serve ``segment``, or None to let FastAPI match."""
        if self.gate() is None:
            return None
        included = _included_router(scope)
        if included is None or getattr(included, "original_router", None) is not self:
            return None
        entry = self._tables.get(id(included))
        if entry is None or entry[0] is not included or entry[1] is not self._gate:
            entry = (included, self._gate, _segment_table(included))
            if len(self._tables) >= 64:
                self._tables.clear()
            self._tables[id(included)] = entry
        table = entry[2]
        if table is None:
            return None
        candidates: tuple[Any, ...] = table.get(segment, ())
        return candidates

    def gate(self) -> frozenset[str] | None:
        """The first segments this router serves; None when any path might match.

        Rebuilt when this router's routes change in number, and otherwise at most once
        a second when a nested router changed (FastAPI's version walk is too dear to
        run per request).
        """
        count = len(self.routes)
        now = time.monotonic()
        if count != self._gate_for[0] or now >= self._recheck_at:
            self._recheck_at = now + 1.0
            version = (count, _routes_version(self))
            if version != self._gate_for:
                self._gate = _segments(self)
                self._gate_for = version
        return self._gate


def _included_router(scope: Scope) -> Any:
    lookup = getattr(routing, "_get_scope_included_router", None)
    return lookup(scope) if callable(lookup) else None


def _segment_table(included: Any) -> dict[str, tuple[Any, ...]] | None:
    """First segment -> the included routers (with their contexts) that serve it."""
    included_type = getattr(routing, "_IncludedRouter", None)
    candidates = getattr(included, "effective_candidates", None)
    if included_type is None or not callable(candidates):
        return None
    table: dict[str, list[Any]] = {}
    for candidate in candidates():
        if not isinstance(candidate, included_type):
            return None  # a route of its own: FastAPI matches those
        segments = _segments_of(candidate)
        if segments is None:
            return None
        for segment in segments:
            table.setdefault(segment, []).append(candidate)
    return {segment: tuple(routers) for segment, routers in table.items()}


def _segments_of(candidate: Any) -> set[str] | None:
    segments: set[str] = set()
    for context in candidate.effective_route_contexts():
        path = _path_of(context.original_route, context)
        if path is None or not path.startswith("/"):
            return None
        segment = first_segment(path)
        if "{" in segment or (isinstance(context.original_route, Mount) and not segment):
            return None
        segments.add(segment)
    return segments


def _first_match(candidates: tuple[Any, ...], scope: Scope) -> tuple[Match, Any]:
    """FastAPI's order: the first full match, else the first partial one (a 405)."""
    partial = None
    for candidate in candidates:
        match = candidate.matches(scope)[0]
        if match is Match.FULL:
            return match, candidate
        if match is Match.PARTIAL and partial is None:
            partial = candidate
    if partial is not None:
        return Match.PARTIAL, partial
    return Match.NONE, None


def _routes_version(router: APIRouter) -> int:
    version = getattr(router, "_get_routes_version", None)
    return int(version()) if callable(version) else 0


def _segments(router: APIRouter) -> frozenset[str] | None:
    segments: set[str] = set()
    for path, is_mount in _paths(router):
        if path is None or not path.startswith("/"):
            return None
        segment = first_segment(path)
        if "{" in segment or (is_mount and not segment):
            return None
        segments.add(segment)
    return frozenset(segments)


def _paths(router: APIRouter) -> Iterator[tuple[str | None, bool]]:
    """Each route's full path (prefixes included) and whether it is a mount."""
    walk = getattr(routing, "_iter_routes_with_context", None)
    if walk is None:  # FastAPI versions that copy included routes: plain paths
        for route in router.routes:
            yield getattr(route, "path", None), isinstance(route, Mount)
        return
    for route, context in walk(router.routes):
        yield _path_of(route, context), isinstance(route, Mount)


def _path_of(route: BaseRoute, context: Any) -> str | None:
    if context is None:
        path = getattr(route, "path", None)
    elif getattr(context, "starlette_route", None) is not None:
        path = getattr(context.starlette_route, "path", None)
    else:
        path = getattr(context, "path", None)
    return path if isinstance(path, str) else None
