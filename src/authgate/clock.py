"""Time as an injectable dependency: components take a ``Clock`` so tests can freeze it."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "system_clock"]

#: Seconds since the epoch, as ``time.time`` returns them.
Clock = Callable[[], float]

system_clock: Clock = time.time
