"""OpenID Connect Discovery 1.0 and the provider's JWKS, fetched with bounded timeouts.

Discovery s4: the document lives at the issuer (trailing ``/`` removed) plus
``/.well-known/openid-configuration``; s4.3: its ``issuer`` must be identical to the
issuer it was fetched for. Documents and key sets are cached; a key id that the cached
set lacks triggers one refetch (key rotation), at most every ``min_refetch`` seconds
so that tokens with made-up ``kid`` values cannot hammer the provider (RFC 8725 s3.10:
``kid`` is only a dictionary key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from authgate import jsonlimits
from authgate.clock import Clock, system_clock
from authgate.errors import ProviderUnavailableError

__all__ = ["MAX_DOCUMENT_BYTES", "Discovery", "ProviderMetadata", "fetch_json"]

# Discovery documents, key sets, token and UserInfo answers are a few kilobytes.
MAX_DOCUMENT_BYTES = 256 * 1024
_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    token_endpoint_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    id_token_algs: tuple[str, ...] = ("RS256",)
    # RFC 9207 s3: the provider promises `iss` in every authorization response.
    iss_parameter_supported: bool = False
    # RFC 8414 s2 / RFC 7009: where tokens can be revoked, when the provider says.
    revocation_endpoint: str | None = None


@dataclass(slots=True)
class _Cached:
    value: Any
    fetched_at: float


async def fetch_json(http: httpx.AsyncClient, url: str, *, provider: str, **kwargs: Any) -> Any:
    """GET ``url`` as JSON; anything but a timely 200 with JSON is a 502 for the caller."""
    try:
        response = await http.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailableError(provider) from exc
    if response.status_code != 200:
        raise ProviderUnavailableError(
            provider, f"The sign-in provider answered {response.status_code}; please try again"
        )
    try:
        return jsonlimits.loads(response.content, max_bytes=MAX_DOCUMENT_BYTES)
    except ValueError as exc:
        raise ProviderUnavailableError(provider, "The sign-in provider sent no JSON") from exc


class Discovery:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        clock: Clock = system_clock,
        ttl: float = 3600,
        min_refetch: float = 10,
    ) -> None:
        self._http = http
        self._clock = clock
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._documents: dict[str, _Cached] = {}
        self._key_sets: dict[str, _Cached] = {}

    async def metadata(
        self, issuer: str, *, provider: str, overrides: Mapping[str, str] | None = None
    ) -> ProviderMetadata:
        cached = self._documents.get(issuer)
        if cached is None or self._clock() - cached.fetched_at >= self._ttl:
            document = await self._fetch_document(issuer, provider=provider)
            cached = _Cached(document, self._clock())
            self._documents[issuer] = cached
        metadata: ProviderMetadata = cached.value
        # Configured endpoints replace what discovery said (all of them are strings).
        return replace(metadata, **overrides) if overrides else metadata  # type: ignore[arg-type]

    async def key(self, jwks_uri: str, kid: str | None, *, provider: str) -> Key | None:
        """The provider's key named ``kid`` (or its only key), refetching once on a miss."""
        cached = self._key_sets.get(jwks_uri)
        now = self._clock()
        if cached is None or now - cached.fetched_at >= self._ttl:
            cached = await self._fetch_keys(jwks_uri, provider=provider)
        found = _pick(cached.value, kid)
        if found is None and now - cached.fetched_at >= self._min_refetch:
            found = _pick((await self._fetch_keys(jwks_uri, provider=provider)).value, kid)
        return found

    async def _fetch_document(self, issuer: str, *, provider: str) -> ProviderMetadata:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await fetch_json(self._http, url, provider=provider)
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise ProviderUnavailableError(
                provider, "The provider's discovery document names another issuer"
            )
        if not all(isinstance(document.get(key), str) for key in _REQUIRED):
            raise ProviderUnavailableError(
                provider, "The provider's discovery document is incomplete"
            )
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            token_endpoint_auth_methods=_strings(
                document.get("token_endpoint_auth_methods_supported"), ("client_secret_basic",)
            ),
            id_token_algs=_strings(
                document.get("id_token_signing_alg_values_supported"), ("RS256",)
            ),
            iss_parameter_supported=(
                document.get("authorization_response_iss_parameter_supported") is True
            ),
            revocation_endpoint=_string(document.get("revocation_endpoint")),
        )

    async def _fetch_keys(self, jwks_uri: str, *, provider: str) -> _Cached:
        document = await fetch_json(self._http, jwks_uri, provider=provider)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise ProviderUnavailableError(provider, "The provider's JWKS is not a key set")
        cached = _Cached(_import_keys(keys), self._clock())
        self._key_sets[jwks_uri] = cached
        return cached


def _import_keys(keys: list[Any]) -> list[Key]:
    """Public signing keys only; keys of unknown types or for encryption are skipped."""
    usable: list[Key] = []
    for data in keys:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            key_set = KeySet.import_key_set({"keys": [data]})
        except (JoseError, ValueError, TypeError):
            continue
        usable.extend(k for k in key_set.keys if not k.is_private)
    return usable


def _pick(keys: list[Key], kid: str | None) -> Key | None:
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.kid == kid), None)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return default
