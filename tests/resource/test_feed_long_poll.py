"""``GET /oauth2/revocations?wait=N``, the long poll, against a real ``authgate serve``.

A poll answers as soon as there is news; a reader that hangs up ends its poll at once,
so nothing is held for it and a server told to stop is not kept waiting for an answer
nobody will read (uvicorn lets in-flight requests finish before it exits).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.resource.stack import Authgate, authgate

RESOURCE = "http://127.0.0.1:9/notes"
LONG = 25  # AUTHGATE_REVOCATION_FEED_MAX_WAIT's default: the longest poll there is


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Authgate]:
    with authgate(tmp_path, resources=[RESOURCE]) as running:
        yield running


def _cursor(server: Authgate, reader: tuple[str, str]) -> int:
    response = httpx.get(f"{server.url}/oauth2/revocations", params={"after": 0}, auth=reader)
    assert response.status_code == 200, response.text
    return int(response.json()["cursor"])


def test_a_long_poll_answers_as_soon_as_a_revocation_lands(server: Authgate) -> None:
    reader = server.resource_client()
    server.register("ada@example.com")
    agent = server.agent("ada@example.com", "notes:read")
    token = server.token(agent, RESOURCE)
    cursor = _cursor(server, reader)
    answer: list[httpx.Response] = []

    def poll() -> None:
        params = {"after": cursor, "wait": LONG}
        url = f"{server.url}/oauth2/revocations"
        answer.append(httpx.get(url, params=params, auth=reader, timeout=LONG + 10))

    polling = threading.Thread(target=poll)
    polling.start()
    time.sleep(0.5)  # the poll is waiting
    server.revoke(agent, token)
    polling.join(timeout=LONG + 15)
    [response] = answer
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cursor"] > cursor
    assert body["events"], body


def test_a_reader_that_hung_up_does_not_hold_the_server_when_it_stops(
    server: Authgate,
) -> None:
    reader = server.resource_client()
    cursor = _cursor(server, reader)
    with pytest.raises(httpx.ReadTimeout):  # the reader gives up and closes its connection
        httpx.get(
            f"{server.url}/oauth2/revocations",
            params={"after": cursor, "wait": LONG},
            auth=reader,
            timeout=httpx.Timeout(10, read=0.5),
        )
    process = server.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    try:
        # Well before the hung-up poll's own end: the poll ended when its reader left.
        # (uvicorn re-raises the signal once it has shut down: -15 is a clean stop.)
        assert process.wait(timeout=LONG / 2) in (0, -signal.SIGTERM)
    except subprocess.TimeoutExpired:
        pytest.fail("authgate serve kept waiting for a poll whose reader had hung up")
    server.process = None
