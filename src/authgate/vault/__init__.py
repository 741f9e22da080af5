"""The credential vault: connected accounts and API keys for agents (docs/vault.md).

May import federation (to connect accounts), sessions, tokens, keys, storage, the root.
"""

from authgate.scopes import VAULT_SCOPE_PREFIX, is_vault_scope, vault_scope
from authgate.vault.envelope import KeyChain
from authgate.vault.service import HandOut, RekeyReport, Vault

__all__ = [
    "VAULT_SCOPE_PREFIX",
    "HandOut",
    "KeyChain",
    "RekeyReport",
    "Vault",
    "is_vault_scope",
    "vault_scope",
]
