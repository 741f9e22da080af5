"""KEK rotation: AUTHGATE_ENCRYPTION_KEY_PREVIOUS reads, `authgate vault rekey` re-wraps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from authgate.config import Settings
from authgate.http.app import create_app
from authgate.keys.encryption import KeyEncryptionKey, generate_kek
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer
from tests.federation.conftest import MockProvider
from tests.vault.conftest import VaultFactory, google_settings

API_KEY = "sk-rotate-me-0123456789abcdef"


@asynccontextmanager
async def instance(
    settings: Settings, clock: FrozenClock, current: str, previous: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """Another authgate on the same database, with the given KEKs."""
    rotated = settings.model_copy(
        update={
            "encryption_key": SecretStr(current),
            "encryption_key_previous": SecretStr(previous) if previous else None,
        }
    )
    app = create_app(rotated, clock=clock)
    async with lifespan(app), client_for(app) as client:
        yield client


async def rekey(settings: Settings, current: str, previous: str | None) -> Result:
    from authgate.cli import app

    env = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(settings.state_dir),
        "AUTHGATE_ENCRYPTION_KEY": current,
        "AUTHGATE_ENCRYPTION_KEY_PREVIOUS": previous,
        "JWT_ACCESS_SECRET": settings.access_secret(),
        "JWT_REFRESH_SECRET": settings.refresh_secret(),
    }
    return await asyncio.to_thread(CliRunner().invoke, app, ["vault", "rekey"], env=env)


async def handed(client: httpx.AsyncClient, tokens: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name, token in tokens.items():
        response = await client.post(f"/vault/{name}/token", headers=bearer(token))
        out[name] = (response.status_code, response.json())
    return out


async def test_kek_rotation_rewraps_every_data_key_without_loss(
    vault_app: VaultFactory, oidc: MockProvider, clock: FrozenClock, monkeypatch: Any
) -> None:
    old_kek = generate_kek()
    vaulted = await vault_app(**google_settings(oidc), encryption_key=old_kek)
    settings = vaulted.runtime.settings
    monkeypatch.chdir(settings.state_dir)
    await vaulted.connect("google")
    await vaulted.client.put(
        "/auth/connections/keys/openai", json={"value": API_KEY}, headers=bearer(vaulted.token)
    )
    agent = await vaulted.agent(["vault:google", "vault:openai"])
    delegated = (await vaulted.delegate(agent, "vault:google vault:openai"))["access_token"]
    tokens = {"google": delegated, "openai": delegated}
    before = await handed(vaulted.client, tokens)
    assert {status for status, _ in before.values()} == {200}
    rows_before = {row["id"]: row for row in vaulted.raw_rows()}
    new_kek = generate_kek()
    new_id = KeyEncryptionKey.from_setting(new_kek).kek_id

    # The new KEK alone cannot open data keys wrapped by the old one: a clear 500.
    async with instance(settings, clock, new_kek, None) as client:
        status, body = (await handed(client, {"google": delegated}))["google"]
        assert status == 500
        assert "AUTHGATE_ENCRYPTION_KEY_PREVIOUS" in body["message"]
    failed = await rekey(settings, new_kek, None)
    assert failed.exit_code == 1
    assert "2 could not be opened" in failed.output

    # With the previous KEK configured, everything still reads, before and after rekey.
    async with instance(settings, clock, new_kek, old_kek) as client:
        assert await handed(client, tokens) == before
        result = await rekey(settings, new_kek, old_kek)
        assert result.exit_code == 0, result.output
        assert "re-wrapped 2 data keys" in result.output
        assert await handed(client, tokens) == before

    rows_after = {row["id"]: row for row in vaulted.raw_rows()}
    assert rows_after.keys() == rows_before.keys()
    for record, row in rows_after.items():
        assert row["kek_id"] == new_id
        assert row["data_key"] != rows_before[record]["data_key"]
        # Envelope encryption: only the data key was re-wrapped; the sealed secrets stay.
        assert row["secret"] == rows_before[record]["secret"]
        assert row["refresh_secret"] == rows_before[record]["refresh_secret"]

    # The old KEK can now be dropped: the new one alone opens everything.
    async with instance(settings, clock, new_kek, None) as client:
        assert await handed(client, tokens) == before
    again = await rekey(settings, new_kek, None)
    assert again.exit_code == 0
    assert "re-wrapped 0 data keys" in again.output
