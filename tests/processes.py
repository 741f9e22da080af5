"""Helpers for tests that start real processes: free loopback ports, the authgate command."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def authgate_command() -> list[str]:
    """The installed ``authgate`` script of this interpreter, or the module behind it."""
    script = Path(sys.executable).with_name("authgate")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from authgate.cli import main; main()"]
