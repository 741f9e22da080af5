"""Fixtures for tests with several real authgate processes sharing PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.scaleout.infra import Server, postgres_database, redis_prefix, server_env


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def redis_key_prefix() -> Iterator[str]:
    with redis_prefix() as prefix:
        yield prefix


ServerFactory = Callable[..., Server]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def shared_env(tmp_path: Path, pg_url: str, redis_key_prefix: str) -> dict[str, str]:
    """One environment for every instance: same secrets, database and Redis prefix."""
    from tests.scaleout.infra import REDIS_URL

    return server_env(
        tmp_path,
        database_url=pg_url,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_key_prefix,
        auto_migrate="true",
        rate_limit_enabled="false",
    )


@pytest.fixture
def start_server(tmp_path: Path, servers: list[Server]) -> ServerFactory:
    def start(env: dict[str, str], *, workers: int = 1) -> Server:
        log = tmp_path / f"server-{len(servers)}.log"
        server = Server(env=env, log=log, workers=workers)
        servers.append(server)
        return server.start()

    return start
