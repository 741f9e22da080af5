from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.browser.live import CHROMIUM, LiveServer, free_port, launch_chromium, live_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser is marked ``browser`` (``pytest -m browser``)."""
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


# Module scope, not session: while Playwright's sync API is open its event loop counts as
# running in this thread, and an asyncio test scheduled next on the same xdist worker
# could not start its own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def server_options() -> dict[str, Any]:
    """Settings overrides for the live server; a test module can override this fixture."""
    return {}


@pytest.fixture
def server_port() -> int:
    """The live server's port, known before it starts (for redirect URIs in settings)."""
    return free_port()


@pytest.fixture
def server(
    tmp_path: Path, server_port: int, server_options: dict[str, Any]
) -> Iterator[LiveServer]:
    with live_server(tmp_path, port=server_port, **server_options) as live:
        yield live


class ContextFactory(Protocol):
    def __call__(self, **options: Any) -> BrowserContext: ...


@contextmanager
def watched_contexts(browser: Browser, base_url: str) -> Iterator[ContextFactory]:
    """Fresh browser profiles (separate cookie jars) on ``base_url``, closed at the end;
    CSP violations fail the test. For the in-thread server and for ``authgate serve``."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        # An error status on the page itself is logged too; CSP refusals and a missing
        # stylesheet are what break a page.
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "/static/" in text):
            problems.append(text)

    def factory(**options: Any) -> BrowserContext:
        context = browser.new_context(**{"base_url": base_url, **options})
        context.set_default_timeout(10_000)
        context.on("console", watch)
        contexts.append(context)
        return context

    try:
        yield factory
    finally:
        for context in contexts:
            context.close()
    assert problems == [], f"browser console errors: {problems}"


@pytest.fixture
def new_context(browser: Browser, server: LiveServer) -> Iterator[ContextFactory]:
    with watched_contexts(browser, server.url) as factory:
        yield factory


@pytest.fixture
def page(new_context: ContextFactory) -> Page:
    return new_context().new_page()
