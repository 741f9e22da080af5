"""``authgate keys``: signing keys (docs/keys.md): generate, rotate, retire, back up."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli.common import fail, run_with_runtime
from authgate.keys.encryption import KeyEncryptionKey, generate_kek
from authgate.keys.store import KeyStore
from authgate.runtime import Runtime

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Signing keys: generate, rotate, list, retire, backup.", no_args_is_help=True
)


def _store(runtime: Runtime) -> KeyStore:
    if runtime.keys.store is None:
        raise fail(
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

    for line in run_with_runtime(action):
        typer.echo(line)


@keys_app.command("generate")
def keys_generate() -> None:
    """Publish a new next key (it signs after the next rotation)."""

    async def action(runtime: Runtime) -> str:
        return (await _store(runtime).generate(state="next")).kid

    typer.echo(f"generated next key {run_with_runtime(action)}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Promote the next key to active; the old active key keeps verifying until retired."""

    async def action(runtime: Runtime) -> str:
        return (await _store(runtime).rotate()).kid

    typer.echo(f"{run_with_runtime(action)} now signs")


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

    retired = run_with_runtime(action)
    typer.echo(f"retired: {', '.join(retired) or 'none due'}")


def _backup_kek(value: str | None) -> KeyEncryptionKey:
    if not value:
        raise fail("set AUTHGATE_BACKUP_KEY (a key from `authgate keys kek`) to encrypt the backup")
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
        raise fail("pass --encrypted: private keys are never exported in clear")
    kek = _backup_kek(backup_key)

    async def action(runtime: Runtime) -> dict[str, Any]:
        return await _store(runtime).export(kek)

    json.dump(run_with_runtime(action), sys.stdout, indent=2)
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

    typer.echo(f"imported {run_with_runtime(action)} keys")
