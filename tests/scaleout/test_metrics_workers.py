"""``/metrics`` with ``--workers 2`` answers for every worker (issue 20 item 6).

prometheus-client's multiprocess mode, with PROMETHEUS_MULTIPROC_DIR managed by `serve`:
each worker writes its samples to a file there, and any scrape sums them all.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD
from tests.scaleout.infra import Server

pytestmark = pytest.mark.e2e

LOGINS = 6


def successful_logins(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "authgate_logins_total" and sample.labels["outcome"] == "success":
                return float(sample.value)
    return 0.0


def test_every_scrape_counts_the_logins_of_both_workers(
    shared_env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    env = {**shared_env, "AUTHGATE_LOG_LEVEL": "info"}
    server = Server(env=env, log=tmp_path / "workers.log", workers=2)
    servers.append(server)
    # Two workers import and start in parallel: allow for a busy machine.
    server.start(wait=False).wait_ready(timeout=120)
    body = {"email": "ada@example.com", "password": PASSWORD}
    assert httpx.post(f"{server.url}/auth/register", json=body, timeout=10).status_code == 201
    for _ in range(LOGINS):
        # A new connection each time, so the kernel spreads them over the workers.
        assert httpx.post(f"{server.url}/auth/login", json=body, timeout=10).status_code == 200
    scrapes = [httpx.get(f"{server.url}/metrics", timeout=10) for _ in range(LOGINS)]
    assert all(scrape.status_code == 200 for scrape in scrapes)
    assert [successful_logins(scrape.text) for scrape in scrapes] == [LOGINS] * LOGINS
