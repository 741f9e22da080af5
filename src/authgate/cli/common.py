"""What every command group shares: one error line and exit 1, settings, a started runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import typer

from authgate.config import Settings, load_settings
from authgate.errors import AuthgateError
from authgate.runtime import Runtime

__all__ = ["fail", "run", "run_with_runtime", "settings"]

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    """Print one red line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def settings(*, check_secrets: bool = True) -> Settings:
    try:
        return load_settings(check_secrets=check_secrets)
    except AuthgateError as exc:
        raise fail(exc.message) from exc


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def run_with_runtime(action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Start a runtime on the configured state, run ``action``, close it."""

    async def runner() -> T:
        try:
            runtime = Runtime(load_settings())
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
