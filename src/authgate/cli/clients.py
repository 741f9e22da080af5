"""``authgate clients``: machine clients (resource servers, agents)."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.agents.registry import NewClient
from authgate.cli.common import fail, run_with_runtime
from authgate.runtime import Runtime

__all__ = ["clients_app"]

clients_app = typer.Typer(help="Machine clients (resource servers, agents).", no_args_is_help=True)


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="A name people recognise.")],
    kind: Annotated[str, typer.Option(help="resource_server or agent.")] = "resource_server",
    scope: Annotated[list[str], typer.Option(help="An allowed scope; repeat for several.")] = [],  # noqa: B006
) -> None:
    """Register a client; its secret is printed once and only a hash is stored."""
    if kind not in ("resource_server", "agent"):
        raise fail("kind must be resource_server or agent")

    async def action(runtime: Runtime) -> NewClient:
        return await runtime.clients.create(name=name, kind=kind, scopes=scope)

    created = run_with_runtime(action)
    typer.echo(f"client_id={created.client.client_id}")
    typer.echo(f"client_secret={created.secret}")
    typer.secho("Store the secret now: it is not shown again.", err=True)
