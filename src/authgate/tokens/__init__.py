"""Issue and verify authgate's JWT access and refresh tokens.

May import keys, storage and the root modules.
"""

from authgate.tokens.claims import ACCESS_TYP, REFRESH_TYP, AccessClaims, RefreshClaims
from authgate.tokens.issuer import IssuedToken, TokenIssuer
from authgate.tokens.verifier import TokenVerifier

__all__ = [
    "ACCESS_TYP",
    "REFRESH_TYP",
    "AccessClaims",
    "IssuedToken",
    "RefreshClaims",
    "TokenIssuer",
    "TokenVerifier",
]
