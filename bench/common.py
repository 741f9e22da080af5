"""Shared pieces: bench settings, a started Runtime, timing and statistics."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from authgate.config import Settings
from authgate.runtime import Runtime
from authgate.testing import make_settings

#: The configured (default) argon2 cost, read from Settings so the bench follows it.
ARGON2_DEFAULTS = {
    name: Settings.model_fields[name].default
    for name in ("argon2_time_cost", "argon2_memory_kib", "argon2_parallelism")
}
#: Rate limits are off: any real limit trips under a benchmark's load from one client,
#: and a limit high enough not to trip makes the moving window hold every request of
#: the window, which costs far more than a real limit does.
PASSWORD = "correct horse battery staple"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def bench_settings(state_dir: Path, **overrides: Any) -> Settings:
    """The defaults a deployment gets, with fresh secrets and rate limits off."""
    values: dict[str, Any] = {**ARGON2_DEFAULTS, "rate_limit_enabled": False}
    values.update(overrides)
    return make_settings(state_dir, **values)


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


def per_op(fn: Callable[[], object], n: int) -> float:
    """CPU seconds per call of ``fn`` over ``n`` calls, with the garbage collector paused.

    CPU time of this thread, not wall time: on a shared machine the wall clock also
    counts the time other processes held the core, which would swamp the comparison.
    """
    gc.collect()
    gc.disable()
    try:
        start = time.thread_time()
        for _ in range(n):
            fn()
        return (time.thread_time() - start) / n
    finally:
        gc.enable()


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s"
