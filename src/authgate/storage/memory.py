"""In-process hot state for the embedded default (one process, no Redis)."""

from __future__ import annotations

from collections.abc import Sequence

from authgate.clock import Clock, system_clock
from authgate.supervision import Supervisor

__all__ = ["LocalRevocationFeed", "MemorySingleUseStore"]


class LocalRevocationFeed:
    """One process: the local RevocationList is the whole truth, nothing to tell."""

    async def start(self, supervisor: Supervisor) -> None:
        return None

    async def publish(self, session_ids: Sequence[str], until: int) -> None:
        return None

    async def close(self) -> None:
        return None


class MemorySingleUseStore:
    """A dict with expiry; expired entries are swept once the dict has grown."""

    def __init__(self, *, clock: Clock = system_clock, sweep_above: int = 1024) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._sweep_above = sweep_above
        self._next_sweep = sweep_above

    def __len__(self) -> int:
        return len(self._entries)

    async def put(self, key: str, value: str, ttl: int) -> None:
        self._sweep()
        self._entries[key] = (value, self._clock() + ttl)

    async def take(self, key: str) -> str | None:
        entry = self._entries.pop(key, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def claim(self, key: str, ttl: int) -> bool:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > self._clock():
            return False
        await self.put(key, "1", ttl)
        return True

    async def close(self) -> None:
        return None

    def _sweep(self) -> None:
        if len(self._entries) < self._next_sweep:
            return
        now = self._clock()
        for key in [k for k, (_, until) in self._entries.items() if until <= now]:
            del self._entries[key]
        # Amortised: sweep again only after the live set has doubled.
        self._next_sweep = max(self._sweep_above, 2 * len(self._entries))
