"""``authgate agents create --jwks-file``: a keyed agent has no secret (issue 19 item 15)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from authgate.agents.registry import InvalidClientError
from authgate.cli import app
from authgate.config import load_settings
from authgate.errors import InvalidRequestError
from authgate.runtime import Runtime
from authgate.secretstrength import generate_secret
from tests.conftest import PASSWORD

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    values = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    created = runner.invoke(
        app, ["users", "create", "--email", "ada@example.com"], input=PASSWORD + "\n", env=values
    )
    assert created.exit_code == 0, created.output
    return values


def _jwks_file(tmp_path: Path) -> Path:
    public = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k1", "alg": "ES256"}
    path = tmp_path / "agent.jwks"
    path.write_text(json.dumps({"keys": [public]}))
    return path


def _create(env: dict[str, str], *extra: str) -> str:
    args = ["agents", "create", "--name", "bot", "--owner", "ada@example.com"]
    result = runner.invoke(app, [*args, "--scopes", "use_agent", *extra], env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def _stored_secret_hash(client_id: str) -> str | None:
    runtime = Runtime(load_settings())
    await runtime.start()
    try:
        client = await runtime.clients.get(client_id)
        assert client is not None
        assert client.jwks
        return client.secret_hash
    finally:
        await runtime.close()


def _client_id(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("client_id=")).split("=")[1]


def test_agent_created_with_a_jwks_file_gets_no_secret(env: dict[str, str], tmp_path: Path) -> None:
    output = _create(env, "--jwks-file", str(_jwks_file(tmp_path)))
    assert "client_secret=" not in output
    assert "private_key_jwt" in output
    assert asyncio.run(_stored_secret_hash(_client_id(output))) is None


def test_agent_without_keys_still_gets_a_secret(env: dict[str, str]) -> None:
    assert "client_secret=" in _create(env)


def test_rotate_secret_refuses_a_keyed_agent(env: dict[str, str], tmp_path: Path) -> None:
    client_id = _client_id(_create(env, "--jwks-file", str(_jwks_file(tmp_path))))
    result = runner.invoke(app, ["agents", "rotate-secret", client_id], env=env)
    assert result.exit_code == 1
    assert "client_secret=" not in result.output
    assert "private_key_jwt" in result.output


async def _secret_after_keys(tmp_path: Path) -> None:
    runtime = Runtime(load_settings())
    await runtime.start()
    try:
        created = await runtime.clients.create(name="bot", kind="agent", scopes=["use_agent"])
        client_id = created.client.client_id
        assert (await runtime.clients.authenticate(client_id, created.secret)).client_id
        await runtime.clients.set_jwks(client_id, json.loads(_jwks_file(tmp_path).read_text()))
        with pytest.raises(InvalidClientError):
            await runtime.clients.authenticate(client_id, created.secret)
        with pytest.raises(InvalidRequestError):
            await runtime.clients.rotate_secret(client_id)
    finally:
        await runtime.close()


def test_registering_keys_ends_the_secret(env: dict[str, str], tmp_path: Path) -> None:
    """A client given keys later cannot go on authenticating with its old secret."""
    asyncio.run(_secret_after_keys(tmp_path))


def test_a_small_order_key_is_refused_at_registration(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 19 item 7: the identity point as an Ed25519 key verifies keyless signatures."""
    identity = base64.urlsafe_b64encode(bytes([1]) + bytes(31)).rstrip(b"=").decode()
    path = tmp_path / "weak.jwks"
    path.write_text(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": identity}]}))
    args = ["agents", "create", "--name", "bot", "--owner", "ada@example.com"]
    result = runner.invoke(app, [*args, "--scopes", "use_agent", "--jwks-file", str(path)], env=env)
    assert result.exit_code == 1
    assert "weak" in result.output
