"""People's accounts: users and passwords, mail, email verification, password recovery,
second factors (TOTP, recovery codes, passkeys) and user administration (docs/accounts.md).

May import sessions (its sibling), the layers below it (tokens, keys, audit, storage) and
the root modules; never FastAPI or Starlette.
"""
