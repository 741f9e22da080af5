"""``authgate users``: user accounts."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from authgate.accounts.users import check_email
from authgate.cli.common import fail, run, run_with_runtime, state_settings
from authgate.config import Settings
from authgate.errors import AuthgateError, InvalidRequestError
from authgate.runtime import Runtime
from authgate.storage.models import User

__all__ = ["users_app"]

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The account's email address.")],
    role: Annotated[list[str], typer.Option(help="A role; repeat for several.")] = ["user"],  # noqa: B006
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for, or read from stdin."""
    try:
        email = check_email(email)  # the API's rule, before asking for a password
    except InvalidRequestError as exc:
        raise fail(exc.message) from None
    config = state_settings()
    unknown = set(role) - set(config.role_permissions)
    if unknown:
        raise fail(f"unknown role(s): {', '.join(sorted(unknown))}")
    password = _read_password(password_stdin)
    user_id = run(_create_user(config, email, password, name, role))
    typer.echo(f"created user {user_id} <{email}> roles={','.join(role)}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise fail("passwords do not match")
    return first


async def _create_user(
    settings: Settings, email: str, password: str, name: str | None, roles: list[str]
) -> str:
    from authgate.runtime import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.start()
        user = await runtime.users.create(email, password, name=name, roles=roles)
        return user.id
    except AuthgateError as exc:
        raise fail(exc.message) from exc
    finally:
        await runtime.close()


# Administration (issue 16): the same service as /api/admin/users, acting as "cli".

UserArg = Annotated[str, typer.Argument(help="The user's id or email.")]
CLI = "cli"


def _line(user: User) -> str:
    state = "active" if user.is_active else "disabled"
    verified = "verified" if user.email_verified else "unverified"
    mfa = " mfa" if user.totp_enabled_at is not None else ""
    return f"{user.id}  {user.email}  {','.join(user.roles)}  {state}  {verified}{mfa}"


@users_app.command("list")
def users_list(
    search: Annotated[str | None, typer.Option(help="Part of an email or name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List users: id, email, roles, state (never secrets)."""

    async def action(runtime: Runtime) -> list[User]:
        return list(await runtime.admin.search(search, limit=limit, offset=0))

    for user in run_with_runtime(action):
        typer.echo(_line(user))


@users_app.command("show")
def users_show(user: UserArg) -> None:
    """One user, with their sessions and linked identities."""

    async def action(runtime: Runtime) -> list[str]:
        found = await runtime.admin.find(user)
        sessions = await runtime.auth.active_sessions(found.id)
        identities = [i.provider for i in await runtime.oauth.identities(found.id)]
        passkeys = await runtime.accounts.passkey_count(found.id)
        return [
            _line(found),
            f"sessions={len(sessions)} identities={','.join(identities) or '-'} "
            f"passkeys={passkeys}",
        ]

    for line in run_with_runtime(action):
        typer.echo(line)


@users_app.command("disable")
def users_disable(user: UserArg) -> None:
    """Disable a user: every token of theirs is refused from the next request on."""

    async def action(runtime: Runtime) -> int:
        return await runtime.admin.disable((await runtime.admin.find(user)).id, by=CLI)

    typer.echo(f"disabled {user}; revoked {run_with_runtime(action)} sessions")


@users_app.command("enable")
def users_enable(user: UserArg) -> None:
    """Enable a disabled user (they sign in again)."""

    async def action(runtime: Runtime) -> None:
        await runtime.admin.enable((await runtime.admin.find(user)).id, by=CLI)

    run_with_runtime(action)
    typer.echo(f"enabled {user}")


@users_app.command("delete")
def users_delete(
    user: UserArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user's personal data; the audit trail keeps a pseudonymous id."""
    if not yes:
        typer.confirm(f"Delete {user} and their data for good?", abort=True)

    async def action(runtime: Runtime) -> str:
        return await runtime.admin.delete((await runtime.admin.find(user)).id, by=CLI)

    typer.echo(f"deleted {user}; audit events now name {run_with_runtime(action)}")


@users_app.command("set-roles")
def users_set_roles(
    user: UserArg,
    role: Annotated[list[str], typer.Option(help="A role; repeat for several.")],
) -> None:
    """Replace a user's roles; removing one signs them out everywhere."""

    async def action(runtime: Runtime) -> User:
        return await runtime.admin.set_roles((await runtime.admin.find(user)).id, role, by=CLI)

    typer.echo(_line(run_with_runtime(action)))


@users_app.command("logout")
def users_logout(user: UserArg) -> None:
    """Revoke every session of a user (and their delegations and agents' grants)."""

    async def action(runtime: Runtime) -> int:
        return await runtime.admin.logout((await runtime.admin.find(user)).id, by=CLI)

    typer.echo(f"revoked {run_with_runtime(action)} sessions of {user}")


@users_app.command("reset-mfa")
def users_reset_mfa(user: UserArg) -> None:
    """Remove a user's authenticator app, recovery codes and passkeys."""

    async def action(runtime: Runtime) -> None:
        await runtime.admin.reset_mfa((await runtime.admin.find(user)).id, by=CLI)

    run_with_runtime(action)
    typer.echo(f"second factors of {user} removed")
