"""A live authgate server on a free loopback port and a Chromium to drive it.

Shared by the browser tests and ``make screenshots``. The server runs uvicorn in a
thread, so tests keep the app's FrozenClock; the browser is Debian's Chromium, never a
Playwright download.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Playwright

from authgate.http.app import create_app
from authgate.runtime import Runtime
from authgate.testing import FrozenClock, make_settings
from tests.processes import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
T = TypeVar("T")


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    clock: FrozenClock
    loop: asyncio.AbstractEventLoop

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.authgate
        return runtime

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's own event loop (its engine lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=20)


@contextmanager
def live_server(
    state_dir: Path, *, port: int | None = None, **overrides: Any
) -> Iterator[LiveServer]:
    """Serve a fresh app over real HTTP until the block ends."""
    clock = FrozenClock()
    app = create_app(make_settings(state_dir, **overrides), clock=clock)
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name=f"authgate-{port}")
    thread.daemon = True
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the authgate test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, clock, loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
