"""Alembic migrations: one history for SQLite and PostgreSQL (see storage/migrate.py)."""
