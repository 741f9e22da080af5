"""Rate limits: GCRA (generic cell rate algorithm), in memory or in Redis, O(1) per hit.

A rule ``"N per W"`` (``"100 per 15 minutes"``, ``"10 per hour"``) allows a burst of N,
then one more request every W/N: the long-run rate is N per W, and the state per client
is one number, the theoretical arrival time (TAT), whatever the limit or the traffic.
Every check is one dictionary lookup in memory, or one Lua script (one round trip,
atomic, so exact across instances) in Redis.

Groups and what they count (all configurable in Settings, see docs/hardening.md):

    api       every /api request, per principal (user or agent id) when the request
              carries a valid token, else per client IP
    refresh   every /auth/refresh request, per client IP
    register  every /auth/register request, per client IP
    login     FAILED /auth/login attempts, per client IP + email
    oauth     FAILED /auth/oauth/* attempts, per client IP
    account   FAILED logins for one email from any IP not known to have signed in to it

Failed attempts are *reserved* before the attempt runs and given back when it succeeds
(``reserve`` / ``release``), so concurrent guesses cannot all pass the check before any
of them is counted: at most N attempts ever reach the password hash.

The account group is the credential-stuffing brake (OWASP ASVS V6.3): many IPs failing
against one account lock it, for every IP that has not signed in to it before, whether
or not the account exists. A client that signed in successfully is remembered for
``known_client_ttl`` and is not locked out by other people's failures.

Time is the injected clock, in memory and in Redis alike (the script takes ``now``).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from authgate.clock import Clock, system_clock
from authgate.ratelimit.cells import MemoryCells, RedisCells, Slot, Verdict

__all__ = [
    "GROUPS",
    "Decision",
    "Group",
    "RateLimits",
    "Reservation",
    "Rule",
    "StoreUnavailable",
    "parse_rule",
    "rules_from_settings",
]

logger = logging.getLogger("authgate.ratelimit")

Group = Literal["api", "refresh", "register", "login", "oauth", "account"]
GROUPS: tuple[Group, ...] = ("api", "refresh", "register", "login", "oauth", "account")
# When the shared store is down, brute-force brakes fail closed; the rest fail open.
_FAIL_CLOSED = frozenset({"login", "oauth", "account"})
_US = 1_000_000
_SLOTS_MAX = 65536


@dataclass(frozen=True, slots=True)
class Rule:
    """``amount`` requests per ``window`` seconds, as the settings write it."""

    amount: int
    window: int
    interval_us: int = field(init=False, repr=False, compare=False)
    window_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The emission interval T = W / N, in whole microseconds (exact integers in Lua).
        object.__setattr__(self, "interval_us", max(1, self.window * _US // self.amount))
        object.__setattr__(self, "window_us", self.window * _US)

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``"100 per 15 minutes"``, ``"10 per hour"``, ``"5/minute"``; ValueError otherwise."""
        return parse_rule(text)


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 2592000}
_UNITS["year"] = 365 * 86400


def parse_rule(text: str) -> Rule:
    words = str(text).strip().lower().replace("/", " per ").split()
    if len(words) not in (3, 4) or words[1] != "per" or not words[0].isdigit():
        raise ValueError(f"expected a rate such as '100 per 15 minutes', got {text!r}")
    count = int(words[2]) if len(words) == 4 and words[2].isdigit() else 1
    if len(words) == 4 and not words[2].isdigit():
        raise ValueError(f"expected a rate such as '100 per 15 minutes', got {text!r}")
    unit = _UNITS.get(words[-1].removesuffix("s"))
    if unit is None or int(words[0]) < 1 or count < 1:
        raise ValueError(f"expected a rate such as '100 per 15 minutes', got {text!r}")
    return Rule(int(words[0]), count * unit)


@dataclass(slots=True)  # not frozen: built on every limited request, and frozen costs 3x
class Decision:
    """The state of one limit for one client, as the RateLimit-* headers report it."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees up

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }


@dataclass(slots=True)
class Reservation:
    """Attempts counted before they ran; ``release`` gives them back on success."""

    decision: Decision
    slots: tuple[Slot, ...] = ()


class StoreUnavailable(Exception):
    """The rate-limit store failed and the group fails closed."""


def rules_from_settings(settings: Any) -> dict[Group, str]:
    return {group: getattr(settings, f"rate_limit_{group}") for group in GROUPS}


class RateLimits:
    def __init__(
        self,
        *,
        rules: Mapping[Group, str | Rule],
        redis_url: str | None = None,
        key_prefix: str = "authgate:",
        known_client_ttl: int = 30 * 86400,
        redis_timeout: float = 2.0,
        clock: Clock = system_clock,
    ) -> None:
        self._rules: dict[Group, Rule] = {
            group: rule if isinstance(rule, Rule) else parse_rule(rule)
            for group, rule in rules.items()
        }
        self._redis_url = redis_url
        self._prefix = key_prefix + "rl:"
        self._known_ttl = known_client_ttl
        self._timeout = redis_timeout
        self._clock = clock
        self._cells: MemoryCells | RedisCells | None = None
        # Slots (hashed store key and rule) of recent clients: hashing is most of a hit.
        self._slots: dict[tuple[str, tuple[str, ...], bool], Slot] = {}

    async def start(self) -> None:
        self._cells = (
            RedisCells(self._redis_url, timeout=self._timeout) if self._redis_url else MemoryCells()
        )

    async def close(self) -> None:
        if self._cells is not None:
            await self._cells.close()
        self._cells = None

    @property
    def cells(self) -> MemoryCells | RedisCells:
        if self._cells is None:
            raise RuntimeError("RateLimits.start() was not awaited")
        return self._cells

    def rule(self, group: Group) -> Rule:
        return self._rules[group]

    async def check(self, group: Group, *key: str) -> Decision:
        """Whether one more request fits, without counting it."""
        return (await self._take(group, key, cost=0)).decision

    async def hit(self, group: Group, *key: str) -> Decision:
        """Count one request if it fits; ``allowed`` is False when it did not."""
        return (await self._take(group, key, cost=1)).decision

    async def reserve(self, group: Group, *key: str) -> Reservation:
        """Count one attempt before it runs; give it back with ``release`` if it succeeds."""
        return await self._take(group, key, cost=1)

    async def reserve_login(self, ip: str, email: str) -> Reservation:
        """One failed-login attempt against both brakes, all or nothing, in one round trip.

        The account brake is skipped for a client known to have signed in to ``email``.
        """
        login, account = self._rules["login"], self._rules["account"]
        slots = (
            self._slot("login", login, (ip, email), spare_known=False),
            self._slot("account", account, (email,), spare_known=True),
        )
        known = self._known_key(ip, email)
        try:
            verdict = await self.cells.take(slots, self._now(), cost=1, known=known)
        except Exception as exc:
            raise self._unavailable(exc) from exc
        # The limit that refused is the one to report; otherwise the per-client one.
        index = verdict.refused if verdict.refused is not None else 0
        decision = self._decision((login, account)[index], verdict, index)
        return Reservation(decision, verdict.counted)

    async def release(self, reservation: Reservation) -> None:
        """Give back what ``reservation`` counted (the attempt did not fail)."""
        if not reservation.slots:
            return
        try:
            await self.cells.give_back(reservation.slots)
        except Exception:
            logger.warning("rate-limit store unavailable: reservation not given back")

    async def remember_client(self, ip: str, email: str) -> None:
        """Mark ``ip`` as having signed in to ``email``: the account lock spares it."""
        try:
            await self.cells.mark(self._known_key(ip, email), self._known_ttl, self._now())
        except Exception:
            logger.warning("rate-limit store unavailable: known client not recorded")

    async def is_known_client(self, ip: str, email: str) -> bool:
        try:
            return await self.cells.marked(self._known_key(ip, email), self._now())
        except Exception:
            return False

    async def first_block_in(self, seconds: int, *key: str) -> bool:
        """True once per ``seconds`` per key: keeps audit writes for floods bounded."""
        name = self._prefix + "audit:" + ":".join(_identifiers(key))
        try:
            return await self.cells.mark_once(name, seconds, self._now())
        except Exception:
            return False

    async def _take(self, group: Group, key: tuple[str, ...], *, cost: int) -> Reservation:
        rule = self._rules[group]
        slot = self._slot(group, rule, key, spare_known=False)
        try:
            verdict = await self.cells.take_one(slot, self._now(), cost=cost)
        except Exception as exc:
            return self._on_store_error(group, rule, exc)
        return Reservation(self._decision(rule, verdict, 0), verdict.counted)

    def _slot(self, group: Group, rule: Rule, key: tuple[str, ...], *, spare_known: bool) -> Slot:
        cache_key = (group, key, spare_known)
        slot = self._slots.get(cache_key)
        if slot is None:
            if len(self._slots) >= _SLOTS_MAX:
                self._slots.clear()  # bounded: keys are attacker-chosen
            name = f"{self._prefix}{group}:{':'.join(_identifiers(key))}"
            slot = Slot(name, rule.interval_us, rule.window_us, spare_known)
            self._slots[cache_key] = slot
        return slot

    def _now(self) -> int:
        return int(self._clock() * _US)

    def _decision(self, rule: Rule, verdict: Verdict, index: int) -> Decision:
        # Every emission interval between now and the TAT is one used slot of the burst.
        ahead = max(0, verdict.tats[index] - verdict.now)
        if verdict.refused is None:
            remaining = max(0, (rule.window_us - ahead) // rule.interval_us)
            # Reset: when the whole burst is available again.
            return Decision(True, rule.amount, remaining, _seconds(ahead))
        # Refused: one more fits once TAT + T - now <= W.
        wait = ahead + rule.interval_us - rule.window_us
        return Decision(False, rule.amount, 0, _seconds(wait))

    def _on_store_error(self, group: Group, rule: Rule, exc: Exception) -> Reservation:
        error = self._unavailable(exc)
        if group in _FAIL_CLOSED:
            raise error from exc
        return Reservation(Decision(True, rule.amount, rule.amount, rule.window))

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        logger.error("rate-limit store unavailable: %s", type(exc).__name__)
        return StoreUnavailable()

    def _known_key(self, ip: str, email: str) -> str:
        return f"{self._prefix}known:{':'.join(_identifiers((ip, email)))}"


def _seconds(microseconds: int) -> int:
    return max(1, math.ceil(microseconds / _US))


def _identifiers(key: tuple[str, ...]) -> list[str]:
    # Hashed: emails (personal data) and attacker-chosen strings never become store keys.
    return [hashlib.sha256(part.encode("utf-8", "replace")).hexdigest()[:32] for part in key]
