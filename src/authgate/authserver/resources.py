"""Resource servers: an API or MCP server registered as a client with a resource URL.

The resource URL is the audience of the tokens issued for it, matched exactly
(RFC 8707 s2, RFC 8725 s3.9). Its scopes are the only ones such a token may carry.

Which scopes a user may grant (docs/authorization-server.md): any signed-in user may
grant a resource's scopes, since the token names the user and the resource decides what
that user may do; a scope the resource marks ``require_permission`` may be granted only
by a user whose roles give the permission of the same name (AUTHGATE_ROLE_PERMISSIONS).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.authserver.authorization_details import KNOWN_TYPES
from authgate.authserver.errors import OAuthError
from authgate.authserver.redirects import is_loopback_http
from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import OAuthClient
from authgate.storage.store import guarded_session

__all__ = [
    "RESOURCE_SERVER",
    "NewResource",
    "Resource",
    "ResourceRegistry",
    "check_resource_url",
    "check_scope_token",
]

RESOURCE_SERVER = "resource_server"
_MAX_URL = 512
# RFC 6749 s3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")


def check_scope_token(scope: str) -> str:
    if not _SCOPE_TOKEN.match(scope):
        raise OAuthError(
            f"Not a scope token (RFC 6749 s3.3): {scope[:40]!r}", error="invalid_scope"
        )
    return scope


def check_resource_url(url: str) -> str:
    """RFC 8707 s2: an absolute URI without fragment; https, or http on loopback."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise OAuthError("The resource must be an absolute URL", error="invalid_target") from exc
    if len(url) > _MAX_URL or parts.fragment or "#" in url or parts.query or not parts.netloc:
        raise OAuthError(
            "The resource must be an absolute URL without query or fragment",
            error="invalid_target",
        )
    if parts.scheme != "https" and not is_loopback_http(url):
        raise OAuthError("The resource must be https (or http on loopback)", error="invalid_target")
    return url


@dataclass(frozen=True, slots=True)
class Resource:
    client_id: str
    name: str
    url: str
    scopes: tuple[str, ...]
    descriptions: Mapping[str, str] = field(default_factory=dict)
    restricted: frozenset[str] = frozenset()
    # RFC 9396 s2 types its approvals may carry (docs/ciba.md), e.g. tool_call.
    details_types: frozenset[str] = frozenset()

    def grantable(self, permissions: Collection[str]) -> frozenset[str]:
        """The scopes a user with ``permissions`` may grant to a client at this resource."""
        return frozenset(s for s in self.scopes if s not in self.restricted or s in permissions)

    def describe(self, scope: str) -> str:
        return self.descriptions.get(scope) or f"{scope} on {self.name}"

    @classmethod
    def of(cls, row: OAuthClient) -> Resource:
        info = row.scope_info or {}
        descriptions = info.get("descriptions") or {}
        return cls(
            client_id=row.client_id,
            name=row.name,
            url=row.resource or "",
            scopes=tuple(row.scopes),
            descriptions={str(k): str(v) for k, v in descriptions.items()},
            restricted=frozenset(str(s) for s in info.get("require_permission") or ()),
            details_types=frozenset(row.authorization_details_types or ()),
        )


@dataclass(frozen=True, slots=True)
class NewResource:
    resource: Resource
    secret: str  # for introspection; shown once, only its hash is stored


class ResourceRegistry:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._clock = clock

    async def create(
        self,
        *,
        name: str,
        url: str,
        scopes: Sequence[str],
        descriptions: Mapping[str, str] | None = None,
        require_permission: Collection[str] = (),
        authorization_details_types: Collection[str] = (),
    ) -> NewResource:
        check_resource_url(url)
        unknown = set(authorization_details_types) - set(KNOWN_TYPES)
        if unknown:
            raise OAuthError(
                f"Unknown authorization_details type {sorted(unknown)[0][:40]!r}",
                error="invalid_authorization_details",
            )
        unique = sorted({check_scope_token(s) for s in scopes})
        extra = (set(require_permission) | set(descriptions or {})) - set(unique)
        if not unique or extra:
            raise OAuthError("Name at least one scope, and describe or restrict only those")
        secret = secrets.token_urlsafe(32)
        row = OAuthClient(
            client_id=f"rs_{secrets.token_urlsafe(12)}",
            name=name,
            kind=RESOURCE_SERVER,
            # The hash ClientRegistry.authenticate compares (SHA-256 of a 256-bit secret).
            secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
            scopes=unique,
            resource=url,
            scope_info={
                "descriptions": dict(descriptions or {}),
                "require_permission": sorted(require_permission),
            },
            authorization_details_types=sorted(set(authorization_details_types)) or None,
            disabled=False,
            created_at=int(self._clock()),
        )
        async with guarded_session(self._sessions) as db:
            if await self._by_url(db, url) is not None:
                raise OAuthError("A resource server with this URL exists", error="invalid_target")
            db.add(row)
            await db.commit()
        return NewResource(Resource.of(row), secret)

    async def by_url(self, url: str) -> Resource | None:
        """The enabled resource server whose URL is exactly ``url``."""
        async with guarded_session(self._sessions) as db:
            row = await self._by_url(db, url)
        if row is None or row.disabled or row.kind != RESOURCE_SERVER:
            return None
        return Resource.of(row)

    async def details_types(self, url: str) -> frozenset[str] | None:
        """RFC 9396 s2: the types the resource at ``url`` accepts; None if none is there."""
        resource = await self.by_url(url)
        return None if resource is None else resource.details_types

    async def all_details_types(self) -> list[str]:
        """RFC 9396 s10 ``authorization_details_types_supported``: what some resource takes."""
        async with guarded_session(self._sessions) as db:
            query = select(OAuthClient.authorization_details_types).where(
                OAuthClient.kind == RESOURCE_SERVER, OAuthClient.disabled.is_(False)
            )
            rows = (await db.execute(query)).scalars().all()
        return sorted({kind for kinds in rows if kinds for kind in kinds})

    async def all_scopes(self) -> list[str]:
        async with guarded_session(self._sessions) as db:
            query = select(OAuthClient.scopes).where(
                OAuthClient.kind == RESOURCE_SERVER, OAuthClient.disabled.is_(False)
            )
            rows = (await db.execute(query)).scalars().all()
        return sorted({scope for scopes in rows for scope in scopes})

    @staticmethod
    async def _by_url(db: AsyncSession, url: str) -> OAuthClient | None:
        if len(url) > _MAX_URL:
            return None
        result = await db.execute(select(OAuthClient).where(OAuthClient.resource == url))
        return result.scalar_one_or_none()
