"""Issuing: password hashing, logins and refresh rotations, in process.

Logins are ``UserService.authenticate`` (argon2id verify) plus ``AuthService.start_session``
(session row, refresh row, audit event, two signed tokens). Refreshes are
``AuthService.refresh``: verify, load session and user, rotate the refresh token with
reuse tracking, audit, sign a new pair. "Sequential" is one client waiting for each
answer; "concurrent" keeps 16 refresh chains in flight. "Per CPU second" divides by the
CPU time the authgate process itself used (the database server's is not included).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from authgate.accounts.passwords import PasswordHasher
from authgate.devices import DeviceInfo
from authgate.runtime import Runtime
from authgate.sessions.service import TokenPair
from bench.common import ARGON2_DEFAULTS, PASSWORD, PG_ADMIN_URL, REDIS_URL, bench_settings, started
from bench.common import median as _median

DEVICE = DeviceInfo(user_agent="authgate-bench/1.0", ip="127.0.0.1", accept_language="en")
HASH_COSTS = {
    "configured": (
        ARGON2_DEFAULTS["argon2_time_cost"],
        ARGON2_DEFAULTS["argon2_memory_kib"],
        ARGON2_DEFAULTS["argon2_parallelism"],
    ),
    "t=5, m=7 MiB": (5, 7 * 1024, 1),
}
HASHES = 15
LOGINS = 30
REFRESHES = 400
CHAINS = 16


def hash_timing() -> list[dict[str, Any]]:
    rows = []
    for label, (time_cost, memory_kib, parallelism) in HASH_COSTS.items():
        hasher = PasswordHasher(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)
        stored = hasher.hash(PASSWORD)
        timings = []
        for _ in range(HASHES):
            start = time.perf_counter()
            hasher.verify(stored, PASSWORD)
            timings.append(time.perf_counter() - start)
        per = _median(timings)
        rows.append(
            {
                "name": f"argon2id verify, {label} "
                f"(t={time_cost}, m={memory_kib} KiB, p={parallelism})",
                "per_op_s": per,
                "per_s": 1 / per,
            }
        )
    return rows


async def _rate(n: int, step: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"per_s": n / wall, "per_cpu_s": n / cpu if cpu else float("nan"), "n": n}


async def _logins(runtime: Runtime, email: str) -> dict[str, float]:
    async def login() -> None:
        user = await runtime.users.authenticate(email, PASSWORD)
        await runtime.auth.start_session(user, DEVICE)

    return await _rate(LOGINS, login)


async def _refreshes(runtime: Runtime, email: str) -> dict[str, Any]:
    user = await runtime.users.authenticate(email, PASSWORD)
    pairs: list[TokenPair] = [await runtime.auth.start_session(user, DEVICE)]

    async def one() -> None:
        pairs[0] = await runtime.auth.refresh(pairs[0].refresh.token, DEVICE)

    sequential = await _rate(REFRESHES, one)
    chains = [await runtime.auth.start_session(user, DEVICE) for _ in range(CHAINS)]

    async def chain(index: int, count: int) -> None:
        for _ in range(count):
            chains[index] = await runtime.auth.refresh(chains[index].refresh.token, DEVICE)

    per_chain = max(1, REFRESHES // CHAINS)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(chain(i, per_chain) for i in range(CHAINS)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = per_chain * CHAINS
    return {
        "sequential": sequential,
        "concurrent": {"per_s": total / wall, "per_cpu_s": total / cpu, "n": total},
    }


async def _backend(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), **settings_overrides)
        async with started(settings) as runtime:
            email = "bench@example.com"
            await runtime.users.register(email, PASSWORD)
            logins = await _logins(runtime, email)
            refreshes = await _refreshes(runtime, email)
    return {"logins": logins, "refreshes": refreshes}


@contextlib.asynccontextmanager
async def postgres_and_redis() -> AsyncIterator[dict[str, Any] | None]:
    """A fresh PostgreSQL database and Redis key prefix, or None when either is missing."""
    try:
        import asyncpg
        import redis.asyncio as aioredis
    except ImportError:
        yield None
        return
    name = f"authgate_bench_{secrets.token_hex(4)}"
    prefix = f"authgate-bench-{secrets.token_hex(4)}:"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5)
        await client.ping()
    except (OSError, asyncpg.PostgresError, Exception):
        yield None
        return
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield {
            "database_url": f"{base}/{name}",
            "redis_url": REDIS_URL,
            "redis_key_prefix": prefix,
            "auto_migrate": True,
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _measure() -> dict[str, Any]:
    result: dict[str, Any] = {"hashing": hash_timing()}
    result["sqlite"] = await _backend({})
    async with postgres_and_redis() as overrides:
        if overrides is None:
            result["postgres_redis"] = None
        else:
            result["postgres_redis"] = await _backend(overrides)
    return result


def run() -> dict[str, Any]:
    return asyncio.run(_measure())
