"""The access log (issue 18.4): one JSON line per request, redacted, through any logging."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.access_log import ACCESS_LOGGER
from authgate.logconfig import JsonFormatter, RedactingFilter

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """authgate's JSON handler (as log_config builds it) writing into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("authgate")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield buffer
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


async def _get(app: FastAPI, *paths: str) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5150))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in paths:
            await client.get(path)
    await asyncio.sleep(0)  # lines are written once per turn of the event loop


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == ACCESS_LOGGER]


async def test_each_request_is_one_json_line(app: FastAPI, json_log: io.StringIO) -> None:
    await _get(app, "/healthz", "/nowhere")
    first, second = _lines(json_log)
    assert first["message"] == '203.0.113.9:5150 - "GET /healthz HTTP/1.1" 200'
    assert second["message"] == '203.0.113.9:5150 - "GET /nowhere HTTP/1.1" 404'
    assert first["level"] == "info"
    assert first["time"].endswith("+00:00")
    assert first.keys() == {"time", "level", "logger", "message"}


@pytest.mark.parametrize(
    ("path", "leak"),
    [
        pytest.param("/auth/me?access_token=abc.def.ghi", "abc.def.ghi", id="query-string"),
        pytest.param(f"/api/{JWT}", JWT, id="jwt-in-path"),
        pytest.param("/api/token=s3cr3t-value", "s3cr3t-value", id="param-in-path"),
        pytest.param("/api/x%20Bearer%20s3cr3tbearer", "s3cr3tbearer", id="bearer-in-path"),
        pytest.param('/api/code:"s3cr3tcode"', "s3cr3tcode", id="quoted-code"),
    ],
)
async def test_secrets_in_the_request_line_are_redacted(
    app: FastAPI, json_log: io.StringIO, path: str, leak: str
) -> None:
    await _get(app, path)
    (line,) = _lines(json_log)
    assert leak not in json_log.getvalue()
    assert line["message"].startswith('203.0.113.9:5150 - "GET /')


async def test_unusual_characters_stay_valid_json(app: FastAPI, json_log: io.StringIO) -> None:
    await _get(app, '/api/"quoted"\\back/ünïcode')
    (line,) = _lines(json_log)
    assert '"quoted"\\back/ünïcode' in line["message"]


async def test_any_other_logging_setup_gets_ordinary_records(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await _get(app, "/healthz?token=abc")
    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [r.getMessage() for r in records] == ['203.0.113.9:5150 - "GET /healthz HTTP/1.1" 200']


async def test_nothing_is_logged_above_info(app: FastAPI, json_log: io.StringIO) -> None:
    logging.getLogger("authgate").setLevel(logging.WARNING)
    await _get(app, "/healthz")
    assert _lines(json_log) == []


async def test_remembered_checks_never_let_a_secret_through(
    app: FastAPI, json_log: io.StringIO
) -> None:
    """Paths and peers are checked once and remembered: a secret path is redacted every
    time it comes, before and after plain ones (OWASP ASVS V16)."""
    await _get(app, "/healthz", f"/api/{JWT}", "/healthz", f"/api/{JWT}", "/api/token=s3cr3t")
    lines = _lines(json_log)
    assert len(lines) == 5
    assert JWT not in json_log.getvalue()
    assert "s3cr3t" not in json_log.getvalue()
    assert lines[0]["message"] == lines[2]["message"]
    assert lines[1]["message"] == lines[3]["message"]
