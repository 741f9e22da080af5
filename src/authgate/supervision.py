"""Supervised background tasks: nothing a server runs in the background stops silently.

    supervisor = Supervisor(on_failure=metrics.on_task_failure)
    supervisor.supervise("revocation-poller", poll_forever, staleness=30)
    ...
    supervisor.unhealthy()      # names of tasks that missed their staleness bound
    await supervisor.stop("revocation-poller")   # one task, for good
    await supervisor.close()                     # every task

A runner is ``async def run(beat: Heartbeat) -> None`` that loops for ever and calls
``beat()`` whenever it has done its job once (one poll, one loop turn). When it raises,
or returns, the supervisor logs the exception's type (never its message: SQL errors
carry statement parameters), calls ``on_failure(name)`` and starts it again after an
exponential backoff. A task that has not beaten for longer than its ``staleness`` is
reported by ``unhealthy()`` (readiness fails) and, being hung or dead, is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "Heartbeat", "Runner", "SupervisedTask", "Supervisor", "describe"]

logger = logging.getLogger("authgate.supervision")

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Heartbeat:
    """What a runner calls to say it is alive and doing its job."""

    def __init__(self, clock: Monotonic) -> None:
        self._clock = clock
        self.last = clock()

    def __call__(self) -> None:
        self.last = self._clock()


Runner = Callable[[Heartbeat], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between restarts: ``initial`` doubling up to ``maximum``, with 10 % jitter."""

    initial: float = 0.5
    maximum: float = 10.0

    def delay(self, consecutive_failures: int) -> float:
        base = min(self.maximum, self.initial * 2.0 ** max(0, consecutive_failures - 1))
        # Jitter, so instances restarted by the same outage do not retry in lockstep.
        return base * random.uniform(0.9, 1.1)  # noqa: S311 - not a secret


@dataclass(slots=True)
class SupervisedTask:
    name: str
    runner: Runner
    staleness: float
    backoff: Backoff
    heartbeat: Heartbeat
    failures: int = 0
    consecutive: int = 0
    last_error: str | None = None
    run_started: float = 0.0
    running: bool = False
    stalled: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def stale(self, now: float) -> bool:
        """No beat within the bound: the task is not doing its job (readiness fails)."""
        return now - self.heartbeat.last > self.staleness

    def hung(self, now: float) -> bool:
        """The current run has neither beaten nor ended within the bound."""
        return now - max(self.heartbeat.last, self.run_started) > self.staleness


def describe(exc: BaseException) -> str:
    """The exception's type and its causes' types, e.g. ``DBAPIError <- CannotConnectNowError``."""
    names = [type(exc).__name__]
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen and len(names) < 4:
        seen.add(id(cause))
        names.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(names)


class Supervisor:
    def __init__(
        self,
        *,
        on_failure: Callable[[str], None] | None = None,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        watch_interval: float = 1.0,
    ) -> None:
        self._on_failure = on_failure
        self._clock = clock
        self._sleep = sleep
        self._watch_interval = watch_interval
        self._tasks: dict[str, SupervisedTask] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def tasks(self) -> dict[str, SupervisedTask]:
        return dict(self._tasks)

    def supervise(
        self, name: str, runner: Runner, *, staleness: float, backoff: Backoff | None = None
    ) -> SupervisedTask:
        """Run ``runner`` for ever under ``name``; a second task of one name is refused."""
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        if staleness <= 0:
            raise ValueError("staleness must be positive")
        beat = Heartbeat(self._clock)
        entry = SupervisedTask(name, runner, staleness, backoff or Backoff(), beat)
        self._tasks[name] = entry
        entry.task = asyncio.create_task(self._keep_running(entry), name=f"authgate-{name}")
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="authgate-watchdog")
        return entry

    def unhealthy(self) -> list[str]:
        """Tasks that have not beaten within their staleness bound."""
        now = self._clock()
        return sorted(name for name, entry in self._tasks.items() if entry.stale(now))

    def states(self) -> dict[str, str]:
        now = self._clock()
        return {name: "stale" if e.stale(now) else "ok" for name, e in sorted(self._tasks.items())}

    async def stop(self, name: str) -> None:
        """Stop one task for good (its owner is closing); unknown names are ignored."""
        entry = self._tasks.pop(name, None)
        if entry is None or entry.task is None:
            return
        entry.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(entry.task, timeout=5)

    async def close(self) -> None:
        self._closing = True
        pending = [e.task for e in self._tasks.values() if e.task is not None]
        if self._watchdog is not None:
            pending.append(self._watchdog)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)

    async def _keep_running(self, entry: SupervisedTask) -> None:
        while not self._closing:
            started = entry.run_started = self._clock()
            entry.running = True
            try:
                await entry.runner(entry.heartbeat)
                error = "returned"
            except asyncio.CancelledError:
                if self._closing or not entry.stalled:
                    raise
                # The watchdog cancelled a hung run; this loop goes on.
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                error = "stalled"
            except Exception as exc:
                error = describe(exc)
            finally:
                entry.running = entry.stalled = False
            if self._closing:
                return
            await self._sleep(self._after_failure(entry, error, started))

    def _after_failure(self, entry: SupervisedTask, error: str, started: float) -> float:
        entry.failures += 1
        # A run that beat after it started made progress: the backoff starts over.
        entry.consecutive = 1 if entry.heartbeat.last >= started else entry.consecutive + 1
        entry.last_error = error
        delay = entry.backoff.delay(entry.consecutive)
        logger.warning(
            "background task %s failed (%s); restarting in %.1f s", entry.name, error, delay
        )
        if self._on_failure is not None:
            self._on_failure(entry.name)
        return delay

    async def _watch(self) -> None:
        """Cancel a run that stopped beating; its loop restarts it (a hang heals too)."""
        while not self._closing:
            await self._sleep(self._watch_interval)
            now = self._clock()
            for entry in self._tasks.values():
                if entry.running and not entry.stalled and entry.hung(now) and entry.task:
                    entry.stalled = True
                    entry.task.cancel()
