from __future__ import annotations

import pytest

from authgate.http.pages.useragents import describe

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        pytest.param(CHROME_LINUX, "Chrome 130 on Linux", id="chrome-linux"),
        pytest.param(EDGE_WINDOWS, "Edge 130 on Windows 10", id="edge-is-not-chrome"),
        pytest.param(SAFARI_IPHONE, "Mobile Safari 17 on iOS 17", id="safari-iphone"),
        pytest.param(FIREFOX_MAC, "Firefox 128 on Mac OS X 14", id="firefox-mac"),
        pytest.param("curl/8.5.0", "curl 8 on unknown system", id="curl"),
        pytest.param("pytest-agent/1.0", "pytest-agent on unknown system", id="program"),
        pytest.param("", "Unknown browser on unknown system", id="empty"),
        pytest.param(None, "Unknown browser on unknown system", id="missing"),
    ],
)
def test_sessions_show_browser_and_system(user_agent: str | None, label: str) -> None:
    assert str(describe(user_agent)) == label
