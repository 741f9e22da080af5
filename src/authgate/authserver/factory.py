"""Build the authorization server's parts from Settings (used by ``authgate.runtime``)."""

from __future__ import annotations

from authgate.audit import AuditTrail
from authgate.authserver.apps import AppRegistry
from authgate.authserver.cimd import MetadataDocuments
from authgate.authserver.codes import CodeStore
from authgate.authserver.consents import ConsentStore
from authgate.authserver.registration import ClientRegistration
from authgate.authserver.resources import ResourceRegistry
from authgate.authserver.service import AuthorizationServer
from authgate.authserver.tokens import ResourceTokens
from authgate.clock import Clock
from authgate.config import Settings
from authgate.keys.keyring import KeySource
from authgate.sessions.service import AuthService
from authgate.storage.store import SqlStore
from authgate.tokens.issuer import TokenIssuer
from authgate.tokens.verifier import TokenVerifier

__all__ = ["build_authorization_server"]


def build_authorization_server(
    settings: Settings,
    *,
    store: SqlStore,
    keys: KeySource,
    auth: AuthService,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    audit: AuditTrail,
    clock: Clock,
) -> tuple[AuthorizationServer, ClientRegistration]:
    engine = store.engine
    documents = (
        MetadataDocuments(
            trusted_hosts=list(settings.cimd_trusted_hosts),
            allow_loopback=settings.cimd_allow_loopback,
            max_bytes=settings.cimd_max_bytes,
            timeout=settings.cimd_timeout,
            cache_ttl=settings.cimd_cache_ttl,
            clock=clock,
        )
        if settings.cimd_enabled
        else None
    )
    apps = AppRegistry(engine, resolver=documents, clock=clock)
    server = AuthorizationServer(
        settings=settings,
        store=store,
        auth=auth,
        issuer=issuer,
        verifier=verifier,
        tokens=ResourceTokens(
            keys=keys,
            issuer=settings.metadata_issuer,
            ttl=settings.access_token_ttl,
            leeway=settings.clock_leeway,
            max_token_bytes=settings.max_token_bytes,
            clock=clock,
        ),
        apps=apps,
        resources=ResourceRegistry(engine, clock=clock),
        consents=ConsentStore(engine, clock=clock),
        codes=CodeStore(engine, ttl=settings.authorization_code_ttl, clock=clock),
        audit=audit,
        clock=clock,
    )
    registration = ClientRegistration(
        engine,
        apps,
        mode=settings.client_registration,
        max_clients=settings.client_registration_max,
        unused_ttl=settings.client_unused_ttl,
        clock=clock,
    )
    return server, registration
