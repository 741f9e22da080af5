"""``authgate audit``: read the audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.cli.common import run, state_settings
from authgate.config import Settings

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Read the audit trail.", no_args_is_help=True)


@audit_app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many events.")] = 20,
    event: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
) -> None:
    """Show the most recent audit events, oldest first."""
    for line in run(_audit_lines(state_settings(), limit, event)):
        typer.echo(line)


async def _audit_lines(settings: Settings, limit: int, event: str | None) -> list[str]:
    from authgate.http.routes.auth import iso
    from authgate.runtime import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.start()
        rows = await runtime.store.recent_audit(limit=limit, event=event)
    finally:
        await runtime.close()
    return [
        f"{iso(row.at)} {row.event} user={row.user_id or '-'} session={row.session_id or '-'} "
        f"ip={row.ip or '-'} {row.detail or ''}".rstrip()
        for row in reversed(rows)
    ]
