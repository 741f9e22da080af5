"""Memory and storage per session.

What a worker holds in memory is bounded by design: active sessions live in the
database, not in the process; the process holds the revocation list (sessions revoked
within the last access-token lifetime) and the cache of verified access tokens (at most
``cache_size`` entries). So the RSS figure is for the worst case of 100k revocations
inside one access-token lifetime, plus a full verified-token cache.

Storage: bytes per session in SQLite and PostgreSQL (session row, refresh-token rows,
the login audit event, indexes), and in Redis (which holds nothing per active session;
a revoked session costs one key and one index entry until its tokens expire).

Run in its own process (``python -m bench.memory``) so RSS is not polluted by the other
benchmarks; prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text

from authgate.runtime import Runtime
from bench.common import PASSWORD, bench_settings, started
from bench.issuing import DEVICE, postgres_and_redis

REVOKED = 100_000
SESSIONS = 2_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize()


async def _process_memory(runtime: Runtime) -> dict[str, Any]:
    user = await runtime.users.register("mem@example.com", PASSWORD)
    pair = await runtime.auth.start_session(user, DEVICE)
    runtime.authenticator.authenticate(pair.access.token)
    base = rss_bytes()
    ids = [f"{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}" for _ in range(REVOKED)]
    runtime.revocations.revoke(ids, runtime.clock() + 3600)
    del ids
    after_revocations = rss_bytes()
    cache_size = runtime.verifier._cache.maxsize
    for _ in range(cache_size):
        token = runtime.issuer.issue_access(
            user_id=user.id,
            email=user.email,
            roles=list(user.roles),
            permissions=["use_agent"],
            session_id=pair.session_id,
            device_fingerprint="bench",
        ).token
        runtime.authenticator.authenticate(token)
    after_cache = rss_bytes()
    return {
        "rss_base_bytes": base,
        "revoked": REVOKED,
        "bytes_per_revocation": (after_revocations - base) / REVOKED,
        "cache_entries": cache_size,
        "bytes_per_cache_entry": (after_cache - after_revocations) / max(1, cache_size),
        "rss_with_all_bytes": after_cache,
    }


async def _database_bytes(runtime: Runtime) -> int:
    async with runtime.store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
            free = (await conn.execute(text("PRAGMA freelist_count"))).scalar_one()
            size = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
            return int((pages - free) * size)
        total = await conn.execute(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )
        return int(total.scalar_one())


async def _per_session(runtime: Runtime) -> dict[str, Any]:
    user = await runtime.users.register("store@example.com", PASSWORD)
    before = await _database_bytes(runtime)
    for _ in range(SESSIONS):
        await runtime.auth.start_session(user, DEVICE)
    after = await _database_bytes(runtime)
    return {"sessions": SESSIONS, "bytes_per_session": (after - before) / SESSIONS}


async def _redis_per_revocation(runtime: Runtime, url: str, prefix: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    user = await runtime.users.register("redis@example.com", PASSWORD)
    pairs = [await runtime.auth.start_session(user, DEVICE) for _ in range(200)]
    for pair in pairs:
        await runtime.auth.logout(pair.session_id, user.id, DEVICE)
    client = aioredis.Redis.from_url(url)
    try:
        total, count = 0, 0
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            usage = await client.memory_usage(key)
            total += int(usage or 0)
            count += 1
    finally:
        await client.aclose()
    return {
        "revoked_sessions": len(pairs),
        "keys": count,
        "bytes_per_revoked_session": total / len(pairs),
        "bytes_per_active_session": 0,
    }


async def _measure() -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with started(bench_settings(Path(tmp))) as runtime:
            result["process"] = await _process_memory(runtime)
    with tempfile.TemporaryDirectory() as tmp:
        async with started(bench_settings(Path(tmp))) as runtime:
            result["sqlite"] = await _per_session(runtime)
    async with postgres_and_redis() as overrides:
        if overrides is None:
            result["postgres"] = result["redis"] = None
            return result
        with tempfile.TemporaryDirectory() as tmp:
            async with started(bench_settings(Path(tmp), **overrides)) as runtime:
                result["postgres"] = await _per_session(runtime)
                result["redis"] = await _redis_per_revocation(
                    runtime, overrides["redis_url"], overrides["redis_key_prefix"]
                )
    return result


def main() -> None:
    json.dump(asyncio.run(_measure()), sys.stdout)


if __name__ == "__main__":
    main()
