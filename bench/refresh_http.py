"""Refresh-token rotation over HTTP on PostgreSQL + Redis, per server CPU-second.

One uvicorn worker (uvloop, httptools) of ``authgate serve``'s app with its defaults on
(the ``/auth/refresh`` limiter too, its limit raised so nothing is refused), a fresh
PostgreSQL database and Redis key prefix. Sixteen chains rotate concurrently over
HTTP (``POST /auth/refresh`` with the JSON body); the figure is rotations divided by
the server process's CPU time, so the client's own work does not count.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import PASSWORD, median
from bench.endpoint import server_env, uvicorn
from bench.issuing import postgres_and_redis

CHAINS = 16
PER_CHAIN = 120
ROUNDS = 5


def _env(tmp: Path, overrides: dict[str, Any]) -> dict[str, str]:
    env = server_env(tmp)
    env.update(
        {
            "AUTHGATE_DATABASE_URL": overrides["database_url"],
            "AUTHGATE_REDIS_URL": overrides["redis_url"],
            "AUTHGATE_REDIS_KEY_PREFIX": overrides["redis_key_prefix"],
            "AUTHGATE_AUTO_MIGRATE": "true",
            "AUTHGATE_RATE_LIMIT_ENABLED": "true",
            "AUTHGATE_RATE_LIMIT_REFRESH": "1000000000 per 15 minutes",
            "AUTHGATE_RATE_LIMIT_REGISTER": "1000 per hour",
            "AUTHGATE_RATE_LIMIT_LOGIN": "1000 per hour",
        }
    )
    return env


async def _chains(base_url: str) -> tuple[int, list[str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        account = {"email": "refresh@example.com", "password": PASSWORD}
        (await client.post("/auth/register", json=account)).raise_for_status()
        tokens = []
        for _ in range(CHAINS):
            response = await client.post("/auth/login", json=account)
            response.raise_for_status()
            tokens.append(response.json()["refreshToken"])
    return CHAINS, tokens


async def _rotate(base_url: str, tokens: list[str], per_chain: int) -> None:
    limits = httpx.Limits(max_connections=CHAINS)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def chain(index: int) -> None:
            for _ in range(per_chain):
                response = await client.post("/auth/refresh", json={"refreshToken": tokens[index]})
                response.raise_for_status()
                tokens[index] = response.json()["refreshToken"]

        await asyncio.gather(*(chain(i) for i in range(CHAINS)))


async def _measure() -> dict[str, Any] | None:
    async with postgres_and_redis() as overrides:
        if overrides is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            env = _env(Path(tmp), overrides)
            with uvicorn("bench.apps:protected", env) as server:
                _, tokens = await _chains(server.url)
                await _rotate(server.url, tokens, 10)  # warm up
                rates, walls = [], []
                for _ in range(ROUNDS):
                    cpu, wall = server.cpu_seconds(), time.perf_counter()
                    await _rotate(server.url, tokens, PER_CHAIN)
                    cpu, wall = server.cpu_seconds() - cpu, time.perf_counter() - wall
                    rates.append(CHAINS * PER_CHAIN / cpu)
                    walls.append(CHAINS * PER_CHAIN / wall)
    return {
        "per_cpu_s": median(rates),
        "per_s": median(walls),
        "rounds": rates,
        "chains": CHAINS,
        "per_chain": PER_CHAIN,
    }


def run() -> dict[str, Any] | None:
    return asyncio.run(_measure())
