"""Durable state: users, sessions, refresh tokens and the audit trail.

May import only the root modules.
"""
