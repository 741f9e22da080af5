"""The vault's app factory and loopback GitHub, for the connected-accounts tests."""

from tests.vault.conftest import github, vault_app  # noqa: F401 - fixtures shared with tests/vault
