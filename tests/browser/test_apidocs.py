"""``/docs`` renders in Chromium with the network cut off (issue 20 item 12).

Every request that is not to the live server is aborted, as on a machine without
internet; the docs page's CSP must let the local assets run (the console is watched).
"""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import ContextFactory
from tests.browser.live import LiveServer


def offline(context: BrowserContext, server: LiveServer, refused: list[str]) -> Page:
    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    return context.new_page()


def test_swagger_ui_renders_the_operations_offline(
    new_context: ContextFactory, server: LiveServer
) -> None:
    refused: list[str] = []
    page = offline(new_context(), server, refused)
    page.goto("/docs")
    expect(page.locator(".opblock-summary-path", has_text="/auth/login").first).to_be_visible()
    assert refused == []
