"""``authgate agents``: agent identities (OAuth clients that get tokens on their own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.accounts.users import normalise_email
from authgate.agents.okp import weak_okp_key
from authgate.agents.registry import PING, CibaRegistration
from authgate.authserver.ciba import check_notification_endpoint
from authgate.authserver.errors import OAuthError
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
    if any(key.get("kty") == "OKP" and weak_okp_key(key) for key in keys):
        raise fail("the JWKS file holds a weak OKP key (small order or not Ed25519/Ed448)")
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
    ciba_mode: Annotated[
        str | None, typer.Option(help="Approvals (CIBA): poll (the default) or ping.")
    ] = None,
    notification_endpoint: Annotated[
        str | None, typer.Option(help="ping mode: the agent's https notification endpoint.")
    ] = None,
) -> None:
    """Create an agent; its client secret is printed once and only a hash is stored.

    With ``--jwks-file`` the agent authenticates with private_key_jwt only: no secret.
    """
    jwks = _public_jwks(jwks_file)
    backchannel = _backchannel(ciba_mode, notification_endpoint)

    async def action(runtime: Runtime) -> tuple[OAuthClient, str | None]:
        user = await runtime.store.user_by_email(normalise_email(owner))
        if user is None:
            raise fail(f"no user {owner}")
        _within_owner(runtime, user, _scopes(scopes))
        fields: dict[str, Any] = {
            "name": name,
            "kind": "agent",
            "scopes": _scopes(scopes),
            "owner_user_id": user.id,
            "dpop_required": dpop,
            "backchannel": backchannel,
        }
        client, secret = await _create(runtime, fields, jwks)
        await runtime.audit.record("agent.created", user_id=user.id, agent=client.client_id)
        return client, secret

    client, secret = run_with_runtime(action)
    typer.echo(f"client_id={client.client_id}")
    if secret is None:
        typer.secho("No client secret: this agent authenticates with private_key_jwt.", err=True)
        return
    typer.echo(f"client_secret={secret}")
    typer.secho("Store the secret now: it is not shown again.", err=True)


def _backchannel(mode: str | None, endpoint: str | None) -> CibaRegistration | None:
    """OpenID CIBA Core 1.0 s4: ping needs the endpoint it is called at; poll has none."""
    if mode is None and endpoint is None:
        return None
    if mode not in ("poll", "ping"):
        raise fail("--ciba-mode is poll or ping")
    if (mode == "ping") != (endpoint is not None):
        raise fail("--notification-endpoint goes with --ciba-mode ping, and only with it")
    if endpoint is not None:
        try:
            check_notification_endpoint(endpoint)
        except OAuthError as exc:
            raise fail(exc.message) from exc
    return CibaRegistration(mode, endpoint)


async def _create(
    runtime: Runtime, fields: dict[str, Any], jwks: dict[str, Any] | None
) -> tuple[OAuthClient, str | None]:
    if jwks is not None:
        return await runtime.clients.create_with_keys(**fields, jwks=jwks), None
    created = await runtime.clients.create(**fields)
    return created.client, created.secret


@agents_app.command("list")
def agents_list() -> None:
    """List agents: id, name, scopes, state (never secrets)."""

    async def action(runtime: Runtime) -> list[OAuthClient]:
        return await runtime.clients.all("agent")

    for agent in run_with_runtime(action):
        state = "disabled" if agent.disabled else "active"
        flags = " dpop" if agent.dpop_required else ""
        if agent.backchannel_token_delivery_mode == PING:
            flags += " ciba-ping"
        typer.echo(f"{agent.client_id}  {agent.name}  {','.join(agent.scopes)}  {state}{flags}")


@agents_app.command("rotate-secret")
def agents_rotate_secret(client_id: Annotated[str, typer.Argument()]) -> None:
    """Issue a new secret; the old one stops working and the agent's grants are revoked."""

    async def action(runtime: Runtime) -> str:
        secret = await runtime.clients.rotate_secret(client_id)
        await runtime.audit.record("agent.secret_rotated", agent=client_id)
        # Its own reason, so the audit trail tells a re-key from a disable.
        await runtime.auth.revoke_agent(client_id, reason="agent_secret_rotated")
        return secret

    typer.echo(f"client_secret={run_with_runtime(action)}")


@agents_app.command("disable")
def agents_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Disable an agent and revoke every token and delegation it holds."""

    async def action(runtime: Runtime) -> int:
        await runtime.clients.disable(client_id)
        await runtime.audit.record("agent.disabled", agent=client_id)
        return await runtime.auth.revoke_agent(client_id, reason="agent_disabled")

    typer.echo(f"disabled {client_id}; revoked {run_with_runtime(action)} grants")
