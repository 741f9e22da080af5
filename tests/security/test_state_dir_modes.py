"""The state folder is private: 0700, and every file in it 0600 (issue 19 item 16).

The embedded SQLite database holds password hashes, sessions and sealed keys; its
``-wal``/``-shm`` journals hold recent pages of it; ``secrets.env`` holds the JWT
secrets. They were created 0644 in a 0755 folder, readable by every account on the host.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import PASSWORD, register
from tests.processes import authgate_command, free_port

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

STARTUP_TIMEOUT = 30.0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_in(folder: Path) -> dict[str, int]:
    return {entry.name: mode(entry) for entry in folder.iterdir()}


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"authgate exited early with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for startup, not waiting for a token to expire
    raise AssertionError("authgate did not become healthy in time")


@pytest.fixture
def served_state(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``authgate serve`` with no secrets and no database configured, under umask 000:
    everything it makes in the state folder must be private by its own doing."""
    state = tmp_path / "state"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET")
        and not key.startswith("AUTHGATE_")
    }
    env.update(
        AUTHGATE_ENV="development",
        AUTHGATE_STATE_DIR=str(state),
        AUTHGATE_ARGON2_TIME_COST="1",
        AUTHGATE_ARGON2_MEMORY_KIB="8192",
        AUTHGATE_LOG_LEVEL="warning",
    )
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        umask=0o000,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process)
        yield base_url, state
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_served_state_folder_and_every_file_in_it_are_private(
    served_state: tuple[str, Path],
) -> None:
    base_url, state = served_state
    with httpx.Client(base_url=base_url) as client:
        response = client.post(
            "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
    files = modes_in(state)
    # The database, its write-ahead log and shared memory, and the generated secrets.
    assert {"authgate.db", "authgate.db-wal", "authgate.db-shm", "secrets.env"} <= set(files)
    assert mode(state) == 0o700
    assert files == dict.fromkeys(files, 0o600)


async def test_an_existing_open_state_folder_is_tightened_at_start(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """A folder left by an older version (0755, files 0644) is made private on start."""
    state = tmp_path / "state"
    settings = make_settings(state)
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app) as client:
        await register(client)
    # Open the folder up as an older version left it: that is the point of the test.
    os.chmod(state, 0o755)  # noqa: S103
    for path in state.iterdir():
        os.chmod(path, 0o644)
    (state / "notes.txt").write_text("left by an operator")
    os.chmod(state / "notes.txt", 0o666)  # noqa: S103

    app = create_app(make_settings(state), clock=clock)
    async with lifespan(app):
        assert mode(state) == 0o700
        files = modes_in(state)
        assert "authgate.db" in files
        assert files == dict.fromkeys(files, 0o600)


def test_a_link_in_the_state_folder_is_not_followed(tmp_path: Path, clock: FrozenClock) -> None:
    """Tightening never changes a file outside the folder through a symbolic link."""
    outside = tmp_path / "shared.txt"
    outside.write_text("someone else's")
    os.chmod(outside, 0o644)
    state = tmp_path / "state"
    state.mkdir()
    (state / "link").symlink_to(outside)
    create_app(make_settings(state), clock=clock)
    assert mode(outside) == 0o644
    assert mode(state) == 0o700
