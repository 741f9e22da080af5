"""Bytes per active session in PostgreSQL and per revocation in Redis (docs/deploy.md).

    python -m bench.storage_sizes [--sessions 2000] [--rotations 4]

Creates a scratch database ``authgate_size_<random>`` on the local PostgreSQL and a
scratch key prefix on the local Redis, fills them through authgate's own services
(no HTTP, cheap argon2) and prints table and key sizes divided by the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from authgate.devices import DeviceInfo
from authgate.runtime import Runtime
from authgate.testing import make_settings

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
TABLES = ("users", "sessions", "refresh_tokens", "audit_events")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _table_bytes(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
        return {
            table: int(await conn.fetchval("SELECT pg_total_relation_size($1)", table))
            for table in TABLES
        }
    finally:
        await conn.close()


async def _fill(runtime: Runtime, sessions: int, rotations: int) -> list[str]:
    user = await runtime.users.create(
        f"size-{secrets.token_hex(4)}@example.com", "x" * 16, roles=["user"]
    )
    device = DeviceInfo(user_agent="size-agent/1.0 (bench)", ip="203.0.113.7", accept_language="en")
    ids = []
    for _ in range(sessions):
        pair = await runtime.auth.start_session(user, device)
        token = pair.refresh.token
        for _ in range(rotations):
            token = (await runtime.auth.refresh(token, device)).refresh.token
        ids.append(pair.session_id)
    return ids


async def _redis_bytes(prefix: str) -> int:
    client = aioredis.Redis.from_url(REDIS)
    try:
        total = 0
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            total += int(await client.memory_usage(key, samples=0) or 0)
        return total
    finally:
        await client.aclose()


async def main(sessions: int, rotations: int) -> dict[str, Any]:
    name = f"authgate_size_{secrets.token_hex(4)}"
    prefix = f"authgate-size-{secrets.token_hex(4)}:"
    await _admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    settings = make_settings(
        Path(tempfile.mkdtemp()),
        database_url=url,
        redis_url=REDIS,
        redis_key_prefix=prefix,
        auto_migrate=True,
        rate_limit_enabled=False,
    )
    runtime = Runtime(settings)
    try:
        await runtime.start()
        before = await _table_bytes(url.replace("+asyncpg", ""))
        ids = await _fill(runtime, sessions, rotations)
        after = await _table_bytes(url.replace("+asyncpg", ""))
        for session_id in ids:
            await runtime.auth.logout(session_id, "-", None)
        redis_total = await _redis_bytes(prefix)
    finally:
        await runtime.close()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cleanup = aioredis.Redis.from_url(REDIS)
        keys = [key async for key in cleanup.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await cleanup.delete(*keys)
        await cleanup.aclose()
    grown = {table: after[table] - before[table] for table in TABLES}
    return {
        "sessions": sessions,
        "rotations_per_session": rotations,
        "postgres_bytes_per_session": {t: round(v / sessions) for t, v in grown.items()},
        "postgres_bytes_per_session_total": round(sum(grown.values()) / sessions),
        "redis_bytes_per_revoked_session": round(redis_total / sessions),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rotations", type=int, default=4)
    args = parser.parse_args()
    import json

    print(json.dumps(asyncio.run(main(args.sessions, args.rotations)), indent=2))
