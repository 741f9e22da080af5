"""``authgate keys`` and ``authgate clients``: signing keys, backups and machine clients."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from authgate.clients import NewClient
from authgate.config import load_settings
from authgate.errors import AuthgateError
from authgate.keys.encryption import KeyEncryptionKey, generate_kek
from authgate.keys.store import KeyStore
from authgate.runtime import Runtime

T = TypeVar("T")

__all__ = ["clients_app", "keys_app"]

keys_app = typer.Typer(
    help="Signing keys: generate, rotate, list, retire, backup.", no_args_is_help=True
)
clients_app = typer.Typer(help="Machine clients (resource servers, agents).", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _run_with_runtime(action: Callable[[Runtime], Awaitable[T]]) -> T:
    async def runner() -> T:
        try:
            runtime = Runtime(load_settings())
        except AuthgateError as exc:
            raise _fail(exc.message) from exc
        try:
            await runtime.start()
            return await action(runtime)
        except AuthgateError as exc:
            raise _fail(exc.message) from exc
        finally:
            await runtime.close()

    return asyncio.run(runner())


def _store(runtime: Runtime) -> KeyStore:
    if runtime.keys.store is None:
        raise _fail(
            "AUTHGATE_SIGNING_ALG is HS256: keys are the JWT_* secrets (see `authgate secrets`)"
        )
    return runtime.keys.store


@keys_app.command("kek")
def keys_kek() -> None:
    """Print a new key-encryption key for AUTHGATE_ENCRYPTION_KEY."""
    typer.echo(f"AUTHGATE_ENCRYPTION_KEY={generate_kek()}")


@keys_app.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="Include retired keys.")] = False,
) -> None:
    """List signing keys and their states."""

    async def action(runtime: Runtime) -> list[str]:
        if runtime.keys.store is None:
            ring = runtime.keys.ring
            return [f"{ring.signer.kid}  HS256  active  (JWT_ACCESS_SECRET)"]
        rows = await runtime.keys.store.keys(include_retired=all_)
        return [f"{row.kid}  {row.alg}  {row.state}" for row in rows]

    for line in _run_with_runtime(action):
        typer.echo(line)


@keys_app.command("generate")
def keys_generate() -> None:
    """Publish a new next key (it signs after the next rotation)."""

    async def action(runtime: Runtime) -> str:
        return (await _store(runtime).generate(state="next")).kid

    typer.echo(f"generated next key {_run_with_runtime(action)}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Promote the next key to active; the old active key keeps verifying until retired."""

    async def action(runtime: Runtime) -> str:
        return (await _store(runtime).rotate()).kid

    typer.echo(f"{_run_with_runtime(action)} now signs")


@keys_app.command("retire")
def keys_retire(
    kid: Annotated[
        str | None, typer.Argument(help="Retire this key now (default: those due).")
    ] = None,
) -> None:
    """Retire keys whose tokens have all expired, or one key by kid."""

    async def action(runtime: Runtime) -> list[str]:
        store = _store(runtime)
        if kid is None:
            return await store.retire_due()
        await store.retire(kid)
        return [kid]

    retired = _run_with_runtime(action)
    typer.echo(f"retired: {', '.join(retired) or 'none due'}")


def _backup_kek(value: str | None) -> KeyEncryptionKey:
    if not value:
        raise _fail(
            "set AUTHGATE_BACKUP_KEY (a key from `authgate keys kek`) to encrypt the backup"
        )
    return KeyEncryptionKey.from_setting(value)


@keys_app.command("export")
def keys_export(
    encrypted: Annotated[
        bool, typer.Option("--encrypted", help="Required: backups are always encrypted.")
    ] = False,
    backup_key: Annotated[
        str | None, typer.Option(envvar="AUTHGATE_BACKUP_KEY", hidden=True)
    ] = None,
) -> None:
    """Write an encrypted backup of the live keys to stdout (AES-GCM under AUTHGATE_BACKUP_KEY)."""
    if not encrypted:
        raise _fail("pass --encrypted: private keys are never exported in clear")
    kek = _backup_kek(backup_key)

    async def action(runtime: Runtime) -> dict[str, Any]:
        return await _store(runtime).export(kek)

    json.dump(_run_with_runtime(action), sys.stdout, indent=2)
    sys.stdout.write("\n")


@keys_app.command("import")
def keys_import(
    path: Annotated[Path, typer.Argument(help="A backup written by `keys export --encrypted`.")],
    backup_key: Annotated[
        str | None, typer.Option(envvar="AUTHGATE_BACKUP_KEY", hidden=True)
    ] = None,
) -> None:
    """Restore keys from an encrypted backup."""
    kek = _backup_kek(backup_key)
    backup = json.loads(path.read_text())

    async def action(runtime: Runtime) -> int:
        return await _store(runtime).import_(backup, kek)

    typer.echo(f"imported {_run_with_runtime(action)} keys")


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="A name people recognise.")],
    kind: Annotated[str, typer.Option(help="resource_server or agent.")] = "resource_server",
    scope: Annotated[list[str], typer.Option(help="An allowed scope; repeat for several.")] = [],  # noqa: B006
) -> None:
    """Register a client; its secret is printed once and only a hash is stored."""
    if kind not in ("resource_server", "agent"):
        raise _fail("kind must be resource_server or agent")

    async def action(runtime: Runtime) -> NewClient:
        return await runtime.clients.create(name=name, kind=kind, scopes=scope)

    created = _run_with_runtime(action)
    typer.echo(f"client_id={created.client.client_id}")
    typer.echo(f"client_secret={created.secret}")
    typer.secho("Store the secret now: it is not shown again.", err=True)
