"""``ResourceServer``: what an API or MCP server elsewhere runs to accept authgate's tokens.

    rs = ResourceServer(issuer="http://127.0.0.1:8000", resource="http://127.0.0.1:9000/mcp",
                        client_id="resou_...", client_secret="...")
    await rs.start()              # RFC 8414 metadata, JWKS, then follows revocations
    access = await rs.verify(token, scopes=["mcp:tools"])
    approval = await rs.verify_approval(token, tool="send_payment", arguments=body)

No database and no authgate secret: keys come from the issuer's JWKS, revocations from
its feed (``GET /oauth2/revocations``). Each token is checked as authgate checks its own:
the shared strict parser (``authgate.tokens.strict``), the key's own algorithm from an
asymmetric allow-list (RFC 8725 s2.1, s3.1), ``typ`` ``at+jwt`` (RFC 9068 s2.1),
``iss`` and ``aud`` exactly (RFC 8725 s3.8, s3.9; ``aud`` is this resource, RFC 8707),
``exp``/``iat``/``nbf`` (RFC 7519 s4.1), the revocation view, scopes (RFC 6750 s3.1),
and a DPoP proof when the token is bound (RFC 9449 s7.1).

Approval tokens (those carrying RFC 9396 ``authorization_details``, issue 17) are
refused by ``verify``: ``verify_approval`` accepts one only for the call it approves,
once (``authgate.resource.approvals``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from authgate.agents.dpop import DPoPVerifier
from authgate.errors import (
    ApprovalTokenMisuseError,
    DPoPBindingError,
    InvalidClaimError,
    InvalidSignatureError,
    MalformedTokenError,
    RevokedTokenError,
    StorageUnavailableError,
)
from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS
from authgate.resource._access import (
    Access,
    InsufficientScopeError,
    ReplayCache,
    access_of,
    check_scopes,
)
from authgate.resource.approvals import SUPPORTED_TYPES, Approval, Redeemer, match_tool_call
from authgate.resource.introspection import Introspector
from authgate.resource.jwks import JwksCache
from authgate.resource.revocations import HttpRevocationFollower, RevocationView
from authgate.tokens._compact import VerifiedCache, token_digest
from authgate.tokens.claims import ACCESS_TYP, ClaimsPolicy
from authgate.tokens.strict import read_header, verified_claims

__all__ = ["Access", "Approval", "InsufficientScopeError", "ResourceServer", "metadata_url"]

logger = logging.getLogger("authgate.resource")

HS256_WARNING = (
    "authgate at %s publishes no asymmetric signing key: it signs with HS256, whose tokens "
    "cannot be verified outside authgate. Set AUTHGATE_SIGNING_ALG=EdDSA (and "
    "AUTHGATE_ENCRYPTION_KEY) on the authgate server; until then every token is refused."
)


def metadata_url(issuer: str) -> str:
    """RFC 8414 s3.1: the well-known suffix goes between the host and the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"


class ResourceServer:
    def __init__(
        self,
        *,
        issuer: str,
        resource: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes_supported: Sequence[str] = (),
        authorization_details_types: Sequence[str] = (),
        follow_revocations: bool = True,
        introspection: bool = False,
        introspection_ttl: float = 5.0,
        max_staleness: float = 30.0,
        fail_closed: bool = True,
        leeway: int = 10,
        max_token_bytes: int = 8192,
        min_refetch_interval: float = 30.0,
        cache_size: int = 4096,
        dpop_iat_window: int = 60,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Introspection asks the issuer about each token: it needs no feed of its own.
        follow_revocations = follow_revocations and not introspection
        if (follow_revocations or introspection) and not (client_id and client_secret):
            raise ValueError(
                "following revocations needs client_id and client_secret (authgate clients "
                "create); pass follow_revocations=False to accept revoked tokens until expiry"
            )
        self.issuer = issuer
        self.resource = resource
        self.scopes_supported = tuple(scopes_supported)
        self.authorization_details_types = tuple(authorization_details_types)
        self._client = (client_id, client_secret) if client_id and client_secret else None
        self._follow = follow_revocations
        self._introspection_ttl = introspection_ttl if introspection else None
        self.introspector: Introspector | None = None
        self._fail_closed = fail_closed
        self._max_staleness = max_staleness
        self._max_bytes = max_token_bytes
        self._min_refetch = min_refetch_interval
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._own_http = http is None
        self._clock = clock
        # iss and aud are checked here, exactly; the policy only does the times.
        self._times = ClaimsPolicy(issuer, resource, "access", leeway)
        self._cache: VerifiedCache[dict[str, Any]] = VerifiedCache(cache_size)
        self.revocations = RevocationView(max_staleness=max_staleness, clock=clock)
        self.jwks: JwksCache | None = None
        self.follower: HttpRevocationFollower | None = None
        self.redeemer: Redeemer | None = None
        self._task: asyncio.Task[None] | None = None
        self.dpop = DPoPVerifier(
            single_use=ReplayCache(clock=clock),
            nonce_secret=secrets.token_bytes(32),
            iat_window=dpop_iat_window,
            leeway=leeway,
            public_url=resource,
            clock=clock,
        )

    # Life cycle

    async def start(self, *, sync_timeout: float = 10.0) -> None:
        """Discover the issuer, load its keys, and start following revocations."""
        metadata = await self._metadata()
        self.jwks = JwksCache(
            url=metadata["jwks_uri"],
            http=self._http,
            clock=self._clock,
            min_refetch_interval=self._min_refetch,
        )
        await self.jwks.refresh(force=True)
        if not self.jwks.kids:
            logger.error(HS256_WARNING, self.issuer)
        self.revocations.on_key_revoked = self._retire_key
        self.redeemer = self._redeemer(metadata)
        if self._introspection_ttl is not None:
            self.introspector = self._introspector(metadata, self._introspection_ttl)
            return
        if not self._follow:
            logger.warning("not following revocations: revoked tokens work until they expire")
            return
        await self._start_follower(metadata, sync_timeout)

    async def _metadata(self) -> dict[str, Any]:
        response = await self._http.get(metadata_url(self.issuer))
        response.raise_for_status()
        metadata = response.json()
        # RFC 8414 s3.3: the issuer in the document must be the one we asked about.
        if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
            raise ValueError(f"{metadata_url(self.issuer)} is not the metadata of {self.issuer}")
        if not isinstance(metadata.get("jwks_uri"), str):
            raise ValueError("the issuer's metadata has no jwks_uri")
        return metadata

    def _redeemer(self, metadata: dict[str, Any]) -> Redeemer | None:
        if self._client is None:
            return None  # approvals need the resource's credentials: verify_approval refuses
        url = metadata.get("authgate_approval_redemption_endpoint")
        if not isinstance(url, str):
            token_endpoint = metadata.get("token_endpoint")
            if not isinstance(token_endpoint, str):
                return None
            url = urljoin(token_endpoint, "approvals/redeem")  # beside /oauth2/token
        return Redeemer(
            url=url, client_id=self._client[0], client_secret=self._client[1], http=self._http
        )

    def _introspector(self, metadata: dict[str, Any], ttl: float) -> Introspector:
        assert self._client is not None
        url = metadata.get("introspection_endpoint")
        if not isinstance(url, str):
            raise ValueError("the issuer publishes no introspection_endpoint")
        return Introspector(
            url=url,
            issuer=self.issuer,
            resource=self.resource,
            client_id=self._client[0],
            client_secret=self._client[1],
            http=self._http,
            ttl=ttl,
            clock=self._clock,
        )

    async def _start_follower(self, metadata: dict[str, Any], sync_timeout: float) -> None:
        assert self._client is not None
        feed = metadata.get("authgate_revocation_feed_endpoint")
        if not isinstance(feed, str):
            raise ValueError("the issuer publishes no revocation feed")
        self.follower = HttpRevocationFollower(
            url=feed,
            view=self.revocations,
            http=self._http,
            client_id=self._client[0],
            client_secret=self._client[1],
            # Long polls end well within the staleness bound, so a quiet feed stays fresh.
            wait=max(1.0, min(20.0, self._max_staleness / 3)),
        )
        self._task = asyncio.create_task(self.follower.run(), name="authgate-revocations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.follower.synced.wait(), sync_timeout)
        if not self.follower.synced.is_set():
            logger.error("could not read the revocation feed at %s yet; retrying", feed)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_http:
            await self._http.aclose()

    def _retire_key(self, kid: str) -> None:
        if self.jwks is not None:
            self.jwks.retire(kid)
        self._cache.clear()

    # Verification

    async def verify(
        self,
        token: str,
        *,
        scopes: Sequence[str] = (),
        scheme: str = "bearer",
        dpop_proofs: Sequence[str] = (),
        method: str = "GET",
        url: str | None = None,
    ) -> Access:
        """The access a valid token grants; raises an ``AuthgateError`` subclass otherwise.

        ``scheme`` is the Authorization scheme used (``bearer`` or ``dpop``); a
        DPoP-bound token needs ``dpop``, one proof, and the request's method and URL.
        Approval tokens are refused (``ApprovalTokenMisuseError``): see ``verify_approval``.
        """
        claims = await self._valid_claims(token)
        if "authorization_details" in claims:
            raise ApprovalTokenMisuseError()
        access = access_of(token, claims)
        await self._check_sender(access, scheme, dpop_proofs, method, url)
        check_scopes(access, scopes)
        return access

    async def verify_approval(
        self,
        token: str,
        *,
        tool: str,
        arguments: Mapping[str, Any],
        type: str = "tool_call",  # RFC 9396 s2 names the member "type"
        scopes: Sequence[str] = (),
        scheme: str = "bearer",
        dpop_proofs: Sequence[str] = (),
        method: str = "POST",
        url: str | None = None,
    ) -> Approval:
        """The approval of exactly this call, redeemed: usable once, on any instance.

        The token is verified as ``verify`` does (signature, ``aud``, times,
        revocations, DPoP proof when bound, scopes); then an entry of ``type`` for this
        resource and ``tool`` must carry the SHA-256 of ``arguments`` (RFC 8785); last,
        authgate marks the token used. Raises an ``ApprovalRequiredError`` naming the reason.
        """
        if type not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported authorization details type: {type}")
        if self.redeemer is None:
            raise StorageUnavailableError(
                "approvals", "This resource server cannot redeem approvals (no client credentials)"
            )
        claims = await self._valid_claims(token)
        access = access_of(token, claims)
        await self._check_sender(access, scheme, dpop_proofs, method, url)
        detail = match_tool_call(claims, resource=self.resource, tool=tool, arguments=arguments)
        check_scopes(access, scopes)
        await self.redeemer.redeem(token)
        return Approval(access=access, detail=detail, arguments=arguments)

    async def _valid_claims(self, token: str) -> dict[str, Any]:
        if self.introspector is not None:
            claims = _from_introspection(await self.introspector.claims(token))
            self._times.validate_times(claims, self._clock())
            return claims
        claims = await self._claims(token)
        self._check_revocation(claims)
        return claims

    async def _claims(self, token: str) -> dict[str, Any]:
        if not token or len(token) > self._max_bytes or not token.isascii():
            raise MalformedTokenError()
        digest = token_digest(token)
        claims = self._cache.get(digest)
        if claims is None:
            claims = await self._verified(token)
            self._cache.put(digest, claims)
        self._times.validate_times(claims, self._clock())
        return claims

    async def _verified(self, token: str) -> dict[str, Any]:
        header = read_header(token, typ=ACCESS_TYP)
        kid = header.get("kid")
        if not isinstance(kid, str) or header["alg"] not in ASYMMETRIC_ALGORITHMS:
            raise InvalidSignatureError()
        if self.jwks is None:
            raise StorageUnavailableError("keys", "The resource server has not started")
        key = await self.jwks.key(kid)
        if key is None:
            raise InvalidSignatureError()
        claims = verified_claims(token, key, header)
        if claims.get("iss") != self.issuer:
            raise InvalidClaimError("iss")
        if claims.get("aud") != self.resource:
            raise InvalidClaimError("aud")
        claims["_kid"] = kid
        return claims

    def _check_revocation(self, claims: dict[str, Any]) -> None:
        if not self._follow:
            return
        if self.revocations.stale and self._fail_closed:
            raise StorageUnavailableError(
                "revocations",
                "Cannot confirm token revocations with the authorization server; retry shortly",
            )
        session_id = claims.get("sessionId")
        client_id = claims.get("client_id")
        if self.revocations.revoked(
            session_id=session_id if isinstance(session_id, str) else None,
            client_id=client_id if isinstance(client_id, str) else None,
            iat=float(claims["iat"]),
            kid=str(claims["_kid"]),
        ):
            raise RevokedTokenError()

    async def _check_sender(
        self,
        access: Access,
        scheme: str,
        proofs: Sequence[str],
        method: str,
        url: str | None,
    ) -> None:
        if access.jkt is None:
            if scheme == "dpop":
                raise DPoPBindingError("not_bound")
            return
        if scheme != "dpop":
            raise DPoPBindingError("bearer_downgrade")  # RFC 9449 s7.1
        if url is None:
            raise DPoPBindingError("no_verifier")  # fail closed: nothing to check against
        await self.dpop.verify_request(
            proofs, method=method, url=url, access_token=access.token, expected_jkt=access.jkt
        )

    # RFC 9728

    def metadata(self) -> dict[str, Any]:
        """The protected resource metadata document (RFC 9728 s2)."""
        body: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
        }
        if self.scopes_supported:
            body["scopes_supported"] = list(self.scopes_supported)
        if self.authorization_details_types:
            # RFC 9396 s10's member, here for the resource: which types it checks.
            body["authorization_details_types_supported"] = list(self.authorization_details_types)
        return body

    @property
    def metadata_url(self) -> str:
        """RFC 9728 s3.1: the well-known suffix between the host and the resource's path."""
        parts = urlsplit(self.resource)
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{path}"


def _from_introspection(body: dict[str, Any]) -> dict[str, Any]:
    """RFC 7662 s2.2 names to the token's own (``sid`` is authgate's ``sessionId``)."""
    claims = {k: v for k, v in body.items() if k not in ("active", "token_type", "sid")}
    if isinstance(body.get("sid"), str):
        claims["sessionId"] = body["sid"]
    return claims
