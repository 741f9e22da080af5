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

from bench import authserver, endpoint, issuing, micro, refresh_http, resource, verify
from bench.common import fmt_rate, fmt_us

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = (
    "verify",
    "resource",
    "micro",
    "http",
    "refresh_http",
    "issuing",
    "authserver",
    "memory",
)


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
    parser.add_argument("--out", default="latest", help="results/<out>.{md,json}")
    args = parser.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s]
    results: dict[str, Any] = {"machine": machine()}
    runners = {
        "verify": verify.run,
        "micro": micro.run,
        "resource": resource.run,
        "http": endpoint.run,
        "refresh_http": refresh_http.run,
        "issuing": issuing.run,
        "authserver": authserver.run,
        "memory": run_memory,
    }
    for name in wanted:
        started = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results[name] = runners[name]()
        print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        RESULTS.mkdir(exist_ok=True)  # each section kept as soon as it is done
        (RESULTS / f"{args.out}.partial.json").write_text(json.dumps(results, indent=2) + "\n")
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["targets"] = targets(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = render(results)
    (RESULTS / f"{args.out}.md").write_text(markdown)
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
        auth = _row(results["http"], endpoint.DEFAULTS)
        rows.append(
            _target(
                "18.1 endpoint, defaults on (limiter, info log) ≥ 2x the tutorial app",
                f"{auth['x_tutorial']:.2f}x",
                auth["x_tutorial"] >= 2,
            )
        )
        rows.append(
            _target(
                "endpoint, defaults on ≥ 2x the tuned FastAPI + PyJWT baseline (issue 6)",
                f"{auth['x_baseline']:.2f}x",
                auth["x_baseline"] >= 2,
            )
        )
    if "micro" in results:
        rows += _micro_targets(results["micro"])
    if "refresh_http" in results:
        rows.append(_refresh_target(results["refresh_http"]))
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


# Issue 18's absolute targets were set on the machine of the day it was filed; this
# virtual machine runs 1.5x to 5x slower on other days. Each absolute figure is also shown
# at that day's speed, through a yardstick timed in the same rounds whose figure the
# issue gives, and judged there: in process, PyJWT's HS256 verify of a fresh token (36 µs
# then; micro.py); over HTTP, the tuned FastAPI + PyJWT baseline (191 µs of server CPU
# per request then; refresh_http.py).


def _judged_at_issue_speed(
    name: str, measured: str, at_issue_s: float, slowdown: float, limit: float
) -> dict[str, Any]:
    """An absolute µs target: the raw figure shown, judged at the issue's machine speed."""
    return _target(
        name,
        f"{measured}; {fmt_us(at_issue_s)} at the issue's speed (yardstick {slowdown:.2f}x slower)",
        at_issue_s <= limit,
    )


def _cost_target(name: str, part: dict[str, Any], limit: float) -> dict[str, Any]:
    measured = f"+{fmt_us(part['extra_s'])}"
    return _judged_at_issue_speed(name, measured, part["extra_at_issue_s"], part["slowdown"], limit)


def _micro_targets(m: dict[str, Any]) -> list[dict[str, Any]]:
    limiter = m["limiter"]
    worst = max(limiter["hit_few_s"], limiter["hit_500k_s"])
    return [
        _cost_target(
            "18.2 a user's route on create_app() ≤ 10 µs over a bare app", m["routing"], 10e-6
        ),
        _judged_at_issue_speed(
            "18.3 rate limit ≤ 5 µs per hit, O(1)",
            f"{fmt_us(limiter['hit_few_s'])} (500k clients: {fmt_us(limiter['hit_500k_s'])})",
            worst / limiter["slowdown"],
            limiter["slowdown"],
            5e-6,
        ),
        _cost_target("18.4 access log at info ≤ 5 µs per request", m["access_log"], 5e-6),
        *(
            _target(
                f"18.5 {alg} fresh verify ≥ 1.2x PyJWT",
                f"{m[key]['x_pyjwt']:.2f}x ({fmt_us(m[key]['authgate_s'])} vs "
                f"{fmt_us(m[key]['pyjwt_s'])})",
                m[key]["x_pyjwt"] >= 1.2,
            )
            for alg, key in (("EdDSA", "eddsa"), ("ES256", "es256"))
        ),
        _cost_target("18.7 AuthMiddleware on a raw ASGI app ≤ 8 µs", m["middleware"], 8e-6),
    ]


def _refresh_target(http: dict[str, Any] | None) -> dict[str, Any]:
    name = "18.6 refresh over HTTP on PG + Redis ≥ 1,000 per CPU-second"
    if http is None:
        return _target(name, "not measured", None)
    return _target(
        name,
        f"{fmt_rate(http['per_cpu_s'])}; a rotation costs "
        f"{http['baseline_requests_per_rotation']:.2f} tuned-baseline requests "
        f"({fmt_us(http['baseline_request_s'])} each in this run, 191 µs in the issue): "
        f"{fmt_rate(http['at_issue_speed'])} at the issue's speed",
        http["at_issue_speed"] >= 1000,
    )


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
    if "micro" in results:
        lines += _micro_md(results["micro"])
    if "resource" in results:
        lines += _resource_md(results["resource"])
    if "authserver" in results:
        lines += _authserver_md(results["authserver"])
    if "http" in results:
        lines += _http_md(results["http"])
    if "refresh_http" in results:
        lines += _refresh_http_md(results["refresh_http"])
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


def _authserver_md(section: dict[str, Any]) -> list[str]:
    lines = [
        "**Authorization server** (in process: a complete authorization-code flow with "
        "PKCE, consent remembered, and the code-for-token exchange alone)",
        "",
        "| Backend | What | per CPU-second | CPU each | per second (wall) |",
        "|---|---|---:|---:|---:|",
    ]
    for backend, figures in section.items():
        if figures is None:
            lines.append(f"| {backend} | not measured | | | |")
            continue
        for what in ("flows", "exchanges"):
            f = figures[what]
            lines.append(
                f"| {backend} | {what} | {f['per_cpu_s']:,.0f} | {f['cpu_ms_each']:.2f} ms "
                f"| {f['per_s']:,.0f} |"
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
        "| Server | req/s | p50 | p99 | server CPU per request | x unprotected "
        "| x tuned baseline | x tutorial |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in section["rows"]:
        lines.append(
            f"| {row['name']} | {row['rps']:,.0f} | {_ms(row['p50_s'])} | {_ms(row['p99_s'])} "
            f"| {fmt_us(row['cpu_per_request_s'])} "
            f"| {row['x_unprotected']:.2f}x | {row['x_baseline']:.2f}x "
            f"| {row['x_tutorial']:.2f}x |"
        )
    return [*lines, ""]


def _micro_md(m: dict[str, Any]) -> list[str]:
    r, log, mw, lim = m["routing"], m["access_log"], m["middleware"], m["limiter"]
    return [
        "**Parts of a request, in process** (CPU per request; ASGI apps called directly)",
        "",
        "| Part | with | without | cost |",
        "|---|---:|---:|---:|",
        f"| a user's `/hello` on `create_app()` vs a bare app, same middleware "
        f"| {fmt_us(r['user_route_s'])} | {fmt_us(r['bare_s'])} | {fmt_us(r['extra_s'])} |",
        f"| access log at info (JSON handler, /dev/null) "
        f"| {fmt_us(log['logged_s'])} | {fmt_us(log['raw_s'])} | {fmt_us(log['extra_s'])} |",
        f"| AuthMiddleware on a raw ASGI app (valid Bearer token) "
        f"| {fmt_us(mw['auth_s'])} | {fmt_us(mw['raw_s'])} | {fmt_us(mw['extra_s'])} |",
        f"| rate limiter per hit, 1 client / 500,000 clients in the window "
        f"| | | {fmt_us(lim['hit_few_s'])} / {fmt_us(lim['hit_500k_s'])} |",
        f"| EdDSA fresh verify, authgate / PyJWT | {fmt_us(m['eddsa']['authgate_s'])} "
        f"| {fmt_us(m['eddsa']['pyjwt_s'])} | {m['eddsa']['x_pyjwt']:.2f}x |",
        f"| ES256 fresh verify, authgate / PyJWT | {fmt_us(m['es256']['authgate_s'])} "
        f"| {fmt_us(m['es256']['pyjwt_s'])} | {m['es256']['x_pyjwt']:.2f}x |",
        "",
    ]


def _refresh_http_md(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return ["**Refresh over HTTP on PostgreSQL + Redis**: not measured", ""]
    return [
        f"**Refresh over HTTP on PostgreSQL + Redis** ({section['chains']} chains x "
        f"{section['per_chain']} rotations, one uvicorn worker): "
        f"{fmt_rate(section['per_cpu_s'])} per server CPU-second "
        f"({fmt_rate(section['per_s'])} wall clock); the tuned FastAPI + PyJWT baseline, "
        f"run back to back under wrk, {fmt_us(section['baseline_request_s'])} per request: "
        f"a rotation costs {section['baseline_requests_per_rotation']:.2f} of its requests",
        "",
    ]


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
