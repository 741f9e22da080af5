"""Interfaces of the hot, expiring state, each with a memory and a Redis implementation.

Nothing imports a concrete backend except ``storage.hotstate.build_hot_state``, which
picks one from Settings: in process when ``AUTHGATE_REDIS_URL`` is unset, Redis otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from authgate.supervision import Supervisor

__all__ = ["RevocationFeed", "SingleUseStore"]


@runtime_checkable
class RevocationFeed(Protocol):
    """Keeps every instance's in-process ``RevocationList`` current.

    The verify path never calls it: it reads the local list only. ``publish`` tells the
    other instances about revocations this one has already applied locally and stored.
    """

    async def start(self, supervisor: Supervisor) -> None:
        """Begin following; long-running work goes to ``supervisor`` (restarted on failure)."""
        ...

    async def publish(self, session_ids: Sequence[str], until: int) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SingleUseStore(Protocol):
    """Values and markers that expire, and that can be consumed only once.

    Used for OAuth ``state`` and similar one-time values: of several instances taking
    the same key, exactly one gets the value.
    """

    async def put(self, key: str, value: str, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any previous one."""
        ...

    async def take(self, key: str) -> str | None:
        """Return and delete the value, atomically; None when absent, expired or taken."""
        ...

    async def claim(self, key: str, ttl: int) -> bool:
        """Mark ``key`` used for ``ttl`` seconds; True only for the first claim."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
