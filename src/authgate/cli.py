"""The ``authgate`` command: serve, secrets, users, sessions housekeeping, audit."""

from __future__ import annotations

import asyncio
import getpass
import sys
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from authgate.cli_agents import agents_app
from authgate.cli_keys import clients_app, keys_app
from authgate.cli_vault import vault_app
from authgate.config import Settings, load_settings, validate_secrets
from authgate.errors import AuthgateError, ConfigurationError
from authgate.keys.secrets import check_secret, generate_secret

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(help="authgate: authentication for AI-agent APIs.", no_args_is_help=True)
secrets_app = typer.Typer(help="Generate and check JWT signing secrets.", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Session housekeeping.", no_args_is_help=True)
audit_app = typer.Typer(help="Read the audit trail.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(agents_app, name="agents")
app.add_typer(vault_app, name="vault")
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _settings(*, check_secrets: bool = True) -> Settings:
    try:
        return load_settings(check_secrets=check_secrets)
    except AuthgateError as exc:
        raise _fail(exc.message) from exc


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@app.command()
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

    settings = _settings()
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise _fail("--ssl-certfile and --ssl-keyfile go together")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level, settings.log_format),
        "proxy_headers": False,
        "server_header": False,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
    }
    if workers == 1:
        from authgate.http.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    if settings.redis_url is None:
        # Revocations, rate-limit counters and one-time markers would stay in each
        # worker's memory: a logout or a failed login would not reach the others.
        raise _fail(
            "--workers > 1 needs shared hot state: set AUTHGATE_REDIS_URL (see docs/deploy.md)"
        )
    if settings.migrate_on_start:
        _run(_db_upgrade(settings, "head"))  # once, before the workers race for it
    # Each worker builds its own app from the same environment.
    uvicorn.run("authgate.http.app:create_app", factory=True, workers=workers, **options)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply pending migrations to AUTHGATE_DATABASE_URL (safe to run concurrently)."""
    current = _run(_db_upgrade(_settings(check_secrets=False), revision))
    typer.echo(f"database at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the head this authgate expects."""
    from authgate.storage.migrate import head_revision

    current = _run(_db_current(_settings(check_secrets=False)))
    typer.echo(f"database at revision {current or 'none'}; head is {head_revision()}")
    if current != head_revision():
        raise typer.Exit(code=1)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the change does.")],
) -> None:
    """Developers: write a revision for the model changes (compared on a scratch SQLite)."""
    import tempfile

    from authgate.storage.database import create_engine
    from authgate.storage.migrate import autogenerate_revision, upgrade

    async def generate(url: str) -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            await autogenerate_revision(engine, message)
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as scratch:
        _run(generate(f"sqlite+aiosqlite:///{scratch}/scratch.db"))


async def _db_upgrade(settings: Settings, revision: str) -> str | None:
    from authgate.storage.database import create_engine
    from authgate.storage.migrate import upgrade

    engine = create_engine(settings.resolved_database_url)
    try:
        return await upgrade(engine, revision)
    except AuthgateError as exc:
        raise _fail(exc.message) from exc
    finally:
        await engine.dispose()


async def _db_current(settings: Settings) -> str | None:
    from authgate.storage.database import create_engine
    from authgate.storage.migrate import current_revision

    engine = create_engine(settings.resolved_database_url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


@secrets_app.command("generate")
def secrets_generate() -> None:
    """Print a ready .env block with two distinct 64-byte base64url secrets."""
    typer.echo("# authgate JWT secrets: keep this file private (chmod 600), never commit it.")
    typer.echo(f"JWT_ACCESS_SECRET={generate_secret()}")
    typer.echo(f"JWT_REFRESH_SECRET={generate_secret()}")


@secrets_app.command("check")
def secrets_check() -> None:
    """Report the strength of the configured secrets without printing them."""
    settings = _settings(check_secrets=False)
    failed = False
    for name, value in (
        ("JWT_ACCESS_SECRET", settings.access_secret()),
        ("JWT_REFRESH_SECRET", settings.refresh_secret()),
    ):
        report = check_secret(value)
        failed = failed or not report.ok
        detail = "; ".join(report.problems) or "ok"
        typer.echo(
            f"{name}: {report.strength} (length {report.length}, "
            f"{report.distinct_chars} distinct characters, ~{report.estimated_bits} bits) {detail}"
        )
    try:
        validate_secrets(settings)
    except ConfigurationError as exc:
        raise _fail(exc.message) from exc
    if failed:
        raise typer.Exit(code=1)


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
    settings = _settings()
    unknown = set(role) - set(settings.role_permissions)
    if unknown:
        raise _fail(f"unknown role(s): {', '.join(sorted(unknown))}")
    password = _read_password(password_stdin)
    user_id = _run(_create_user(settings, email, password, name, role))
    typer.echo(f"created user {user_id} <{email.strip().lower()}> roles={','.join(role)}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise _fail("passwords do not match")
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
        raise _fail(exc.message) from exc
    finally:
        await runtime.close()


@sessions_app.command("cleanup")
def sessions_cleanup() -> None:
    """Delete expired and long-revoked sessions now (the server also does it periodically)."""
    removed = _run(_cleanup(_settings()))
    typer.echo(f"removed {removed} sessions")


async def _cleanup(settings: Settings) -> int:
    from authgate.runtime import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.start()
        return await runtime.auth.cleanup()
    finally:
        await runtime.close()


@audit_app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many events.")] = 20,
    event: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
) -> None:
    """Show the most recent audit events, oldest first."""
    for line in _run(_audit_lines(_settings(), limit, event)):
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


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def main() -> None:
    warnings.showwarning = _show_warning
    app()
