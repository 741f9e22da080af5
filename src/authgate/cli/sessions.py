"""``authgate sessions``: session housekeeping."""

from __future__ import annotations

import typer

from authgate.cli.common import run, state_settings
from authgate.config import Settings

__all__ = ["sessions_app"]

sessions_app = typer.Typer(help="Session housekeeping.", no_args_is_help=True)


@sessions_app.command("cleanup")
def sessions_cleanup() -> None:
    """Delete expired and long-revoked sessions now (the server also does it periodically)."""
    removed = run(_cleanup(state_settings()))
    typer.echo(f"removed {removed} sessions")


async def _cleanup(settings: Settings) -> int:
    from authgate.runtime import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.start()
        return await runtime.auth.cleanup()
    finally:
        await runtime.close()
