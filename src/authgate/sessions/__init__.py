"""Sessions: login, refresh rotation with reuse detection, revocation."""

from authgate.sessions.revocation import RevocationList
from authgate.sessions.service import AuthService, TokenPair

__all__ = ["AuthService", "RevocationList", "TokenPair"]
