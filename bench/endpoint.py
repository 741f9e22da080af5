"""The protected endpoint over HTTP: ``wrk`` against three uvicorn servers on loopback.

Each server runs one worker with the same settings (uvloop, httptools, no access log):
authgate's ``POST /api/ai/chat``; the same app with the same route unauthenticated
(``bench.apps:unprotected``); and the hand-written FastAPI + PyJWT baseline. Every
request carries the same bearer token and JSON body. Rounds are interleaved so that
background noise falls on all three alike; the table reports medians.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from authgate.secretstrength import generate_secret
from bench.common import PASSWORD, median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVERS = {
    "authgate": "bench.apps:protected",
    "authgate, same route unauthenticated": "bench.apps:unprotected",
    "FastAPI + PyJWT baseline": "bench.baselines.fastapi_pyjwt:app",
}
BODY = {"message": "Summarise the quarterly report in three bullet points."}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "JWT_ACCESS_SECRET": generate_secret(),
            "JWT_REFRESH_SECRET": generate_secret(),
            "AUTHGATE_ENV": "production",
            "AUTHGATE_STATE_DIR": str(state_dir),
            "AUTHGATE_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        }
    )
    env["AUTHGATE_RATE_LIMIT_ENABLED"] = "false"  # see bench.common: limits are off
    return env


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def uvicorn(target: str, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        _wait_for_port(port, process)
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def access_token(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        account = {"email": "bench@example.com", "password": PASSWORD}
        client.post("/auth/register", json=account).raise_for_status()
        response = client.post("/auth/login", json=account)
        response.raise_for_status()
        token: str = response.json()["accessToken"]
        return token


def check(name: str, base_url: str, token: str) -> None:
    """The route answers 200 with the token, and 401 without it unless unauthenticated."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        ok = client.post("/api/ai/chat", json=BODY, headers={"Authorization": f"Bearer {token}"})
        if ok.status_code != 200:
            raise RuntimeError(f"{name}: {ok.status_code} with a valid token")
        anonymous = client.post("/api/ai/chat", json=BODY)
        expected = 200 if "unauthenticated" in name else 401
        if anonymous.status_code != expected:
            raise RuntimeError(f"{name}: {anonymous.status_code} without a token")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(url: str, token: str, *, seconds: int, connections: int) -> dict[str, float]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(HERE / "chat.lua"), f"{url}/api/ai/chat",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_TOKEN": token}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    latency = {
        pct: float(value) * _UNITS[unit]
        for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    return {"rps": rps, "requests": requests, "p50_s": latency["50"], "p99_s": latency["99"]}


def measure(server: Server, token: str, *, seconds: int, connections: int) -> dict[str, float]:
    """wrk's figures plus the server's CPU time per request.

    Ratios use CPU per request: on a shared machine, requests per wall-clock second
    also measure how often the neighbours held the cores.
    """
    before = server.cpu_seconds()
    result = wrk(server.url, token, seconds=seconds, connections=connections)
    cpu = server.cpu_seconds() - before
    result["cpu_per_request_s"] = cpu / result["requests"]
    return result


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")


def run(
    *, seconds: int = 8, warmup: int = 2, rounds: int = 3, connections: int = 50
) -> dict[str, Any]:
    ensure_wrk()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(Path(tmp))
        with (
            uvicorn(SERVERS["authgate"], env) as protected,
            uvicorn(SERVERS["authgate, same route unauthenticated"], env) as unprotected,
            uvicorn(SERVERS["FastAPI + PyJWT baseline"], env) as baseline,
        ):
            servers = dict(zip(SERVERS, (protected, unprotected, baseline), strict=True))
            token = access_token(protected.url)
            for name, server in servers.items():
                check(name, server.url, token)
                wrk(server.url, token, seconds=warmup, connections=connections)
            for _ in range(rounds):
                for name, server in servers.items():
                    samples[name].append(
                        measure(server, token, seconds=seconds, connections=connections)
                    )
    rows = [
        {
            "name": name,
            "rps": median([s["rps"] for s in runs]),
            "p50_s": median([s["p50_s"] for s in runs]),
            "p99_s": median([s["p99_s"] for s in runs]),
            "cpu_per_request_s": median([s["cpu_per_request_s"] for s in runs]),
        }
        for name, runs in samples.items()
    ]
    by_name = {row["name"]: row for row in rows}
    cpu = "cpu_per_request_s"
    for row in rows:
        row["x_unprotected"] = by_name["authgate, same route unauthenticated"][cpu] / row[cpu]
        row["x_baseline"] = by_name["FastAPI + PyJWT baseline"][cpu] / row[cpu]
    return {
        "rows": rows,
        "seconds": seconds,
        "rounds": rounds,
        "connections": connections,
        "server": "uvicorn, 1 worker, uvloop, httptools, no access log, rate limits off",
    }
