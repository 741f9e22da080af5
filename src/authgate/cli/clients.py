"""``authgate clients``: resource servers, third-party apps, and introspection clients.

A resource server with ``--resource`` is the audience of the tokens authgate issues for
it (docs/authorization-server.md); its secret authenticates its introspection calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from authgate.agents.registry import NewClient
from authgate.authserver.apps import NewApp
from authgate.authserver.redirects import check_redirect_uri
from authgate.authserver.resources import NewResource
from authgate.cli.common import fail, run_with_runtime
from authgate.config import parse_duration
from authgate.runtime import Runtime

__all__ = ["clients_app"]

clients_app = typer.Typer(
    help="Clients: resource servers (APIs, MCP servers) and third-party apps.",
    no_args_is_help=True,
)

_KINDS = ("resource_server", "app", "agent")


def _words(values: list[str]) -> list[str]:
    """Scopes given as repeated options, or space/comma separated in one."""
    return sorted({w for value in values for w in value.replace(",", " ").split() if w})


def _descriptions(values: list[str]) -> dict[str, str]:
    pairs = [value.partition("=") for value in values]
    if any(not sep or not scope.strip() for scope, sep, _ in pairs):
        raise fail('--describe takes SCOPE="what it lets an app do"')
    return {scope.strip(): text.strip() for scope, _, text in pairs}


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="A name people recognise.")],
    kind: Annotated[str, typer.Option(help="resource_server, app or agent.")] = "resource_server",
    scope: Annotated[list[str], typer.Option(help='Scopes, e.g. "mcp:tools mcp:read".')] = [],  # noqa: B006
    resource: Annotated[
        str | None, typer.Option(help="resource_server: its URL, the tokens' audience.")
    ] = None,
    describe: Annotated[
        list[str], typer.Option(help='resource_server: SCOPE="description" for consent.')
    ] = [],  # noqa: B006
    require_permission: Annotated[
        list[str], typer.Option(help="resource_server: a scope only users with it may grant.")
    ] = [],  # noqa: B006
    redirect_uri: Annotated[list[str], typer.Option(help="app: a redirect URI.")] = [],  # noqa: B006
    public: Annotated[bool, typer.Option(help="app: a public client (no secret).")] = False,
    authorization_details_type: Annotated[
        list[str],
        typer.Option(help="resource_server: an RFC 9396 type it accepts, e.g. tool_call."),
    ] = [],  # noqa: B006
) -> None:
    """Register a client; a secret is printed once and only a hash is stored."""
    if kind not in _KINDS:
        raise fail("kind must be resource_server, app or agent")
    scopes = _words(scope)
    if authorization_details_type and (kind != "resource_server" or resource is None):
        raise fail("--authorization-details-type is for a resource_server with --resource")
    if kind == "app":
        _print_app(run_with_runtime(_create_app(name, redirect_uri, public)))
        return
    if kind == "resource_server" and resource is not None:
        descriptions = _descriptions(describe)
        restricted = _words(require_permission)

        async def make(runtime: Runtime) -> NewResource:
            return await runtime.authserver.resources.create(
                name=name,
                url=resource,
                scopes=scopes,
                descriptions=descriptions,
                require_permission=restricted,
                authorization_details_types=_words(authorization_details_type),
            )

        made = run_with_runtime(make)
        typer.echo(f"client_id={made.resource.client_id}")
        typer.echo(f"client_secret={made.secret}")
        typer.echo(f"resource={made.resource.url}")
        typer.secho("Store the secret now: it is not shown again.", err=True)
        return

    async def action(runtime: Runtime) -> NewClient:
        return await runtime.clients.create(name=name, kind=kind, scopes=scopes)

    created = run_with_runtime(action)
    typer.echo(f"client_id={created.client.client_id}")
    typer.echo(f"client_secret={created.secret}")
    typer.secho("Store the secret now: it is not shown again.", err=True)


def _create_app(
    name: str, redirect_uris: list[str], public: bool
) -> Callable[[Runtime], Awaitable[NewApp]]:
    if not redirect_uris:
        raise fail("an app needs at least one --redirect-uri")

    async def action(runtime: Runtime) -> NewApp:
        return await runtime.authserver.apps.create(
            name=name,
            redirect_uris=[check_redirect_uri(uri) for uri in redirect_uris],
            auth_method="none" if public else "client_secret_basic",
        )

    return action


def _print_app(made: NewApp) -> None:
    typer.echo(f"client_id={made.app.public_id}")
    if made.secret is not None:
        typer.echo(f"client_secret={made.secret}")
        typer.secho("Store the secret now: it is not shown again.", err=True)


@clients_app.command("list")
def clients_list() -> None:
    """Resource servers and apps: id, kind, name, resource or redirect URIs, state."""

    async def action(runtime: Runtime) -> list[str]:
        lines = []
        for row in await runtime.clients.all():
            if row.kind == "agent":
                continue  # `authgate agents list`
            state = "disabled" if row.disabled else "active"
            where = row.resource or " ".join(row.redirect_uris or ()) or "-"
            scopes = ",".join(row.scopes) or "-"
            via = f" ({row.registered_via})" if row.registered_via else ""
            ident = row.metadata_url or row.client_id
            lines.append(f"{ident}  {row.kind}{via}  {row.name}  {where}  {scopes}  {state}")
        return lines

    for line in run_with_runtime(action):
        typer.echo(line)


@clients_app.command("disable")
def clients_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Disable a client and end every grant it holds (or, a resource, every grant for it)."""

    async def action(runtime: Runtime) -> int:
        row = await runtime.clients.get(client_id)
        if row is None:
            raise fail("no such client")
        await runtime.clients.disable(client_id)
        return await runtime.authserver.revoke_client(row.client_id, row.resource)

    ended = run_with_runtime(action)
    typer.echo(f"disabled {client_id}; {ended} grants ended")


@clients_app.command("registration-token")
def clients_registration_token(
    label: Annotated[str | None, typer.Option(help="Who it is for.")] = None,
    ttl: Annotated[str, typer.Option(help="How long it is valid, e.g. 1d.")] = "1d",
    uses: Annotated[int, typer.Option(help="How many registrations it allows.")] = 1,
) -> None:
    """An initial access token (RFC 7591 s3) for AUTHGATE_CLIENT_REGISTRATION=token."""
    seconds = parse_duration(ttl)

    async def action(runtime: Runtime) -> str:
        return await runtime.client_registration.make_token(label=label, ttl=seconds, uses=uses)

    typer.echo(f"registration_token={run_with_runtime(action)}")
    typer.secho("Send it as 'Authorization: Bearer <token>' to /oauth2/register.", err=True)
