"""``authgate secrets``: generate and check the JWT signing secrets."""

from __future__ import annotations

import typer

from authgate.cli.common import fail, raw_settings, secrets_source, settings
from authgate.config import validate_secrets
from authgate.errors import ConfigurationError
from authgate.secretstrength import check_secret, generate_secret

__all__ = ["secrets_app"]

secrets_app = typer.Typer(help="Generate and check JWT signing secrets.", no_args_is_help=True)


@secrets_app.command("generate")
def secrets_generate() -> None:
    """Print a ready .env block with two distinct 64-byte base64url secrets."""
    typer.echo("# authgate JWT secrets: keep this file private (chmod 600), never commit it.")
    typer.echo(f"JWT_ACCESS_SECRET={generate_secret()}")
    typer.echo(f"JWT_REFRESH_SECRET={generate_secret()}")


@secrets_app.command("check")
def secrets_check() -> None:
    """Report the strength of the configured secrets without printing them."""
    # Never generate secrets just to check them: say where they come from, or refuse.
    typer.echo(f"authgate: using secrets from {secrets_source(raw_settings())}", err=True)
    config = settings(check_secrets=False)
    failed = False
    for name, value in (
        ("JWT_ACCESS_SECRET", config.access_secret()),
        ("JWT_REFRESH_SECRET", config.refresh_secret()),
    ):
        report = check_secret(value)
        failed = failed or not report.ok
        detail = "; ".join(report.problems) or "ok"
        typer.echo(
            f"{name}: {report.strength} (length {report.length}, "
            f"{report.distinct_chars} distinct characters, ~{report.estimated_bits} bits) {detail}"
        )
    try:
        validate_secrets(config)
    except ConfigurationError as exc:
        raise fail(exc.message) from exc
    if failed:
        raise typer.Exit(code=1)
