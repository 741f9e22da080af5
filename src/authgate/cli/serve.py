"""``authgate serve``: the API under uvicorn, one process or several workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli.common import fail, run, settings
from authgate.cli.db import upgrade_database

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    ssl_certfile: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="TLS certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="TLS private key (PEM).")
    ] = None,
) -> None:
    """Serve the authgate API with uvicorn (HTTPS directly with --ssl-certfile/--ssl-keyfile)."""
    import uvicorn

    from authgate.logconfig import log_config

    config = settings()
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise fail("--ssl-certfile and --ssl-keyfile go together")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": config.log_level,
        "log_config": log_config(config.log_level, config.log_format),
        "proxy_headers": False,
        "server_header": False,
        # authgate writes the access log itself (authgate.access), cheaper and redacted.
        "access_log": not config.access_log,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
    }
    if workers == 1:
        from authgate.http.app import create_app

        uvicorn.run(create_app(config), **options)
        return
    if config.redis_url is None:
        # Revocations, rate-limit counters and one-time markers would stay in each
        # worker's memory: a logout or a failed login would not reach the others.
        raise fail(
            "--workers > 1 needs shared hot state: set AUTHGATE_REDIS_URL (see docs/deploy.md)"
        )
    if config.migrate_on_start:
        run(upgrade_database(config, "head"))  # once, before the workers race for it
    # Each worker builds its own app from the same environment.
    uvicorn.run("authgate.http.app:create_app", factory=True, workers=workers, **options)
