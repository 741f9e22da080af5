"""Signing secrets and keys.

May import storage and the root modules.
"""
