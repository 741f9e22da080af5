"""authgate: the authentication front door for AI-agent APIs.

Public API; everything not exported here is internal and may change.
"""

from authgate.config import Settings, load_settings
from authgate.errors import (
    AuthenticationError,
    AuthgateError,
    ExpiredTokenError,
    InvalidTokenError,
    PermissionDeniedError,
)
from authgate.http.app import create_app
from authgate.http.dependencies import require
from authgate.http.middleware import AuthMiddleware
from authgate.principal import Principal
from authgate.sessions.authenticator import Authenticator

__version__ = "0.1.0"

__all__ = [
    "AuthMiddleware",
    "AuthenticationError",
    "Authenticator",
    "AuthgateError",
    "ExpiredTokenError",
    "InvalidTokenError",
    "PermissionDeniedError",
    "Principal",
    "Settings",
    "create_app",
    "load_settings",
    "require",
]
