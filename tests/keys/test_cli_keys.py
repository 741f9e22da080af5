"""``authgate keys ...`` and ``authgate clients create`` against a real SQLite key store."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from authgate.agents.registry import ClientRegistry, InvalidClientError
from authgate.keys.encryption import KeyEncryptionKey, generate_kek
from authgate.keys.keyring import KeyRing
from authgate.keys.store import KeyStore
from authgate.secretstrength import generate_secret
from authgate.storage.database import create_engine

runner = CliRunner()


def environment(state_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an instance whose database exists (the CLI never creates one)."""
    env = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(state_dir),
        "AUTHGATE_SIGNING_ALG": "ES256",
        "AUTHGATE_ENCRYPTION_KEY": generate_kek(),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        **extra,
    }
    ok(env, "db", "upgrade")
    return env


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A complete environment; no .env, inherited secret or key leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET", "AUTHGATE_BACKUP_KEY"):
        monkeypatch.delenv(name, raising=False)
    return environment(tmp_path / "state")


def authgate(env: Mapping[str, str | None], *args: str) -> Result:
    from authgate.cli import app

    return runner.invoke(app, list(args), env=env)


def ok(env: dict[str, str], *args: str) -> str:
    result = authgate(env, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def listing(env: dict[str, str], *flags: str) -> dict[str, str]:
    """kid -> state, from `authgate keys list`."""
    rows = [line.split() for line in ok(env, "keys", "list", *flags).splitlines()]
    assert all(row[1] == "ES256" for row in rows)
    return {row[0]: row[2] for row in rows}


def kid_in(state: str, keys: dict[str, str]) -> str:
    (kid,) = (k for k, s in keys.items() if s == state)
    return kid


def ring_of(env: dict[str, str]) -> KeyRing:
    async def load() -> KeyRing:
        engine = create_engine(f"sqlite+aiosqlite:///{env['AUTHGATE_STATE_DIR']}/authgate.db")
        try:
            kek = KeyEncryptionKey.from_setting(env["AUTHGATE_ENCRYPTION_KEY"])
            return await KeyStore(engine, kek=kek, alg="ES256", verify_window=910).key_ring()
        finally:
            await engine.dispose()

    return asyncio.run(load())


def test_kek_prints_a_new_32_byte_key_each_time() -> None:
    first, second = (authgate({}, "keys", "kek").stdout.strip() for _ in range(2))
    name, _, value = first.partition("=")
    assert name == "AUTHGATE_ENCRYPTION_KEY"
    assert len(base64.urlsafe_b64decode(value + "=")) == 32
    assert KeyEncryptionKey.from_setting(value).key
    assert first != second


def test_list_on_first_use_shows_an_active_and_a_published_next_key(env: dict[str, str]) -> None:
    assert sorted(listing(env).values()) == ["active", "next"]


def test_generate_adds_a_next_key(env: dict[str, str]) -> None:
    before = listing(env)
    kid = ok(env, "keys", "generate").split()[-1]
    assert kid not in before
    assert listing(env) == {**before, kid: "next"}


def test_rotate_promotes_next_and_keeps_the_old_key_verifying(env: dict[str, str]) -> None:
    before = listing(env)
    active, upcoming = kid_in("active", before), kid_in("next", before)
    assert ok(env, "keys", "rotate").strip() == f"{upcoming} now signs"
    after = listing(env)
    assert after[active] == "retiring"
    assert after[upcoming] == "active"
    assert sorted(after.values()) == ["active", "next", "retiring"]
    assert ring_of(env).signer.kid == upcoming
    assert ring_of(env).get(active) is not None


def test_retire_by_kid_removes_the_key_from_the_ring(env: dict[str, str]) -> None:
    old = kid_in("active", listing(env))
    ok(env, "keys", "rotate")
    assert ok(env, "keys", "retire", old).strip() == f"retired: {old}"
    assert old not in listing(env)
    assert listing(env, "--all")[old] == "retired"
    assert ring_of(env).get(old) is None


def test_retire_without_kid_retires_only_keys_that_are_due(env: dict[str, str]) -> None:
    ok(env, "keys", "rotate")  # the old key's tokens may live 15 more minutes
    assert ok(env, "keys", "retire").strip() == "retired: none due"
    assert "retiring" in listing(env).values()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("active", "Rotate before retiring", id="the-active-key"),
        pytest.param("unknown", "No such live key", id="an-unknown-kid"),
    ],
)
def test_retire_refuses(env: dict[str, str], target: str, message: str) -> None:
    before = listing(env)
    kid = kid_in("active", before) if target == "active" else "no-such-kid"
    result = authgate(env, "keys", "retire", kid)
    assert result.exit_code == 1
    assert message in result.output
    assert listing(env) == before


def test_export_then_import_restores_the_keys_under_another_kek(
    env: dict[str, str], tmp_path: Path
) -> None:
    backup_key = generate_kek()
    original = listing(env)
    private = {
        kid: key.key.as_dict(private=True)["d"] for kid, key in ring_of(env).verifiers.items()
    }
    text = ok({**env, "AUTHGATE_BACKUP_KEY": backup_key}, "keys", "export", "--encrypted")
    assert not any(secret in text for secret in private.values())
    assert env["AUTHGATE_ENCRYPTION_KEY"] not in text
    backup_file = tmp_path / "keys.json"
    backup_file.write_text(text)

    # A new instance: its own database and KEK, and its own keys made at first start.
    restored = environment(tmp_path / "restored")
    assert set(listing(restored)).isdisjoint(original)
    imported = ok(
        {**restored, "AUTHGATE_BACKUP_KEY": backup_key}, "keys", "import", str(backup_file)
    )
    assert imported.strip() == f"imported {len(original)} keys"

    keys = listing(restored)
    assert {kid: keys[kid] for kid in original} == original
    # The restored active key signs again; the keys made at first start step aside.
    ring = ring_of(restored)
    assert ring.signer.kid == kid_in("active", original)
    assert sorted(keys.values()) == ["active", "next", "retiring"]
    for kid, d in private.items():
        restored_key = ring.get(kid)
        assert restored_key is not None
        assert restored_key.key.as_dict(private=True)["d"] == d


def test_import_with_the_wrong_backup_key_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "keys.json"
    backup.write_text(
        ok({**env, "AUTHGATE_BACKUP_KEY": generate_kek()}, "keys", "export", "--encrypted")
    )
    restored = environment(tmp_path / "restored")
    before = listing(restored)
    result = authgate(
        {**restored, "AUTHGATE_BACKUP_KEY": generate_kek()}, "keys", "import", str(backup)
    )
    assert result.exit_code == 1
    assert "could not be decrypted" in result.output
    assert listing(restored) == before


def export_to(env: dict[str, str], path: Path, backup_key: str) -> dict[str, Any]:
    text = ok({**env, "AUTHGATE_BACKUP_KEY": backup_key}, "keys", "export", "--encrypted")
    path.write_text(text)
    backup: dict[str, Any] = json.loads(text)
    return backup


def test_import_publishes_the_public_key_of_the_sealed_private_key(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The backup's clear-text ``public_jwk`` is not trusted: a swapped one is ignored."""
    backup_key, path = generate_kek(), tmp_path / "keys.json"
    backup = export_to(env, path, backup_key)
    genuine = {item["kid"]: item["public_jwk"] for item in backup["keys"]}
    first, second = backup["keys"]
    first["public_jwk"], second["public_jwk"] = second["public_jwk"], first["public_jwk"]
    path.write_text(json.dumps(backup))
    restored = environment(tmp_path / "restored")
    ok({**restored, "AUTHGATE_BACKUP_KEY": backup_key}, "keys", "import", str(path))
    ring = ring_of(restored)
    for kid, public_jwk in genuine.items():
        key = ring.get(kid)
        assert key is not None
        assert key.public_jwk == public_jwk


def test_import_refuses_a_key_in_an_unknown_state(env: dict[str, str], tmp_path: Path) -> None:
    backup_key, path = generate_kek(), tmp_path / "keys.json"
    backup = export_to(env, path, backup_key)
    backup["keys"][0]["state"] = "superactive"
    path.write_text(json.dumps(backup))
    restored = environment(tmp_path / "restored")
    result = authgate({**restored, "AUTHGATE_BACKUP_KEY": backup_key}, "keys", "import", str(path))
    assert result.exit_code == 1
    assert "unknown state" in result.output


def test_import_refuses_a_file_that_is_not_a_backup(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": []}))
    result = authgate({**env, "AUTHGATE_BACKUP_KEY": generate_kek()}, "keys", "import", str(other))
    assert result.exit_code == 1
    assert "Not an authgate key backup" in result.output


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        pytest.param(
            ["export"], {"AUTHGATE_BACKUP_KEY": generate_kek()}, "--encrypted", id="export-in-clear"
        ),
        pytest.param(["export", "--encrypted"], {}, "AUTHGATE_BACKUP_KEY", id="export-without-key"),
        pytest.param(["import", "keys.json"], {}, "AUTHGATE_BACKUP_KEY", id="import-without-key"),
    ],
)
def test_backups_are_always_encrypted(
    env: dict[str, str], args: list[str], extra: dict[str, str], message: str
) -> None:
    result = authgate({**env, **extra}, "keys", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert '"private_key"' not in result.output


def test_hs256_has_no_key_store(env: dict[str, str]) -> None:
    hs = {**env, "AUTHGATE_SIGNING_ALG": "HS256"}
    output = ok(hs, "keys", "list")
    assert output.split()[1:] == ["HS256", "active", "(JWT_ACCESS_SECRET)"]
    assert hs["JWT_ACCESS_SECRET"] not in output
    for command in (["generate"], ["rotate"], ["retire"]):
        result = authgate(hs, "keys", *command)
        assert result.exit_code == 1
        assert "HS256" in result.output


@pytest.mark.parametrize(
    ("kek", "message"),
    [
        pytest.param(None, "authgate keys kek", id="unset"),
        pytest.param("", "must be 32 bytes", id="empty"),
        pytest.param(base64.urlsafe_b64encode(b"k" * 16).decode(), "must be 32 bytes", id="short"),
        pytest.param("not base64 at all!", "AUTHGATE_ENCRYPTION_KEY", id="not-base64"),
    ],
)
def test_an_asymmetric_algorithm_without_a_usable_kek_is_refused(
    env: dict[str, str], kek: str | None, message: str
) -> None:
    result = authgate({**env, "AUTHGATE_ENCRYPTION_KEY": kek}, "keys", "list")
    assert result.exit_code == 1
    assert message in result.output


def test_another_kek_cannot_read_the_keys(env: dict[str, str]) -> None:
    """The private keys in the database are useless without their KEK."""
    listing(env)  # first use: keys made and sealed under env's KEK
    result = authgate({**env, "AUTHGATE_ENCRYPTION_KEY": generate_kek()}, "keys", "list")
    assert result.exit_code == 1
    assert "could not be decrypted" in result.output


def created_client(output: str) -> tuple[str, str]:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return values["client_id"], values["client_secret"]


def authenticate(env: dict[str, str], client_id: str, secret: str) -> list[str]:
    async def check() -> list[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{env['AUTHGATE_STATE_DIR']}/authgate.db")
        try:
            client = await ClientRegistry(engine).authenticate(client_id, secret)
            return list(client.scopes)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_clients_create_prints_a_secret_that_authenticates(env: dict[str, str]) -> None:
    result = authgate(
        env, "clients", "create", "--name", "tools", "--scope", "read", "--scope", "introspect"
    )
    assert result.exit_code == 0, result.output
    client_id, secret = created_client(result.stdout)
    assert client_id.startswith("resou_")
    assert len(secret) >= 43  # 256 bits, base64url
    assert "not shown again" in result.stderr
    assert authenticate(env, client_id, secret) == ["introspect", "read"]
    with pytest.raises(InvalidClientError):
        authenticate(env, client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_clients_create_gives_each_client_its_own_secret(env: dict[str, str]) -> None:
    first = created_client(ok(env, "clients", "create", "--name", "a", "--kind", "agent"))
    second = created_client(ok(env, "clients", "create", "--name", "b", "--kind", "agent"))
    assert first[0] != second[0]
    assert first[1] != second[1]
    with pytest.raises(InvalidClientError):
        authenticate(env, first[0], second[1])


def test_clients_create_refuses_an_unknown_kind(env: dict[str, str]) -> None:
    result = authgate(env, "clients", "create", "--name", "x", "--kind", "superuser")
    assert result.exit_code == 1
    assert "kind must be" in result.output
