"""A FastAPI service on another port that accepts authgate's tokens for its resource.

It holds no authgate secret and no database: it reads authgate's RFC 8414 metadata and
JWKS, follows its revocation feed as a registered client, and answers 401/403/503 as
RFC 6750 and RFC 9728 say. With `make run` serving authgate (EdDSA signing, see README
"Protect a service that runs elsewhere"):

    AUTHGATE_URL=http://127.0.0.1:8000 SERVICE_URL=http://127.0.0.1:9000 \\
    SERVICE_CLIENT_ID=... SERVICE_CLIENT_SECRET=... python examples/service.py

Environment: AUTHGATE_URL (the issuer), SERVICE_URL (this service's resource URL, as
registered in AUTHGATE_RESOURCES; it also gives the port), SERVICE_CLIENT_ID and
SERVICE_CLIENT_SECRET (from `authgate clients create`), SERVICE_MAX_STALENESS (seconds
without confirmation from the feed before refusing with 503; default 30).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import Depends, FastAPI

from authgate.resource import Access, ResourceServer
from authgate.resource.web import install, lifespan_for, require_scope


def build_app() -> FastAPI:
    rs = ResourceServer(
        issuer=os.environ.get("AUTHGATE_URL", "http://127.0.0.1:8000"),
        resource=os.environ.get("SERVICE_URL", "http://127.0.0.1:9000"),
        client_id=os.environ["SERVICE_CLIENT_ID"],
        client_secret=os.environ["SERVICE_CLIENT_SECRET"],
        scopes_supported=["notes:read", "notes:write"],
        max_staleness=float(os.environ.get("SERVICE_MAX_STALENESS", "30")),
    )
    app = FastAPI(title="notes service", lifespan=lifespan_for(rs))
    install(app, rs)

    @app.get("/notes")
    async def notes(access: Access = Depends(require_scope("notes:read"))) -> dict[str, Any]:
        return {
            "notes": ["first note"],
            "for": access.subject,
            "client": access.client_id,
            "scopes": sorted(access.scopes),
        }

    @app.post("/notes")
    async def add_note(access: Access = Depends(require_scope("notes:write"))) -> dict[str, Any]:
        return {"added": True, "by": access.subject}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    url = urlsplit(os.environ.get("SERVICE_URL", "http://127.0.0.1:9000"))
    uvicorn.run(build_app(), host=url.hostname or "127.0.0.1", port=url.port or 9000)


if __name__ == "__main__":
    main()
