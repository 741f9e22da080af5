"""``AuthgateTokenVerifier``: ``ResourceServer`` as the ``mcp`` SDK's ``TokenVerifier``.

    rs = ResourceServer(issuer=..., resource="http://127.0.0.1:9100/mcp", ...)
    server = FastMCP("notes", token_verifier=AuthgateTokenVerifier(rs),
                     auth=AuthSettings(issuer_url=rs.issuer, resource_server_url=rs.resource,
                                       required_scopes=["mcp:tools"]))

The SDK's bearer middleware passes only the token, so DPoP-bound tokens are refused
here (their proof cannot be checked; RFC 9449 s7.1), and so is every token when the
revocation view cannot be confirmed (fail closed). The token's ``aud`` must be this
resource exactly; ``AccessToken.resource`` says so to the SDK as well (RFC 8707).
"""

from __future__ import annotations

import logging

from mcp.server.auth.provider import AccessToken

from authgate.errors import AuthgateError
from authgate.resource.server import ResourceServer

__all__ = ["AuthgateTokenVerifier"]

logger = logging.getLogger("authgate.resource")


class AuthgateTokenVerifier:
    """Implements ``mcp.server.auth.provider.TokenVerifier``."""

    def __init__(self, resource_server: ResourceServer) -> None:
        self.rs = resource_server

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            access = await self.rs.verify(token)
        except AuthgateError as exc:
            # The SDK answers 401 for None; the reason is logged, never the token.
            logger.info("mcp token refused: %s", type(exc).__name__)
            return None
        return AccessToken(
            token=token,
            client_id=access.client_id or access.subject,
            scopes=sorted(access.scopes),
            expires_at=access.expires_at,
            resource=self.rs.resource,
            subject=access.subject,
            claims=access.claims,
        )
