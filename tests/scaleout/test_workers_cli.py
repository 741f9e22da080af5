"""`authgate serve --workers N` needs shared hot state for N > 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.scaleout.infra import AUTHGATE, free_port, server_env


def test_several_workers_without_redis_are_refused(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    args = [AUTHGATE, "serve", "--port", str(free_port()), "--workers", "2"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--workers > 1 needs shared hot state: set AUTHGATE_REDIS_URL" in result.stderr
