"""Rate limits for the sign-in and registration forms, shared with the JSON API.

The forms count against the same budgets, under the same keys, as ``/auth/login`` and
``/auth/register`` (see ``authgate.http.ratelimit_middleware``), so switching between the form and
the API gains an attacker nothing: failed sign-ins per client IP + email, failed
sign-ins per account from clients not known to it, registrations per IP. As there, an
attempt is reserved before the password is checked and given back when it succeeds.
"""

from __future__ import annotations

import math

from authgate.accounts.users import normalise_email
from authgate.devices import DeviceInfo
from authgate.ratelimit import Decision, Group, Reservation
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
        self._reservation: Reservation | None = None

    async def reserve(self) -> Decision | None:
        """Count this attempt before it runs; the exhausted limit if it may not be tried."""
        if not self._enabled:
            return None
        self._reservation = await self._limits.reserve_login(*self._key)
        decision = self._reservation.decision
        if decision.allowed:
            return None
        await self._report("login")
        return decision

    async def succeeded(self) -> None:
        """The attempt was not a failure: give its reservation back, remember the client."""
        if self._enabled and self._reservation is not None:
            await self._limits.release(self._reservation)
            self._reservation = None
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
