"""The ``authgate`` command line: one module per command group.

The top layer: it may import anything in authgate, and nothing imports it.
"""

from __future__ import annotations

import warnings
from typing import Any

import typer

from authgate.cli.agents import agents_app
from authgate.cli.audit import audit_app
from authgate.cli.clients import clients_app
from authgate.cli.db import db_app
from authgate.cli.keys import keys_app
from authgate.cli.secrets import secrets_app
from authgate.cli.serve import serve
from authgate.cli.sessions import sessions_app
from authgate.cli.users import users_app
from authgate.cli.vault import vault_app

__all__ = ["app", "main"]

app = typer.Typer(help="authgate: authentication for AI-agent APIs.", no_args_is_help=True)
app.command()(serve)
for group, name in (
    (secrets_app, "secrets"),
    (users_app, "users"),
    (sessions_app, "sessions"),
    (audit_app, "audit"),
    (keys_app, "keys"),
    (clients_app, "clients"),
    (agents_app, "agents"),
    (vault_app, "vault"),
    (db_app, "db"),
):
    app.add_typer(group, name=name)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def main() -> None:
    warnings.showwarning = _show_warning
    app()
