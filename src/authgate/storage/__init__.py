"""Durable state: users, sessions, refresh tokens and the audit trail."""
