"""``authgate db``: Alembic schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.cli.common import fail, run, state_settings
from authgate.config import Settings
from authgate.errors import AuthgateError

__all__ = ["db_app", "upgrade_database"]

db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply pending migrations to AUTHGATE_DATABASE_URL (safe to run concurrently)."""
    current = run(
        upgrade_database(state_settings(creates_state=True, needs_secrets=False), revision)
    )
    typer.echo(f"database at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the head this authgate expects."""
    from authgate.storage.migrate import head_revision

    current = run(_db_current(state_settings(needs_secrets=False)))
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
        run(generate(f"sqlite+aiosqlite:///{scratch}/scratch.db"))


async def upgrade_database(settings: Settings, revision: str) -> str | None:
    from authgate.storage.database import create_engine
    from authgate.storage.migrate import upgrade

    engine = create_engine(settings.resolved_database_url)
    try:
        return await upgrade(engine, revision)
    except AuthgateError as exc:
        raise fail(exc.message) from exc
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
