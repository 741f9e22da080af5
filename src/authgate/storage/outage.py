"""Which exceptions mean "the database cannot be reached now" (503, retry) rather than a bug.

One classifier for the store boundary, the background tasks and the HTTP layer's last
line of defence, so a database that is down, starting up or failing over is a 503
everywhere and never a 500.

Besides the driver-independent SQLAlchemy classes, a PostgreSQL server reports its state
with SQLSTATE codes (PostgreSQL manual, Appendix A): class 08 (connection exception),
57P01-57P03 (shutting down, crash shutdown, "the database system is starting up" or
"not accepting connections" while in recovery), 53300 (too many connections), and 25006
(a read-only transaction: the address still points at a demoted primary mid-failover).
asyncpg raises these through SQLAlchemy as a plain ``DBAPIError``.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from authgate.errors import StorageUnavailableError

__all__ = ["UNAVAILABLE_SQLSTATES", "is_unavailable"]

UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "25006"})

_UNAVAILABLE = (
    StorageUnavailableError,
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) means the store cannot be reached now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 6:
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        current = current.__cause__
    return False


def _unavailable_here(exc: BaseException) -> bool:
    if isinstance(exc, _UNAVAILABLE):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return _unavailable_sqlstate(exc.orig)
    return _unavailable_sqlstate(exc)


def _unavailable_sqlstate(exc: object) -> bool:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if not isinstance(state, str):
        return False
    return state.startswith("08") or state in UNAVAILABLE_SQLSTATES
