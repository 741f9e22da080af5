"""Browser and operating system names from a User-Agent header, for the sessions list.

Uses ``ua-parser`` (the uap-core rules, refreshed monthly as ``ua-parser-builtins``)
rather than a hand-written matcher: telling Edge from Chrome, iPadOS from macOS or
Samsung Internet from Chrome is a moving target that a data set tracks better.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

__all__ = ["DeviceLabel", "describe"]

_UNKNOWN_BROWSER = "Unknown browser"
_UNKNOWN_OS = "unknown system"


@dataclass(frozen=True, slots=True)
class DeviceLabel:
    browser: str
    os: str

    def __str__(self) -> str:
        return f"{self.browser} on {self.os}"


@lru_cache(maxsize=1024)
def describe(user_agent: str | None) -> DeviceLabel:
    """``DeviceLabel("Chrome 130", "Linux")``; a client that is not a browser keeps its name."""
    if not user_agent:
        return DeviceLabel(_UNKNOWN_BROWSER, _UNKNOWN_OS)
    result = parse(user_agent)
    browser = _UNKNOWN_BROWSER
    if result.user_agent is not None:
        browser = _with_major(result.user_agent.family, result.user_agent.major)
    elif "/" in user_agent:  # "pytest-agent/1.0", "curl/8.5": name the program
        browser = user_agent.split("/", 1)[0][:40]
    system = _UNKNOWN_OS
    if result.os is not None:
        system = _with_major(result.os.family, result.os.major)
    return DeviceLabel(browser, system)


def _with_major(family: str, major: str | None) -> str:
    return f"{family} {major}" if major else family
