"""Structured JSON logs for authgate and uvicorn, with secrets scrubbed on the way out.

Nothing authgate logs on purpose holds a secret; the redaction filter is the second line
(OWASP ASVS V16): JWT-shaped strings, ``Bearer`` credentials and sensitive query or form
parameters are replaced wherever they appear, and access-log lines never carry a query
string (``?access_token=`` is refused, but the request line would still be logged).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "RedactingFilter", "log_config", "redact", "resolve_log_format"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_PARAMS = re.compile(
    r"(?i)\b(password|passwd|secret|client_secret|token|access_token|refresh_token|"
    r"refreshToken|accessToken|code|code_verifier|state|id_token)"
    r"(\"?\s*[=:]\s*\"?)([^&\s\"',;]+)"
)
# LogRecord attributes that are not user-supplied extras.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


def redact(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _JWT.sub("[redacted-jwt]", text)
    return _PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


class RedactingFilter(logging.Filter):
    """Scrub every record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            args = list(record.args)
            if len(args) >= 3 and isinstance(args[2], str):
                args[2] = args[2].split("?", 1)[0]  # the path, never the query
            record.args = tuple(args)
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: no values
        return json.dumps(entry, ensure_ascii=False)


def resolve_log_format(fmt: str, *, env: str, tty: bool) -> str:
    """``auto`` is text for a person at a terminal in development, JSON for collectors."""
    if fmt != "auto":
        return fmt
    return "text" if tty and env == "development" else "json"


def log_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for authgate and uvicorn (``uvicorn.run(log_config=)``)."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactingFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level, "propagate": False}
            for name in ("authgate", "uvicorn", "uvicorn.error", "uvicorn.access")
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
