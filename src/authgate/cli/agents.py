"""``authgate agents``: agent identities (OAuth clients that get tokens on their own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.accounts.users import normalise_email
from authgate.agents.registry import NewClient
from authgate.cli.common import fail, run_with_runtime
from authgate.runtime import Runtime
from authgate.scopes import is_vault_scope
from authgate.storage.models import OAuthClient, User

__all__ = ["agents_app"]

agents_app = typer.Typer(
    help="Agent identities: create, list, rotate-secret, disable.", no_args_is_help=True
)


def _scopes(value: str) -> list[str]:
    return sorted({scope.strip() for scope in value.split(",") if scope.strip()})


def _public_jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    jwks = json.loads(path.read_text())
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise fail('the JWKS file must hold {"keys": [...]}')
    if any("d" in key for key in keys):
        raise fail("the JWKS file holds a private key: register only public keys")
    return {"keys": keys}


def _within_owner(runtime: Runtime, owner: User, scopes: list[str]) -> None:
    """An agent never holds more than the user who answers for it (vault:* reach only
    that user's own connections, so they are theirs to give)."""
    permitted = set(runtime.settings.permissions_for(list(owner.roles)))
    beyond = sorted(s for s in scopes if s not in permitted and not is_vault_scope(s))
    if not owner.is_active:
        raise fail(f"{owner.email} is disabled")
    if beyond:
        raise fail(f"{owner.email} does not hold {', '.join(beyond)}; the agent cannot either")


@agents_app.command("create")
def agents_create(
    name: Annotated[str, typer.Option(help="A name people recognise.")],
    owner: Annotated[str, typer.Option(help="Email of the user who answers for this agent.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes, e.g. use_agent.")],
    jwks_file: Annotated[
        Path | None, typer.Option(help="Public JWKS for private_key_jwt authentication.")
    ] = None,
    dpop: Annotated[bool, typer.Option("--dpop", help="Require DPoP-bound tokens.")] = False,
) -> None:
    """Create an agent; its client secret is printed once and only a hash is stored."""
    jwks = _public_jwks(jwks_file)

    async def action(runtime: Runtime) -> NewClient:
        user = await runtime.store.user_by_email(normalise_email(owner))
        if user is None:
            raise fail(f"no user {owner}")
        _within_owner(runtime, user, _scopes(scopes))
        created = await runtime.clients.create(
            name=name,
            kind="agent",
            scopes=_scopes(scopes),
            owner_user_id=user.id,
            dpop_required=dpop,
        )
        if jwks is not None:
            await runtime.clients.set_jwks(created.client.client_id, jwks)
        await runtime.audit.record("agent.created", user_id=user.id, agent=created.client.client_id)
        return created

    created = run_with_runtime(action)
    typer.echo(f"client_id={created.client.client_id}")
    typer.echo(f"client_secret={created.secret}")
    typer.secho("Store the secret now: it is not shown again.", err=True)


@agents_app.command("list")
def agents_list() -> None:
    """List agents: id, name, scopes, state (never secrets)."""

    async def action(runtime: Runtime) -> list[OAuthClient]:
        return await runtime.clients.all("agent")

    for agent in run_with_runtime(action):
        state = "disabled" if agent.disabled else "active"
        flags = " dpop" if agent.dpop_required else ""
        typer.echo(f"{agent.client_id}  {agent.name}  {','.join(agent.scopes)}  {state}{flags}")


@agents_app.command("rotate-secret")
def agents_rotate_secret(client_id: Annotated[str, typer.Argument()]) -> None:
    """Issue a new secret; the old one stops working and the agent's grants are revoked."""

    async def action(runtime: Runtime) -> str:
        secret = await runtime.clients.rotate_secret(client_id)
        await runtime.auth.revoke_agent(client_id)
        return secret

    typer.echo(f"client_secret={run_with_runtime(action)}")


@agents_app.command("disable")
def agents_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Disable an agent and revoke every token and delegation it holds."""

    async def action(runtime: Runtime) -> int:
        await runtime.clients.disable(client_id)
        return await runtime.auth.revoke_agent(client_id)

    typer.echo(f"disabled {client_id}; revoked {run_with_runtime(action)} grants")
