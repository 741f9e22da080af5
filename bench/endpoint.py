"""The protected endpoint over HTTP: ``wrk`` against five uvicorn servers on loopback.

Each server runs one worker (uvloop, httptools, uvicorn's own access log off):

- authgate's ``POST /api/ai/chat`` with its defaults on: the ``/api`` rate limiter (its
  limit raised so that nothing is refused; GCRA costs the same at any limit) and the
  access log at info, written as ``authgate serve`` writes it, to a file;
- the same with rate limits off and the log at warning (the earlier setup);
- the same app with the same route unauthenticated (``bench.apps:unprotected``);
- the tuned FastAPI + PyJWT baseline (``baselines/fastapi_pyjwt.py``);
- the tutorial-style FastAPI + PyJWT app (``baselines/fastapi_tutorial.py``).

Every request carries the same bearer token and JSON body. Rounds are interleaved so
that background noise falls on all alike; the table reports medians.
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from authgate.secretstrength import generate_secret
from bench.common import PASSWORD, median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULTS = "authgate, defaults on (limiter, info log)"
UNPROTECTED = "authgate, same route unauthenticated"
TUNED = "FastAPI + PyJWT baseline"
TUTORIAL = "FastAPI + PyJWT tutorial"
SERVERS = {
    DEFAULTS: "bench.apps:protected_logged",
    "authgate, limits off, warning log": "bench.apps:protected",
    UNPROTECTED: "bench.apps:unprotected",
    TUNED: "bench.baselines.fastapi_pyjwt:app",
    TUTORIAL: "bench.baselines.fastapi_tutorial:app",
}
#: The defaults-on server: limiter on with a limit nothing reaches, access log at info.
DEFAULTS_ENV = {
    "AUTHGATE_RATE_LIMIT_ENABLED": "true",
    "AUTHGATE_RATE_LIMIT_API": "1000000000 per 15 minutes",
    "AUTHGATE_LOG_LEVEL": "info",
}
#: wrk's connections, as when issue 18 measured its table.
CONNECTIONS = 50
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
def uvicorn(target: str, env: dict[str, str], log: Path | None = None) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    out = log.open("ab") if log is not None else None
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=out)
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
        if out is not None:
            out.close()


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
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
        "-s", str(HERE / "chat.lua"), f"{url}/api/ai/chat",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_TOKEN": token}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    # Timeouts only drop requests from the count; a wrong answer spoils the run.
    if "Non-2xx" in out or re.search(r"Socket errors: connect [1-9]|read [1-9]|write [1-9]", out):
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
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
    *, seconds: int = 8, warmup: int = 2, rounds: int = 3, connections: int = CONNECTIONS
) -> dict[str, Any]:
    ensure_wrk()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = server_env(Path(tmp))
        servers = {
            name: stack.enter_context(
                uvicorn(
                    target,
                    {**env, **DEFAULTS_ENV} if name == DEFAULTS else env,
                    Path(tmp) / "access.log" if name == DEFAULTS else None,
                )
            )
            for name, target in SERVERS.items()
        }
        token = access_token(servers[DEFAULTS].url)
        for name, server in servers.items():
            check(name, server.url, token)
            wrk(server.url, token, seconds=warmup, connections=connections)
        for _ in range(rounds):
            for name, server in servers.items():
                samples[name].append(
                    measure(server, token, seconds=seconds, connections=connections)
                )
        logged = sum(1 for _ in (Path(tmp) / "access.log").open())
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
        row["x_unprotected"] = by_name[UNPROTECTED][cpu] / row[cpu]
        row["x_baseline"] = by_name[TUNED][cpu] / row[cpu]
        row["x_tutorial"] = by_name[TUTORIAL][cpu] / row[cpu]
    return {
        "rows": rows,
        "seconds": seconds,
        "rounds": rounds,
        "connections": connections,
        "access_log_lines": logged,
        "server": "uvicorn, 1 worker, uvloop, httptools, uvicorn's access log off",
    }
