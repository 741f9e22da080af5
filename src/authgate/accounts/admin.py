"""User administration: list, show, disable, enable, delete, set roles, log out, reset MFA.

Disabling and deleting go through the session revocation path: every session of the
user (logins, delegations and the grants of the agents they own) is revoked in this
process at once and published to the other instances, so every token of the user is
refused on the next request everywhere; refresh and sign-in check ``is_active``.
Deleting removes the person's data and keeps the audit trail under a pseudonym.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.errors import InvalidRequestError, NotFoundError
from authgate.sessions.service import AuthService
from authgate.storage.accounts import AccountStore
from authgate.storage.models import User
from authgate.storage.store import SqlStore

__all__ = ["UserAdmin"]


class UserAdmin:
    def __init__(
        self,
        *,
        store: SqlStore,
        accounts: AccountStore,
        auth: AuthService,
        audit: AuditTrail,
        known_roles: Sequence[str],
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._auth = auth
        self._audit = audit
        self._roles = frozenset(known_roles)
        self._clock = clock

    async def search(self, query: str | None, *, limit: int, offset: int) -> Sequence[User]:
        return await self._accounts.search_users(query=query, limit=limit, offset=offset)

    async def get(self, user_id: str) -> User:
        user = await self._store.user_by_id(user_id)
        if user is None or user.deleted_at is not None:
            raise NotFoundError("No such user")
        return user

    async def find(self, id_or_email: str) -> User:
        """By id, or by email (the CLI accepts either)."""
        if "@" in id_or_email:
            user = await self._store.user_by_email(id_or_email.strip().lower())
            if user is not None and user.deleted_at is None:
                return user
            raise NotFoundError("No such user")
        return await self.get(id_or_email)

    async def disable(self, user_id: str, *, by: str) -> int:
        user = await self.get(user_id)
        await self._accounts.update_user(user.id, is_active=False)
        revoked = await self._auth.revoke_user_sessions(user.id, "user_disabled")
        await self._audit.record("user.disabled", user_id=user.id, by=by, revoked=revoked)
        return revoked

    async def enable(self, user_id: str, *, by: str) -> None:
        user = await self.get(user_id)
        await self._accounts.update_user(user.id, is_active=True)
        await self._audit.record("user.enabled", user_id=user.id, by=by)

    async def logout(self, user_id: str, *, by: str) -> int:
        user = await self.get(user_id)
        revoked = await self._auth.revoke_user_sessions(user.id, "forced_logout")
        await self._audit.record("user.logged_out", user_id=user.id, by=by, revoked=revoked)
        return revoked

    async def set_roles(self, user_id: str, roles: Sequence[str], *, by: str) -> User:
        unknown = set(roles) - self._roles
        if unknown:
            raise InvalidRequestError(f"Unknown role(s): {', '.join(sorted(unknown))}")
        user = await self.get(user_id)
        new = sorted(set(roles))
        await self._accounts.update_user(user.id, roles=new)
        if set(user.roles) - set(new):
            # Tokens carry the roles: a removed one must not live on in them.
            await self._auth.revoke_user_sessions(user.id, "roles_changed")
        await self._audit.record("user.roles_set", user_id=user.id, by=by, roles=new)
        return await self.get(user.id)

    async def reset_mfa(self, user_id: str, *, by: str) -> None:
        user = await self.get(user_id)
        await self._accounts.clear_second_factors(user.id)
        await self._audit.record("user.mfa_reset", user_id=user.id, by=by)

    async def delete(self, user_id: str, *, by: str) -> str:
        """Erase the person; returns the pseudonym their audit events now carry."""
        user = await self.get(user_id)
        await self._accounts.update_user(user.id, is_active=False)
        await self._auth.revoke_user_sessions(user.id, "user_deleted")
        for agent_id in await self._accounts.disable_agents(user.id):
            await self._auth.revoke_agent(agent_id)
        pseudonym = f"deleted:{secrets.token_hex(8)}"
        await self._accounts.erase_user(
            user.id,
            tombstone_email=f"{pseudonym.replace(':', '-')}@users.invalid",
            pseudonym=pseudonym,
            now=int(self._clock()),
        )
        await self._accounts.scrub_login_failures(user.email, pseudonym)
        await self._audit.record("user.deleted", user_id=pseudonym, by=by)
        return pseudonym
