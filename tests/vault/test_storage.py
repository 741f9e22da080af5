"""At rest: the database holds no plaintext token, key or refresh token, read with raw SQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from authgate.keys.encryption import DecryptionError, KeyEncryptionKey, generate_kek
from authgate.testing import FrozenClock
from authgate.vault.envelope import KeyChain
from tests.conftest import bearer
from tests.federation.conftest import MockProvider
from tests.federation.github_server import GitHubServer
from tests.scaleout.infra import postgres_database
from tests.vault.conftest import Vaulted, VaultFactory, github_settings, google_settings

API_KEY = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"


def opened(vaulted: Vaulted, row: dict[str, object], field: str) -> str:
    chain = KeyChain.from_settings(vaulted.runtime.settings)
    assert chain is not None
    blob = row[field]
    assert isinstance(blob, bytes)
    return chain.open(
        str(row["id"]), data_key=row["data_key"], kek_id=str(row["kek_id"]), name=field, blob=blob
    )  # type: ignore[arg-type]


def assert_absent(vaulted: Vaulted, secret: str) -> None:
    dump = vaulted.database_dump()
    assert secret not in dump
    assert secret.encode().hex().upper() not in dump.upper()  # not even as a blob literal
    raw = vaulted.db_path.read_bytes()
    assert secret.encode() not in raw


async def test_connected_tokens_and_keys_are_sealed_at_rest(
    vault_app: VaultFactory, oidc: MockProvider, github: GitHubServer
) -> None:
    github.expiring = True
    vaulted = await vault_app(**google_settings(oidc), **github_settings(github))
    await vaulted.connect("google")
    await vaulted.connect("github")
    stored = await vaulted.client.put(
        "/auth/connections/keys/openai", json={"value": API_KEY}, headers=bearer(vaulted.token)
    )
    assert stored.status_code == 200
    rows = {row["name"]: row for row in vaulted.raw_rows()}
    assert set(rows) == {"google", "github", "openai"}
    kek_id = KeyEncryptionKey.from_setting(
        vaulted.runtime.settings.encryption_key.get_secret_value()  # type: ignore[union-attr]
    ).kek_id
    secrets = []
    for name, row in rows.items():
        assert row["kek_id"] == kek_id
        assert isinstance(row["secret"], bytes)
        assert len(row["data_key"]) == 1 + 12 + 32 + 16  # version, nonce, key, GCM tag
        secrets.append(opened(vaulted, row, "secret"))
        if name != "openai":
            secrets.append(opened(vaulted, row, "refresh_secret"))
        else:
            assert row["refresh_secret"] is None
    assert API_KEY in secrets
    assert len(set(secrets)) == 5
    for secret in secrets:
        assert_absent(vaulted, secret)
    # Each record has its own data key.
    assert len({row["data_key"] for row in rows.values()}) == 3


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param("swap-records", id="ciphertext-moved-to-another-record"),
        pytest.param("swap-fields", id="refresh-token-read-as-access-token"),
        pytest.param("swap-data-keys", id="data-key-moved-to-another-record"),
        pytest.param("other-kek", id="another-kek"),
        pytest.param("flip-bit", id="ciphertext-altered"),
    ],
)
def test_sealed_values_are_bound_to_their_record_and_field(tamper: str) -> None:
    chain = KeyChain(KeyEncryptionKey.from_setting(generate_kek()))
    a = chain.seal("record-a", {"secret": "access-a", "refresh_secret": "refresh-a"})
    b = chain.seal("record-b", {"secret": "access-b", "refresh_secret": None})
    assert (
        chain.open(
            "record-a",
            data_key=a.data_key,
            kek_id=a.kek_id,
            name="secret",
            blob=a.fields["secret"] or b"",
        )
        == "access-a"
    )
    record, data_key, name, blob = "record-a", a.data_key, "secret", a.fields["secret"] or b""
    if tamper == "swap-records":
        blob = b.fields["secret"] or b""
    elif tamper == "swap-fields":
        blob = a.fields["refresh_secret"] or b""
    elif tamper == "swap-data-keys":
        data_key = b.data_key
    elif tamper == "other-kek":
        chain = KeyChain(KeyEncryptionKey.from_setting(generate_kek()))
    elif tamper == "flip-bit":
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        chain.open(
            record,
            data_key=data_key,
            kek_id=a.kek_id if tamper != "other-kek" else chain.current_id,
            name=name,
            blob=blob,
        )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


async def test_the_vault_on_postgresql(
    vault_app: VaultFactory, oidc: MockProvider, postgres_url: str, clock: FrozenClock
) -> None:
    """Sealed rows, hand-out, refresh and rekey on PostgreSQL (bytea, conditional updates)."""
    vaulted = await vault_app(**google_settings(oidc), database_url=postgres_url, auto_migrate=True)
    await vaulted.connect("google")
    await vaulted.client.put(
        "/auth/connections/keys/openai", json={"value": API_KEY}, headers=bearer(vaulted.token)
    )
    agent = await vaulted.agent(["vault:google", "vault:openai"])
    delegation = await vaulted.delegate(agent, "vault:google vault:openai")
    first = (await vaulted.hand_out("google", delegation["access_token"])).json()
    assert (await vaulted.hand_out("openai", delegation["access_token"])).json()[
        "access_token"
    ] == API_KEY
    clock.advance(3600 - 30)
    refreshed = await vaulted.client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": delegation["refresh_token"]},
        auth=agent,
    )
    second = (await vaulted.hand_out("google", refreshed.json()["access_token"])).json()
    assert second["access_token"] != first["access_token"]
    async with vaulted.runtime.store.engine.connect() as db:
        rows = (await db.execute(text("SELECT * FROM vault_credentials"))).mappings().all()
    assert len(rows) == 2
    dumped = repr([dict(row) for row in rows])
    for secret in (API_KEY, first["access_token"], second["access_token"]):
        assert secret not in dumped
        assert all(secret.encode() not in bytes(row["secret"]) for row in rows)
    assert {row["version"] for row in rows} == {1, 2}
    report = await vaulted.runtime.vault.rekey()
    assert (report.rewrapped, report.failed) == (0, ())
