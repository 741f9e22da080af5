"""Where GCRA keeps its state: one theoretical arrival time (TAT) per client and group.

``take`` decides for several slots at once, all or nothing (a failed login counts
against the per-client and the per-account brake together); ``give_back`` undoes one
counted request. ``MemoryCells`` serves one process; ``RedisCells`` does each call as
one Lua script, so the decision and the count are one atomic round trip and several
instances share exact counts. Times are integer microseconds of the caller's clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authgate.errors import ConfigurationError

if TYPE_CHECKING:
    from authgate.ratelimit.pipelined import PipelinedRedis

__all__ = ["MemoryCells", "RedisCells", "Slot", "Verdict"]

_SWEEP_FLOOR = 4096  # entries before the first sweep of expired state


@dataclass(frozen=True, slots=True)
class Slot:
    """One limit for one client: its store key and its rule, in microseconds."""

    name: str
    interval: int  # the emission interval T = window / amount
    window: int
    spare_known: bool = False  # skipped when the client is known (the account brake)


@dataclass(slots=True)
class Verdict:
    now: int
    tats: tuple[int, ...]  # per slot: the TAT after this request, or now when skipped
    refused: int | None  # the index of the first slot that did not fit
    counted: tuple[Slot, ...]  # the slots this request was counted in


class MemoryCells:
    """GCRA state in a dict: O(1) per request; expired entries swept in amortized O(1)."""

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._marks: dict[str, int] = {}  # name -> expiry
        self._sweep_at = _SWEEP_FLOOR

    async def close(self) -> None:
        self._tats.clear()
        self._marks.clear()

    async def take(
        self, slots: tuple[Slot, ...], now: int, *, cost: int, known: str | None = None
    ) -> Verdict:
        skip = known is not None and self._marks.get(known, 0) > now
        tats: list[int] = []
        refused: int | None = None
        for index, slot in enumerate(slots):
            tat = now if skip and slot.spare_known else max(self._tats.get(slot.name, now), now)
            if refused is None and tat + slot.interval - now > slot.window:
                refused = index
            tats.append(tat)
        counted: tuple[Slot, ...] = ()
        if refused is None and cost:
            counted = tuple(s for s in slots if not (skip and s.spare_known))
            for index, slot in enumerate(slots):
                if slot in counted:
                    tats[index] += cost * slot.interval
                    self._tats[slot.name] = tats[index]
            if len(self._tats) > self._sweep_at:
                self._sweep(now)
        return Verdict(now, tuple(tats), refused, counted)

    async def take_one(self, slot: Slot, now: int, *, cost: int) -> Verdict:
        """``take`` for one slot: the per-request path of every limited group."""
        tats = self._tats
        tat = tats.get(slot.name, now)
        if tat < now:
            tat = now
        if tat + slot.interval - now > slot.window:
            return Verdict(now, (tat,), 0, ())
        if not cost:
            return Verdict(now, (tat,), None, ())
        tat += cost * slot.interval
        tats[slot.name] = tat
        if len(tats) > self._sweep_at:
            self._sweep(now)
        return Verdict(now, (tat,), None, (slot,))

    async def give_back(self, slots: tuple[Slot, ...]) -> None:
        for slot in slots:
            tat = self._tats.get(slot.name)
            if tat is not None:
                self._tats[slot.name] = tat - slot.interval

    async def mark(self, name: str, ttl_seconds: int, now: int) -> None:
        self._marks[name] = now + ttl_seconds * 1_000_000
        if len(self._marks) > self._sweep_at:
            self._sweep(now)

    async def marked(self, name: str, now: int) -> bool:
        return self._marks.get(name, 0) > now

    async def mark_once(self, name: str, ttl_seconds: int, now: int) -> bool:
        if self._marks.get(name, 0) > now:
            return False
        await self.mark(name, ttl_seconds, now)
        return True

    def _sweep(self, now: int) -> None:
        # A TAT in the past means a full burst is available: the same as no entry.
        self._tats = {name: tat for name, tat in self._tats.items() if tat > now}
        self._marks = {name: end for name, end in self._marks.items() if end > now}
        self._sweep_at = max(_SWEEP_FLOOR, 2 * max(len(self._tats), len(self._marks)))


# KEYS: the slots' names, then optionally the known-client mark.
# ARGV: now, cost, n, then per slot: interval, window, spare_known (0/1).
# Integers are formatted with %d: Lua 5.1's tostring would round them to 14 digits.
_TAKE = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local skip = 0
if #KEYS > n then skip = redis.call('EXISTS', KEYS[n + 1]) end
local tats, active, refused = {}, {}, 0
for i = 1, n do
  local interval = tonumber(ARGV[1 + 3 * i])
  local window = tonumber(ARGV[2 + 3 * i])
  local tat = now
  active[i] = not (skip == 1 and ARGV[3 + 3 * i] == '1')
  if active[i] then
    local stored = tonumber(redis.call('GET', KEYS[i]))
    if stored and stored > now then tat = stored end
    if refused == 0 and tat + interval - now > window then refused = i end
  end
  tats[i] = tat
end
if refused == 0 and cost > 0 then
  for i = 1, n do
    if active[i] then
      tats[i] = tats[i] + cost * tonumber(ARGV[1 + 3 * i])
      local ttl = math.floor((tats[i] - now) / 1000) + 1
      redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', ttl)
    end
  end
end
local out = {refused, skip}
for i = 1, n do
  out[#out + 1] = string.format('%d', tats[i])
  out[#out + 1] = active[i] and 1 or 0
end
return out
"""

# KEYS: the slots' names; ARGV: their intervals. Only existing state is given back.
_GIVE_BACK = """
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat then
    redis.call('SET', KEYS[i], string.format('%d', tat - tonumber(ARGV[i])), 'KEEPTTL')
  end
end
return 1
"""


class RedisCells:
    """GCRA state in Redis: one script call per decision, exact across instances."""

    def __init__(self, url: str, *, timeout: float) -> None:
        try:
            from authgate.ratelimit.pipelined import PipelinedRedis
        except ImportError as exc:
            raise ConfigurationError(
                "AUTHGATE_REDIS_URL needs the redis extra: pip install 'authgate[redis]'"
            ) from exc
        self._redis = PipelinedRedis(url.removeprefix("async+"), timeout=timeout)
        self._take = _Script(_TAKE)
        self._give_back = _Script(_GIVE_BACK)

    async def close(self) -> None:
        await self._redis.close()

    async def take(
        self, slots: tuple[Slot, ...], now: int, *, cost: int, known: str | None = None
    ) -> Verdict:
        keys = [slot.name for slot in slots] + ([known] if known is not None else [])
        args: list[Any] = [now, cost, len(slots)]
        for slot in slots:
            args += [slot.interval, slot.window, int(slot.spare_known)]
        reply = await self._take.run(self._redis, keys, args)
        refused = int(reply[0])
        tats = tuple(int(reply[2 + 2 * i]) for i in range(len(slots)))
        active = tuple(slot for i, slot in enumerate(slots) if int(reply[3 + 2 * i]))
        counted = active if refused == 0 and cost else ()
        return Verdict(now, tats, refused - 1 if refused else None, counted)

    async def take_one(self, slot: Slot, now: int, *, cost: int) -> Verdict:
        reply = await self._take.run(
            self._redis, (slot.name,), (now, cost, 1, slot.interval, slot.window, 0)
        )
        refused = int(reply[0])
        counted = (slot,) if refused == 0 and cost else ()
        return Verdict(now, (int(reply[2]),), 0 if refused else None, counted)

    async def give_back(self, slots: tuple[Slot, ...]) -> None:
        await self._give_back.run(
            self._redis, [slot.name for slot in slots], [slot.interval for slot in slots]
        )

    async def mark(self, name: str, ttl_seconds: int, now: int) -> None:
        await self._redis.call("SET", name, "1", "EX", ttl_seconds)

    async def marked(self, name: str, now: int) -> bool:
        return bool(await self._redis.call("EXISTS", name))

    async def mark_once(self, name: str, ttl_seconds: int, now: int) -> bool:
        return await self._redis.call("SET", name, "1", "EX", ttl_seconds, "NX") is not None


class _Script:
    """A Lua script called by its SHA1 (``EVALSHA``), sent whole once Redis lacks it."""

    def __init__(self, source: str) -> None:
        self._source = source
        # Redis names a cached script by the SHA1 of its source.
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, redis: PipelinedRedis, keys: Sequence[str], args: Sequence[int]) -> Any:
        return await redis.run_script(self._sha, self._source, keys, args)
