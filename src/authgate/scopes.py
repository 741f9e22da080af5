"""The ``vault:<name>`` scopes: what lets an agent ask for a provider token.

A user may delegate ``vault:<name>`` for any name without a role granting it: the scope
reaches only the user's own connections (the vault looks records up by the delegating
user), so it adds nothing the user does not already hold. The agent must still be
allowed the scope (its registered scopes), and the user still chooses to delegate it.
"""

from __future__ import annotations

__all__ = ["VAULT_SCOPE_PREFIX", "is_vault_scope", "vault_scope"]

VAULT_SCOPE_PREFIX = "vault:"


def vault_scope(name: str) -> str:
    return VAULT_SCOPE_PREFIX + name


def is_vault_scope(scope: str) -> bool:
    return scope.startswith(VAULT_SCOPE_PREFIX) and len(scope) > len(VAULT_SCOPE_PREFIX)
