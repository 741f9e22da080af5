"""People's accounts: users, passwords (next: verification, recovery, MFA).

May import sessions' peers below it (tokens, keys, storage) and the root modules.
"""
