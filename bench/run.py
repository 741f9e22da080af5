"""Run every benchmark in one go and write ``bench/results/latest.{md,json}``.

python -m bench                    # everything (a few minutes)
python -m bench --only verify,http # some sections
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import endpoint, issuing, resource, verify
from bench.common import fmt_rate, fmt_us

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("verify", "resource", "http", "issuing", "memory")


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit,
        "load_before": os.getloadavg()[0],
    }


def run_memory() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory"], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s]
    results: dict[str, Any] = {"machine": machine()}
    runners = {
        "verify": verify.run,
        "resource": resource.run,
        "http": endpoint.run,
        "issuing": issuing.run,
        "memory": run_memory,
    }
    for name in wanted:
        started = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results[name] = runners[name]()
        print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["targets"] = targets(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = render(results)
    (RESULTS / "latest.md").write_text(markdown)
    print(markdown)


# Targets (issue 6), each evaluated on figures from this run.


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "verify" in results:
        auth = _row(results["verify"], "authgate")
        for kind in ("repeated", "fresh"):
            ratio = auth[f"x_PyJWT_{kind}"]
            rows.append(_target(f"verify ≥ 5x PyJWT ({kind} token)", f"{ratio:.1f}x", ratio >= 5))
    if "http" in results:
        auth = _row(results["http"], "authgate")
        rows.append(
            _target(
                "endpoint ≥ 0.85x unprotected route",
                f"{auth['x_unprotected']:.2f}x",
                auth["x_unprotected"] >= 0.85,
            )
        )
        rows.append(
            _target(
                "endpoint ≥ 2x FastAPI + PyJWT baseline",
                f"{auth['x_baseline']:.2f}x",
                auth["x_baseline"] >= 2,
            )
        )
    pg = (results.get("issuing") or {}).get("postgres_redis")
    if "issuing" in results:
        if pg is None:
            rows.append(_target("refresh ≥ 1,000/s per core on PG + Redis", "not measured", None))
        else:
            rate = pg["refreshes"]["concurrent"]["per_cpu_s"]
            rows.append(
                _target("refresh ≥ 1,000/s per core on PG + Redis", fmt_rate(rate), rate >= 1000)
            )
    redis = (results.get("memory") or {}).get("redis")
    if "memory" in results:
        if redis is None:
            rows.append(_target("≤ 1 KB Redis per active session", "not measured", None))
        else:
            rows.append(
                _target(
                    "≤ 1 KB Redis per active session",
                    f"{redis['bytes_per_active_session']} B "
                    f"({redis['bytes_per_revoked_session']:.0f} B per revoked session)",
                    redis["bytes_per_active_session"] <= 1024,
                )
            )
    return rows


def _target(name: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met}


def _row(section: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in section["rows"] if row["name"] == name)


# Markdown


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"### Benchmarks, {m['date']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, commit `{m['commit']}`; "
        f"load average {m['load_before']:.1f} before, {m.get('load_after', 0):.1f} after. "
        "Medians of interleaved rounds; ratios are within this run.",
        "",
    ]
    if "verify" in results:
        lines += _verify_md(results["verify"])
    if "resource" in results:
        lines += _resource_md(results["resource"])
    if "http" in results:
        lines += _http_md(results["http"])
    if "issuing" in results:
        lines += _issuing_md(results["issuing"])
    if "memory" in results:
        lines += _memory_md(results["memory"])
    lines += ["**Targets**", "", "| Target | Measured | Met |", "|---|---|---|"]
    for row in results["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
        lines.append(f"| {row['target']} | {row['measured']} | {met} |")
    return "\n".join(lines) + "\n"


def _verify_md(section: dict[str, Any]) -> list[str]:
    lines = [
        f"**Verify in process** (HS256 access token, same checks, revocation included; "
        f"CPU time per call, median of {section['rounds']} rounds)",
        "",
        "| Implementation | fresh token | repeated token | x PyJWT fresh | x PyJWT repeated |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in section["rows"]:
        lines.append(
            f"| {row['name']} | {fmt_us(row['fresh_s'])} | {fmt_us(row['repeated_s'])} "
            f"| {row['x_PyJWT_fresh']:.1f}x | {row['x_PyJWT_repeated']:.1f}x |"
        )
    return [*lines, ""]


def _resource_md(section: dict[str, Any]) -> list[str]:
    feed = "running" if section["feed_running"] else "NOT running"
    lines = [
        f"**Verify in a resource server elsewhere** (EdDSA token for the resource, JWKS, "
        f"revocation feed {feed}; CPU time per call, median of {section['rounds']} rounds)",
        "",
        "| Implementation | fresh token | repeated token | x PyJWT fresh | x PyJWT repeated |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in section["rows"]:
        lines.append(
            f"| {row['name']} | {fmt_us(row['fresh_s'])} | {fmt_us(row['repeated_s'])} "
            f"| {row['x_fresh']:.1f}x | {row['x_repeated']:.1f}x |"
        )
    return [*lines, ""]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _http_md(section: dict[str, Any]) -> list[str]:
    lines = [
        f"**POST /api/ai/chat over HTTP** (wrk, {section['connections']} connections, "
        f"{section['rounds']}x{section['seconds']} s each; {section['server']}; "
        "ratios are requests per server CPU-second)",
        "",
        "| Server | req/s | p50 | p99 | server CPU per request | x unprotected | x baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in section["rows"]:
        lines.append(
            f"| {row['name']} | {row['rps']:,.0f} | {_ms(row['p50_s'])} | {_ms(row['p99_s'])} "
            f"| {fmt_us(row['cpu_per_request_s'])} "
            f"| {row['x_unprotected']:.2f}x | {row['x_baseline']:.2f}x |"
        )
    return [*lines, ""]


def _issuing_md(section: dict[str, Any]) -> list[str]:
    lines = ["**Issuing** (in process)", "", "| | per op | per second |", "|---|---:|---:|"]
    for row in section["hashing"]:
        lines.append(f"| {row['name']} | {_ms(row['per_op_s'])} | {fmt_rate(row['per_s'])} |")
    lines += ["", "| | SQLite | PostgreSQL + Redis |", "|---|---:|---:|"]
    backends = [section["sqlite"], section["postgres_redis"]]

    def cell(data: dict[str, Any] | None, *path: str) -> str:
        if data is None:
            return "not measured"
        for key in path:
            data = data[key]
        return fmt_rate(float(data))  # type: ignore[arg-type]

    rows = [
        ("logins/s (configured argon2), sequential", ("logins", "per_s")),
        ("refreshes/s, sequential", ("refreshes", "sequential", "per_s")),
        ("refreshes/s, 16 concurrent", ("refreshes", "concurrent", "per_s")),
        (
            "refreshes per CPU-second of the authgate process",
            ("refreshes", "concurrent", "per_cpu_s"),
        ),
    ]
    for label, path in rows:
        lines.append(f"| {label} | " + " | ".join(cell(b, *path) for b in backends) + " |")
    return [*lines, ""]


def _memory_md(section: dict[str, Any]) -> list[str]:
    p = section["process"]
    lines = [
        "**Memory and storage**",
        "",
        "| | |",
        "|---|---:|",
        f"| worker RSS after start | {p['rss_base_bytes'] / 2**20:.0f} MiB |",
        f"| + {p['revoked']:,} revoked sessions in the revocation list | "
        f"{p['bytes_per_revocation']:.0f} B each |",
        f"| + full verified-token cache ({p['cache_entries']:,} entries) | "
        f"{p['bytes_per_cache_entry']:.0f} B each |",
        f"| worker RSS with both | {p['rss_with_all_bytes'] / 2**20:.0f} MiB |",
        f"| SQLite per session (rows, indexes, login audit event) | "
        f"{section['sqlite']['bytes_per_session']:.0f} B |",
    ]
    if section.get("postgres"):
        lines.append(
            f"| PostgreSQL per session (same) | {section['postgres']['bytes_per_session']:.0f} B |"
        )
    if section.get("redis"):
        r = section["redis"]
        lines.append(
            f"| Redis per active session / per revoked session | "
            f"{r['bytes_per_active_session']} B / {r['bytes_per_revoked_session']:.0f} B |"
        )
    return [*lines, ""]
