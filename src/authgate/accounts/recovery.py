"""Password recovery by a mailed, single-use, 15-minute link (OWASP ASVS V6.4).

``request`` runs in the background, so ``POST /auth/password/forgot`` answers at once and
alike for known and unknown addresses (ASVS V6.3.8): the lookup, the token and the mail
happen after the response, and their cost tells the caller nothing.
"""

from __future__ import annotations

import logging

from authgate.accounts.links import LinkTokens
from authgate.accounts.mail import MailOutbox
from authgate.accounts.messages import compose, duration_text
from authgate.accounts.users import UserService, normalise_email
from authgate.errors import InvalidLinkError
from authgate.storage.accounts import AccountStore
from authgate.storage.models import User
from authgate.storage.store import SqlStore

__all__ = ["RESET_PATH", "PasswordRecovery"]

RESET_PATH = "/reset-password"
logger = logging.getLogger("authgate.accounts")


class PasswordRecovery:
    def __init__(
        self,
        *,
        links: LinkTokens,
        store: SqlStore,
        accounts: AccountStore,
        users: UserService,
        outbox: MailOutbox,
        ttl: int,
        site: str,
        enabled: bool,
    ) -> None:
        self._links = links
        self._store = store
        self._accounts = accounts
        self._users = users
        self._outbox = outbox
        self._ttl = ttl
        self._site = site
        self.enabled = enabled

    async def request(self, email: str) -> None:
        """Mail a reset link if ``email`` is an active account; nothing otherwise."""
        try:
            user = await self._store.user_by_email(normalise_email(email))
            if user is None or not user.is_active or user.deleted_at is not None:
                return
            token = await self._links.issue(
                user_id=user.id, purpose="reset_password", email=user.email, ttl=self._ttl
            )
        except Exception as exc:  # background work: log the kind of failure, never the address
            logger.error("password reset request failed: %s", type(exc).__name__)
            return
        self._outbox.send(
            compose(
                "reset_password",
                to=user.email,
                link=self._links.url(RESET_PATH, token),
                site=self._site,
                name=user.name,
                valid_for=duration_text(self._ttl),
            )
        )

    async def check(self, token: str) -> None:
        """Whether the link can still be used (the reset form shows or refuses)."""
        if await self._links.peek(token, "reset_password") is None:
            raise InvalidLinkError()

    async def reset(self, token: str, new_password: str) -> User:
        """Set the password; the caller revokes every session of the returned user.

        The policy is checked before the link is spent, so a refused password does not
        burn the link; the spend itself is the single-use arbiter.
        """
        row = await self._links.peek(token, "reset_password")
        user = await self._store.user_by_id(row.user_id) if row is not None else None
        if row is None or user is None or not user.is_active:
            raise InvalidLinkError()
        password_hash = await self._users.hash_new_password(new_password, email=user.email)
        if await self._links.spend(token, "reset_password") is None:
            raise InvalidLinkError()
        await self._users.store_password(user.id, password_hash)
        # Following a link mailed to the address proves control of it.
        if row.email == user.email and not user.email_verified:
            await self._accounts.update_user(user.id, email_verified=True)
        await self._accounts.drop_tokens(user.id, "reset_password")
        return user
