"""Email verification and email change, by single-use mailed links.

Registration mails a ``verify_email`` link for the account's address; an email change
mails a ``change_email`` link to the new address, and the account's address changes only
when that link is used, so a typo or someone else's address never takes over the login.
"""

from __future__ import annotations

from authgate.accounts.links import LinkTokens
from authgate.accounts.mail import MailOutbox
from authgate.accounts.messages import compose, duration_text
from authgate.accounts.users import normalise_email
from authgate.errors import EmailTakenError, FeatureUnavailableError, InvalidLinkError
from authgate.storage.accounts import AccountStore
from authgate.storage.models import User
from authgate.storage.store import SqlStore

__all__ = ["VERIFY_PATH", "EmailVerification"]

VERIFY_PATH = "/verify-email"


class EmailVerification:
    def __init__(
        self,
        *,
        links: LinkTokens,
        store: SqlStore,
        accounts: AccountStore,
        outbox: MailOutbox,
        ttl: int,
        site: str,
        enabled: bool,
    ) -> None:
        self._links = links
        self._store = store
        self._accounts = accounts
        self._outbox = outbox
        self._ttl = ttl
        self._site = site
        self.enabled = enabled

    async def send(self, user: User) -> bool:
        """Mail a link for the account's current address; False when there is nothing to do."""
        if not self.enabled or user.email_verified or user.email.endswith(".invalid"):
            return False
        token = await self._links.issue(
            user_id=user.id, purpose="verify_email", email=user.email, ttl=self._ttl
        )
        self._mail(user, user.email, token)
        return True

    async def request_change(self, user: User, new_email: str) -> None:
        if not self.enabled:
            raise FeatureUnavailableError("Email changes need mail, which is not configured")
        new_email = normalise_email(new_email)
        if new_email == user.email or await self._store.user_by_email(new_email) is not None:
            raise EmailTakenError()
        token = await self._links.issue(
            user_id=user.id, purpose="change_email", email=new_email, ttl=self._ttl
        )
        self._mail(user, new_email, token)

    async def confirm(self, token: str) -> User:
        """Use a link: the address it names becomes the account's, verified."""
        row = await self._links.spend(token, "verify_email")
        purpose = "verify_email"
        if row is None:
            row, purpose = await self._links.spend(token, "change_email"), "change_email"
        user = await self._store.user_by_id(row.user_id) if row is not None else None
        if row is None or user is None or user.deleted_at is not None:
            raise InvalidLinkError()
        if purpose == "verify_email" and row.email != user.email:
            raise InvalidLinkError()  # the address changed since: this link proves nothing now
        await self._accounts.update_user(user.id, email=row.email, email_verified=True)
        await self._accounts.drop_tokens(user.id, "change_email")
        refreshed = await self._store.user_by_id(user.id)
        if refreshed is None:
            raise InvalidLinkError()
        return refreshed

    def _mail(self, user: User, to: str, token: str) -> None:
        mail = compose(
            "verify_email",
            to=to,
            link=self._links.url(VERIFY_PATH, token),
            site=self._site,
            name=user.name,
            valid_for=duration_text(self._ttl),
        )
        self._outbox.send(mail)
