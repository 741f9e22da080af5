"""Third-party clients (kind ``app``): MCP clients, IDEs, agents that send a user through
the authorization code flow.

They come from three places: ``authgate clients create --kind app`` (``cli``), dynamic
registration (RFC 7591, ``dynamic``), or a Client ID Metadata Document (``cimd``, whose
client id is the document's https URL; its row is keyed by a hash of that URL). Public
clients (``token_endpoint_auth_method`` ``none``) have no secret; confidential ones a
secret (only its SHA-256 is stored) or registered keys for ``private_key_jwt``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import OAuthClient
from authgate.storage.store import guarded_session

__all__ = [
    "APP",
    "AUTH_METHODS",
    "App",
    "AppRegistry",
    "MetadataResolver",
    "NewApp",
    "cimd_row_id",
]

APP = "app"
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
_MAX_ID = 512
_APP_PREFIX = "app_"


def cimd_row_id(url: str) -> str:
    """The row id of a metadata-document client: stable, short, and not the URL itself."""
    return "cimd_" + hashlib.sha256(url.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class App:
    id: str  # the row's id, what grants and consents refer to
    public_id: str  # what the client calls itself (the document URL for CIMD)
    name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    auth_method: str
    registered_via: str  # cli | dynamic | cimd
    trusted: bool = False  # cli, or a document from an allow-listed host

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @classmethod
    def of(cls, row: OAuthClient, *, trusted: bool = False) -> App:
        return cls(
            id=row.client_id,
            public_id=row.metadata_url or row.client_id,
            name=row.name,
            redirect_uris=tuple(row.redirect_uris or ()),
            grant_types=tuple(row.grant_types or ("authorization_code", "refresh_token")),
            auth_method=row.auth_method or "client_secret_basic",
            registered_via=row.registered_via or "cli",
            trusted=trusted or row.registered_via == "cli",
        )


@dataclass(frozen=True, slots=True)
class NewApp:
    app: App
    secret: str | None  # confidential clients only; shown once
    created_at: int


class MetadataResolver(Protocol):
    """Fetches and checks a Client ID Metadata Document (``authgate.authserver.cimd``)."""

    def handles(self, client_id: str) -> bool:
        """Whether ``client_id`` is a document URL (rather than a registered id)."""
        ...

    async def resolve(self, url: str) -> tuple[dict[str, Any], bool]:
        """The checked metadata, and whether its host is on the trusted list."""
        ...


class AppRegistry:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        resolver: MetadataResolver | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._resolver = resolver
        self._clock = clock

    @property
    def metadata_documents(self) -> bool:
        return self._resolver is not None

    async def create(
        self,
        *,
        name: str,
        redirect_uris: Sequence[str],
        auth_method: str,
        grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
        registered_via: str = "cli",
        jwks: dict[str, Any] | None = None,
    ) -> NewApp:
        secret = None if auth_method in ("none", "private_key_jwt") else secrets.token_urlsafe(32)
        now = int(self._clock())
        row = OAuthClient(
            client_id=f"{_APP_PREFIX}{secrets.token_urlsafe(16)}",
            name=name,
            kind=APP,
            # The hash ClientRegistry.authenticate compares (SHA-256 of a 256-bit secret).
            secret_hash=hashlib.sha256(secret.encode()).hexdigest() if secret else None,
            scopes=[],
            jwks=jwks,
            redirect_uris=list(redirect_uris),
            grant_types=list(grant_types),
            auth_method=auth_method,
            registered_via=registered_via,
            disabled=False,
            created_at=now,
        )
        async with guarded_session(self._sessions) as db:
            db.add(row)
            await db.commit()
        return NewApp(App.of(row), secret, now)

    async def find(self, client_id: str) -> App | None:
        """The enabled client ``client_id`` names; an https id is a metadata document URL."""
        if not client_id or len(client_id) > _MAX_ID:
            return None
        if self._resolver is not None and self._resolver.handles(client_id):
            return await self._from_document(client_id)
        async with guarded_session(self._sessions) as db:
            row = await db.get(OAuthClient, client_id)
        if row is None or row.kind != APP or row.disabled or row.registered_via == "cimd":
            return None
        return App.of(row)

    async def find_known(self, client_id: str) -> App | None:
        """Like ``find``, but a document client only if seen before: the token endpoint
        never fetches (the code it redeems was issued after a fetch)."""
        if self._resolver is not None and self._resolver.handles(client_id):
            return await self.by_row_id(cimd_row_id(client_id))
        if not client_id.startswith(_APP_PREFIX):
            return None  # an agent or other client: no query on their token requests
        return await self.find(client_id)

    async def by_row_id(self, row_id: str) -> App | None:
        if not row_id or len(row_id) > 64:
            return None
        async with guarded_session(self._sessions) as db:
            row = await db.get(OAuthClient, row_id)
        return None if row is None or row.kind != APP or row.disabled else App.of(row)

    async def names(self, row_ids: Sequence[str]) -> dict[str, App]:
        if not row_ids:
            return {}
        async with guarded_session(self._sessions) as db:
            query = select(OAuthClient).where(OAuthClient.client_id.in_(row_ids))
            rows = (await db.execute(query)).scalars().all()
        return {row.client_id: App.of(row) for row in rows}

    async def touch(self, row_id: str) -> None:
        """Mark the client used (an authorization code issued), so it never expires unused."""
        async with guarded_session(self._sessions) as db:
            await db.execute(
                update(OAuthClient)
                .where(OAuthClient.client_id == row_id)
                .values(last_used_at=int(self._clock()))
            )
            await db.commit()

    async def count_dynamic(self) -> int:
        async with guarded_session(self._sessions) as db:
            query = select(func.count()).where(
                OAuthClient.kind == APP, OAuthClient.registered_via == "dynamic"
            )
            return int((await db.execute(query)).scalar_one())

    async def purge_unused(self, older_than: int) -> int:
        """Delete dynamically registered clients never used and created before ``older_than``."""
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                delete(OAuthClient).where(
                    OAuthClient.kind == APP,
                    OAuthClient.registered_via == "dynamic",
                    OAuthClient.last_used_at.is_(None),
                    OAuthClient.created_at < older_than,
                )
            )
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def _from_document(self, url: str) -> App | None:
        if self._resolver is None:
            return None
        metadata, trusted = await self._resolver.resolve(url)
        try:
            return await self._upsert_document(url, metadata, trusted)
        except IntegrityError:  # a concurrent first use inserted the row: update it
            return await self._upsert_document(url, metadata, trusted)

    async def _upsert_document(
        self, url: str, metadata: dict[str, Any], trusted: bool
    ) -> App | None:
        row_id = cimd_row_id(url)
        values = {
            "name": str(metadata.get("client_name") or url)[:200],
            "redirect_uris": list(metadata["redirect_uris"]),
            "grant_types": list(metadata.get("grant_types") or ["authorization_code"]),
        }
        async with guarded_session(self._sessions) as db:
            row = await db.get(OAuthClient, row_id)
            if row is None:
                row = OAuthClient(
                    client_id=row_id,
                    kind=APP,
                    secret_hash=None,
                    scopes=[],
                    auth_method="none",
                    registered_via="cimd",
                    metadata_url=url,
                    disabled=False,
                    created_at=int(self._clock()),
                    **values,
                )
                db.add(row)
            elif row.disabled:
                return None
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            await db.commit()
            return App.of(row, trusted=trusted)
