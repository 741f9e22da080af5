"""What a resource server in another process runs to verify authgate's tokens.

May import tokens, keys and the root modules; never storage or a database.
"""
