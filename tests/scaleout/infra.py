"""Real PostgreSQL, Redis and authgate server processes for the scale-out tests.

The shared servers (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379) are only
ever given new databases and key prefixes; tests that stop a server start a private one
on a spare port first. A missing server skips the test with the reason, except in CI
(``CI`` set), where it fails: there `.ci/run` starts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from tests.processes import free_port

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AUTHGATE = str(Path(sys.executable).with_name("authgate"))


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port} (DEVELOPERS.md says how to start it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    # Debian keeps the PostgreSQL server tools off PATH, under the versioned directory.
    pg_bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(map(str, pg_bins)))
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# PostgreSQL


def _admin_parts(admin_url: str) -> tuple[str, int]:
    rest = admin_url.split("@", 1)[1]
    host_port = rest.split("/", 1)[0]
    host, _, port = host_port.partition(":")
    return host, int(port or 5432)


def _asyncpg_dsn(admin_url: str) -> str:
    return admin_url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh database ``authgate_test_<random>``; yields its SQLAlchemy async URL."""
    host, port = _admin_parts(admin_url)
    require_server("PostgreSQL", host, port)
    name = f"authgate_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Redis


@contextlib.contextmanager
def redis_prefix(url: str = REDIS_URL) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted after."""
    host, port = _redis_host_port(url)
    require_server("Redis", host, port)
    prefix = f"authgate-test-{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        with contextlib.suppress(redis.RedisError, OSError):
            client = redis.Redis.from_url(url, socket_timeout=2)
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            if keys:
                client.delete(*keys)
            client.close()


def _redis_host_port(url: str) -> tuple[str, int]:
    netloc = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":")
    return host, int(port or 6379)


@dataclass
class PrivateRedis:
    """A redis-server of the test's own, on a spare port, that the test may stop."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = require_binary("redis-server")
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: reachable("127.0.0.1", self.port, 0.2), 10, "private redis start")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot exit
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, so clients see their connections reset, not a clean close."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """A hung server: SIGSTOP keeps every socket open but nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb + pg_ctl) on a spare port."""

    port: int = field(default_factory=free_port)
    datadir: Path | None = None
    _user: str | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        initdb = require_binary("initdb")
        # PostgreSQL refuses to run as root: use the postgres account then.
        self._user = "postgres" if os.geteuid() == 0 else None
        self.datadir = Path(tempfile.mkdtemp(prefix="authgate-pg-"))
        if self._user is not None:
            shutil.chown(self.datadir, self._user)
        self._run([initdb, "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-N"])

    def start(self) -> None:
        assert self.datadir is not None
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.datadir / "server.log"
        args = ["-D", str(self.datadir), "-o", options, "-l", str(log), "-w", "start"]
        self._run([_pg_ctl(), *args])

    def start_recovering(self) -> None:
        """Start a recovery that lasts until ``promote``: a standby with hot standby off
        refuses every connection with 57P03, as a server still replaying its WAL does."""
        assert self.datadir is not None
        signal_file = self.datadir / "standby.signal"
        signal_file.touch()
        if self._user is not None:
            shutil.chown(signal_file, self._user)
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c hot_standby=off"
        log = self.datadir / "server.log"
        args = ["-D", str(self.datadir), "-o", options, "-l", str(log), "-W", "start"]
        self._run([_pg_ctl(), *args])

    def promote(self) -> None:
        assert self.datadir is not None
        self._run([_pg_ctl(), "-D", str(self.datadir), "-w", "promote"])

    def stop(self, mode: str = "immediate") -> None:
        assert self.datadir is not None
        self._run([_pg_ctl(), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        if self.datadir is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def _run(self, args: list[str]) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self._user, timeout=60)


def _pg_ctl() -> str:
    return require_binary("pg_ctl")


# authgate server processes


@dataclass
class Server:
    """One ``authgate serve`` process on a free port."""

    env: Mapping[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> Server:
        args = [AUTHGATE, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                args, env=dict(self.env), stdout=out, stderr=subprocess.STDOUT
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, timeout, f"server on {self.port}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def server_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a test server: shared secrets, cheap argon2, no .env pickup."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "COVERAGE_PROCESS_START")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(
        {
            "AUTHGATE_ENV": "test",
            "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
            "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
            "JWT_REFRESH_SECRET": secrets.token_urlsafe(48),
            "AUTHGATE_ARGON2_TIME_COST": "1",
            "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
            "AUTHGATE_COOKIE_SECURE": "false",
            "AUTHGATE_LOG_LEVEL": "warning",
        }
    )
    env.update({f"AUTHGATE_{key.upper()}": value for key, value in settings.items()})
    return env


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until(predicate: Any, timeout: float) -> float:
    """Poll ``predicate`` until true; return the seconds it took, or fail at ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.02)
