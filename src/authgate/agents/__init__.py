"""Machine clients: the client registry, private_key_jwt assertions, DPoP proofs.

May import sessions, accounts, tokens, keys, storage and the root modules.
"""
