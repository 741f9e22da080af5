"""``authgate users``: user accounts."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from authgate.accounts.users import check_email
from authgate.cli.common import fail, run, state_settings
from authgate.config import Settings
from authgate.errors import AuthgateError, InvalidRequestError

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
