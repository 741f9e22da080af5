"""authgate as an OAuth 2.1 authorization server: authorize, consent, codes, registration.

May import sessions, accounts, tokens, keys, storage and the root modules.
"""
