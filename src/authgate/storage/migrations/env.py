"""Alembic environment. authgate always hands in a live connection (see
``authgate.storage.migrate``), so migrations run inside the caller's transaction on
either engine; SQLite gets batch mode, since it cannot ALTER most things in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from authgate.storage.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `authgate db upgrade`, which supplies the connection")


def _configure(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )


_configure(connection)
with context.begin_transaction():
    context.run_migrations()
