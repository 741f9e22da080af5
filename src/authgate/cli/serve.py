"""``authgate serve``: the API under uvicorn, one process or several workers.

Before uvicorn starts, the command checks what a newcomer trips over and says it in one
line with exit 1 instead of a traceback: a busy port, invalid settings, a database not
at the schema head, an encryption key that does not open the stored keys.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.cli.common import fail, raw_settings, run, state_settings
from authgate.config import Settings
from authgate.errors import AuthgateError
from authgate.logconfig import JsonFormatter, log_config, resolve_log_format

__all__ = ["public_url_for", "serve"]

_WORKER_HEALTHCHECK_SECONDS = 60
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (recognised, never bound here)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    ssl_certfile: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="TLS certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="TLS private key (PEM).")
    ] = None,
) -> None:
    """Serve the authgate API with uvicorn (HTTPS directly with --ssl-certfile/--ssl-keyfile)."""
    import uvicorn

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise fail("--ssl-certfile and --ssl-keyfile go together")
    _default_public_url(host, port, tls=ssl_certfile is not None)
    config = state_settings(creates_state=True, say=_announcer(raw_settings()))
    _require_free_port(host, port)
    if workers > 1 and config.redis_url is None:
        # Revocations, rate-limit counters and one-time markers would stay in each
        # worker's memory: a logout or a failed login would not reach the others.
        raise fail(
            "--workers > 1 needs shared hot state: set AUTHGATE_REDIS_URL (see docs/deploy.md)"
        )
    _preflight(config)
    options = _uvicorn_options(config, host, port, ssl_certfile, ssl_keyfile)
    if workers == 1:
        from authgate.http.app import create_app

        uvicorn.run(create_app(config), **options)
        return
    created = _multiprocess_metrics_dir()
    try:
        # Each worker builds its own app from the same environment.
        uvicorn.run(
            "authgate.http.app:create_app",
            factory=True,
            workers=workers,
            # uvicorn kills a worker that has not answered its ping in 5 s; a spawned worker
            # still importing on a busy machine is slow, not dead.
            timeout_worker_healthcheck=_WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def _announcer(config: Settings) -> Callable[[str], None]:
    """Start-up lines in the log format the server will use: JSON logs stay parseable."""
    if _log_format(config) != "json":
        return lambda line: typer.echo(f"authgate: {line}", err=True)
    formatter = JsonFormatter()

    def emit(line: str) -> None:
        record = logging.LogRecord("authgate.cli", logging.INFO, __file__, 0, line, None, None)
        typer.echo(formatter.format(record), err=True)

    return emit


def _log_format(config: Settings) -> str:
    return resolve_log_format(config.log_format, env=config.env, tty=sys.stderr.isatty())


def _uvicorn_options(
    config: Settings, host: str, port: int, certfile: Path | None, keyfile: Path | None
) -> dict[str, Any]:
    log_format = _log_format(config)
    return {
        "host": host,
        "port": port,
        "log_level": config.log_level,
        "log_config": log_config(config.log_level, log_format),
        "proxy_headers": False,
        "server_header": False,
        # authgate writes the access log itself (authgate.access), cheaper and redacted.
        "access_log": not config.access_log,
        "ssl_certfile": str(certfile) if certfile else None,
        "ssl_keyfile": str(keyfile) if keyfile else None,
    }


def public_url_for(host: str, port: int, *, tls: bool = False) -> str:
    """The URL of the bound address; a wildcard is not an address, so loopback stands in."""
    scheme = "https" if tls else "http"
    name = "127.0.0.1" if host in _WILDCARDS else host
    if ":" in name:
        name = f"[{name}]"  # RFC 3986 s3.2.2: an IPv6 literal in brackets
    default = 443 if tls else 80
    return f"{scheme}://{name}" if port == default else f"{scheme}://{name}:{port}"


def _default_public_url(host: str, port: int, *, tls: bool) -> None:
    """Without AUTHGATE_PUBLIC_URL, metadata and redirects name the address actually bound.

    Set in the environment, not passed as an override, so that every worker process
    (which builds its settings from the environment) sees the same value.
    """
    if "public_url" in raw_settings().model_fields_set:
        return
    url = public_url_for(host, port, tls=tls)
    os.environ["AUTHGATE_PUBLIC_URL"] = url
    if host in _WILDCARDS:
        typer.secho(
            f"warning: listening on all interfaces; advertising {url}: set AUTHGATE_PUBLIC_URL "
            "to the URL clients use",
            fg=typer.colors.YELLOW,
            err=True,
        )


def _require_free_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option uvicorn sets, so a port in TIME_WAIT counts as free, as it will be.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise fail(
                    f"port {port} on {host} is already in use: stop what listens there or "
                    f"choose another port (make run PORT={port + 1}, or authgate serve "
                    f"--port {port + 1})"
                ) from None
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _preflight(config: Settings) -> None:
    """Start and stop a runtime once, so a known misconfiguration is one line, not a trace."""

    async def start_and_close() -> None:
        from authgate.runtime import Runtime

        runtime = Runtime(config)
        try:
            await runtime.start()
        finally:
            await runtime.close()

    try:
        run(start_and_close())
    except AuthgateError as exc:
        raise fail(f"cannot start: {exc.message}") from None


def _multiprocess_metrics_dir() -> Path | None:
    """prometheus-client's multiprocess mode: workers write samples here, a scrape sums them.

    A fresh directory per start, removed at exit (returned), or the configured one,
    emptied: samples of an earlier run would otherwise be added to this one's.
    """
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    created = Path(tempfile.mkdtemp(prefix="authgate-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(created)
    return created
