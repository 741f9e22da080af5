"""What a resource server in another process runs to verify authgate's tokens.

May import tokens, keys, agents.dpop and the root modules; never storage or a database.
``server``, ``jwks``, ``revocations`` and ``remote`` are framework-free; ``web`` (FastAPI,
Starlette) and ``mcp`` (the ``mcp`` SDK) are the faces, imported only by those who use them.
"""

from authgate.resource._access import Access, InsufficientScopeError
from authgate.resource.approvals import Approval
from authgate.resource.server import ResourceServer

__all__ = ["Access", "Approval", "InsufficientScopeError", "ResourceServer"]
