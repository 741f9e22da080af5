"""What every command group shares: one error line and exit 1, settings, a started runtime.

Every command that touches state names the database it uses on stderr, and only
``serve`` and ``db upgrade`` may create state: the others refuse, saying where they
looked, so a command run from the wrong directory never writes into a new, empty
database with new secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from authgate.config import SECRETS_FILE, Settings, load_settings
from authgate.errors import AuthgateError
from authgate.runtime import Runtime

__all__ = [
    "database_label",
    "fail",
    "raw_settings",
    "run",
    "run_with_runtime",
    "secrets_source",
    "settings",
    "settings_error",
    "sqlite_file",
    "state_settings",
]

T = TypeVar("T")

CHANGE_HINT = "set AUTHGATE_STATE_DIR or AUTHGATE_DATABASE_URL to change"


def fail(message: str) -> typer.Exit:
    """Print one red line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def settings_error(exc: ValidationError) -> str:
    """One line naming the variable and the rule, never the value (it may be a secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        location = error.get("loc") or ()
        name = _env_name(str(location[0])) if location else None
        problems.append(f"{name}: {message}" if name else message)
    return "invalid settings: " + "; ".join(problems)


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    choices = getattr(info.validation_alias, "choices", None) if info else None
    return str(choices[0]) if choices else f"AUTHGATE_{field.upper()}"


def raw_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise fail(settings_error(exc)) from None


def settings(*, check_secrets: bool = True, **overrides: Any) -> Settings:
    """Settings with secrets (generated in development when none are configured)."""
    try:
        return load_settings(check_secrets=check_secrets, **overrides)
    except ValidationError as exc:
        raise fail(settings_error(exc)) from None
    except AuthgateError as exc:
        raise fail(exc.message) from exc


def sqlite_file(config: Settings) -> Path | None:
    """The SQLite database file the settings point at, or None (another database, memory)."""
    url = make_url(config.resolved_database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def database_label(config: Settings) -> str:
    """``sqlite /abs/path.db`` or the URL without its password."""
    path = sqlite_file(config)
    if path is not None:
        return f"sqlite {path}"
    return make_url(config.resolved_database_url).render_as_string(hide_password=True)


def _say(line: str) -> None:
    typer.echo(f"authgate: {line}", err=True)


def announce_database(config: Settings, say: Callable[[str], None] = _say) -> None:
    say(f"using {database_label(config)} ({CHANGE_HINT})")


def _require_existing_state(config: Settings) -> None:
    path = sqlite_file(config)
    if path is not None and not path.exists():
        raise fail(
            f"no authgate database at {path}; this command does not create one. Run it "
            f"where the server keeps its state, {CHANGE_HINT}, or create it with "
            "`authgate db upgrade`"
        )


def state_settings(
    *,
    creates_state: bool = False,
    needs_secrets: bool = True,
    say: Callable[[str], None] = _say,
) -> Settings:
    """Settings for a command that uses the database: named on stderr, never made silently.

    ``needs_secrets=False`` (schema commands) skips the JWT secrets, so such a command
    neither generates development secrets nor needs production ones.
    """
    raw = raw_settings()
    announce_database(raw, say)
    if not creates_state:
        _require_existing_state(raw)
    return settings() if needs_secrets else raw


def secrets_source(config: Settings) -> str:
    """Where the JWT secrets come from, for commands that only read secrets."""
    if config.jwt_access_secret is not None or config.jwt_refresh_secret is not None:
        return "the environment (JWT_ACCESS_SECRET, JWT_REFRESH_SECRET)"
    path = (config.state_dir / SECRETS_FILE).resolve()
    if not path.exists():
        raise fail(
            f"no JWT secrets configured and no {path}: set JWT_ACCESS_SECRET and "
            "JWT_REFRESH_SECRET, or AUTHGATE_STATE_DIR to the server's state directory"
        )
    return str(path)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def run_with_runtime(action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Start a runtime on the existing state, run ``action``, close it."""
    config = state_settings()

    async def runner() -> T:
        try:
            runtime = Runtime(config)
        except AuthgateError as exc:
            raise fail(exc.message) from exc
        try:
            await runtime.start()
            return await action(runtime)
        except AuthgateError as exc:
            raise fail(exc.message) from exc
        finally:
            await runtime.close()

    return asyncio.run(runner())
