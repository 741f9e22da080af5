"""``authgate vault``: API keys for agents, and re-wrapping data keys after a KEK rotation."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from authgate.cli.common import fail, run_with_runtime
from authgate.runtime import Runtime
from authgate.vault import RekeyReport

__all__ = ["vault_app"]

vault_app = typer.Typer(
    help="The credential vault: agents' API keys, KEK rotation (docs/vault.md).",
    no_args_is_help=True,
)


@vault_app.command("put-key")
def vault_put_key(
    agent: Annotated[str, typer.Option(help="The agent's client id.")],
    service: Annotated[str, typer.Option(help="The service name, e.g. openai.")],
) -> None:
    """Store an API key for an agent; the value is read from stdin and never printed."""
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise fail("no key on stdin")

    async def action(runtime: Runtime) -> str:
        client = await runtime.clients.get(agent)
        if client is None or client.kind != "agent":
            raise fail(f"no agent {agent!r}")
        row = await runtime.vault.put_key(f"agent:{agent}", service, value)
        return row.id

    record = run_with_runtime(action)
    typer.echo(f"stored key {service} for agent {agent} (record {record})")


@vault_app.command("rekey")
def vault_rekey() -> None:
    """Re-wrap every data key under AUTHGATE_ENCRYPTION_KEY (old KEK: ..._PREVIOUS)."""

    async def action(runtime: Runtime) -> RekeyReport:
        return await runtime.vault.rekey()

    report = run_with_runtime(action)
    typer.echo(
        f"re-wrapped {report.rewrapped} data keys; {report.unchanged} changed meanwhile "
        f"(already current); {len(report.failed)} could not be opened"
    )
    if report.failed:
        typer.secho("records whose KEK is not configured: " + ", ".join(report.failed), err=True)
        raise typer.Exit(code=1)
