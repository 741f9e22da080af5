"""One router for authgate's own routes that a foreign path skips in one dict lookup.

Starlette and FastAPI try routes in order, one regular expression each, so a route a
user adds to ``create_app()`` was matched only after all of authgate's. authgate's
routers are included into one ``PrefixRouter``, which knows the first path segments of
its routes (``/auth/login`` -> ``auth``) and answers "no match" at once for a request
whose first segment is none of them. A user's route then costs what it costs on a bare
FastAPI app plus one set lookup, however many routes authgate has.

The segments are computed from the routes themselves (rebuilt when they change). A
route whose first segment is dynamic (``/{name}``) or of an unknown kind turns the gate
off: matching stays correct, only slower.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import routing
from fastapi.routing import APIRouter
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

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

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        gate = self.gate()
        if gate is not None and first_segment(route_path(scope)) not in gate:
            return Match.NONE, {}
        return super().matches(scope)

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
