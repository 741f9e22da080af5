"""At rest: the database holds no plaintext token, key or refresh token, read with raw SQL."""

from __future__ import annotations

import pytest

from authgate.keys.encryption import DecryptionError, KeyEncryptionKey, generate_kek
from authgate.vault.envelope import KeyChain
from tests.conftest import bearer
from tests.oauth.conftest import MockProvider
from tests.oauth.github_server import GitHubServer
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
