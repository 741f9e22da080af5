"""Sessions: login, refresh rotation with reuse detection, revocation.

May import tokens, keys, storage and the root modules.
"""

from authgate.sessions.service import AuthService, TokenPair
from authgate.storage.revocations import RevocationList

__all__ = ["AuthService", "RevocationList", "TokenPair"]
