"""Helpers for testing code that uses authgate: a frozen clock, settings, a live app.

clock = FrozenClock()
app = create_app(make_settings(tmp_path), clock=clock)
async with lifespan(app), client_for(app) as client:
    ...
    clock.advance(16 * 60)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp

from authgate.config import Settings
from authgate.secretstrength import generate_secret

__all__ = ["FrozenClock", "client_for", "lifespan", "make_settings"]


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time()) if now is None else now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Test settings: fresh strong secrets, a SQLite file under ``state_dir``, cheap argon2."""
    values: dict[str, Any] = {
        "env": "test",
        "state_dir": state_dir,
        "jwt_access_secret": generate_secret(),
        "jwt_refresh_secret": generate_secret(),
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "cookie_secure": False,
        # Limits count across a whole test's requests; their own tests turn them on.
        "rate_limit_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run the app's startup and shutdown around the block, as a server would."""
    async with app.router.lifespan_context(app):
        yield


@asynccontextmanager
async def client_for(
    app: ASGIApp, *, base_url: str = "http://testserver", **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, **kwargs) as client:
        yield client
