"""Rate limits for the sign-in and registration forms, shared with the JSON API.

The forms count against the same budgets, under the same keys, as ``/auth/login`` and
``/auth/register`` (see ``authgate.http.ratelimit_middleware``), so switching between the form and
the API gains an attacker nothing: failed sign-ins per client IP + email, failed
sign-ins per account from clients not known to it, registrations per IP.
"""

from __future__ import annotations

import math

from authgate.accounts.users import normalise_email
from authgate.devices import DeviceInfo
from authgate.ratelimit import Decision, Group
from authgate.runtime import Runtime

__all__ = ["LoginThrottle", "wait_message"]

_MAX_EMAIL = 320
_AUDIT_EVERY = 60  # seconds: at most one ratelimit.blocked row per client and group


def wait_message(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class LoginThrottle:
    """The sign-in brake for one attempt (``ip``, ``email``); inert when limits are off."""

    def __init__(self, runtime: Runtime, device: DeviceInfo, email: str) -> None:
        self._runtime = runtime
        self._limits = runtime.ratelimits
        self._enabled = runtime.settings.rate_limit_enabled
        self._device = device
        self._key = (device.ip, normalise_email(email)[:_MAX_EMAIL])

    async def blocked(self) -> Decision | None:
        """The exhausted limit, if this attempt may not even be tried."""
        if not self._enabled:
            return None
        decision = await self._limits.check("login", *self._key)
        if decision.allowed and not await self._limits.is_known_client(*self._key):
            decision = await self._limits.check("account", self._key[1])
        if decision.allowed:
            return None
        await self._report("login")
        return decision

    async def failed(self) -> None:
        if self._enabled:
            await self._limits.hit("login", *self._key)
            await self._limits.hit("account", self._key[1])

    async def succeeded(self) -> None:
        if self._enabled:
            await self._limits.remember_client(*self._key)

    async def register_blocked(self) -> Decision | None:
        """Counts one registration attempt from this IP; the limit if it was one too many."""
        if not self._enabled:
            return None
        decision = await self._limits.hit("register", self._device.ip)
        if decision.allowed:
            return None
        await self._report("register")
        return decision

    async def _report(self, group: Group) -> None:
        self._runtime.metrics.on_rate_limited(group)
        if await self._limits.first_block_in(_AUDIT_EVERY, group, self._device.ip):
            await self._runtime.audit.record(
                "ratelimit.blocked", device=self._device, group=group, path=f"/{group}"
            )
