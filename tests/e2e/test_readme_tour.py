"""The README's 5-minute tour, run as written against a real server (issue 20 items 2, 11).

The block is pasted into bash as a reader would; every answer the README shows in a
comment (`# {"error": ...}`) must come back, in order. That includes reuse detection:
the spent refresh token presented again revokes the session, so the newest access token
is refused before the tour logs out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.secretstrength import generate_secret
from tests.processes import authgate_command, free_port
from tests.test_docs import README, shell_blocks

pytestmark = pytest.mark.e2e


def tour() -> str:
    # The first block that sets B= is the 5-minute tour; later sections reuse the name.
    return next(text for _, text in shell_blocks(README) if text.startswith("B=http"))


def documented_answers(block: str) -> list[dict[str, str]]:
    """The JSON objects the README shows as answers, in the order shown."""
    return [json.loads(m) for m in re.findall(r"^# (\{.*?\})", block, re.MULTILINE)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("tour")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "JWT_"))},
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "warning",
    }
    args = [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(args, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):  # polling for startup, up to about 90 s on a busy machine
            assert process.poll() is None, "authgate exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
def test_the_tour_gives_the_documented_answers(server: str, tmp_path: Path) -> None:
    block = tour()
    script = block.replace("B=http://127.0.0.1:8000", f"B={server}", 1)
    assert script != block
    ran = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    answers = [json.loads(line) for line in ran.stdout.replace("}{", "}\n{").splitlines()]
    expected = documented_answers(block)
    assert len(expected) == 3
    remaining = iter(answers)
    for answer in expected:
        assert answer in remaining, f"{answer} not answered (in order): {answers}"
    register, chat, sessions = answers[:3]
    assert register["user"]["email"] == "ada@example.com"
    assert chat["user"]["email"] == "ada@example.com", "the protected call works"
    assert [s["current"] for s in sessions["sessions"]] == [True]
    assert answers[-2] == {"success": True, "message": "Logged out"}
