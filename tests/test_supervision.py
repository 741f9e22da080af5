"""Supervised background tasks: failures are logged and counted, the task restarts with
backoff, a task that stops beating fails readiness, and a hung run is restarted.

Time is injected: a manual monotonic clock, and a ``sleep`` that advances it and yields.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from authgate.supervision import Backoff, Heartbeat, Runner, Supervisor, describe

WATCH = 0.25  # the watchdog's period, told apart from backoff delays below


class ManualTime:
    """A monotonic clock that moves only in ``advance``, waking the sleepers it passes."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self.now + seconds, waiter))
        await waiter

    async def advance(self, seconds: float, step: float = 0.25) -> None:
        target = self.now + seconds
        while self.now < target:
            self.now = min(target, self.now + step)
            due = [w for w in self._waiters if w[0] <= self.now]
            self._waiters = [w for w in self._waiters if w[0] > self.now]
            for _, waiter in due:
                if not waiter.done():
                    waiter.set_result(None)
            await _turns(10)


@pytest.fixture
def clock() -> ManualTime:
    return ManualTime()


@pytest.fixture
async def supervisor(clock: ManualTime) -> AsyncIterator[tuple[Supervisor, list[str]]]:
    failures: list[str] = []
    sup = Supervisor(
        on_failure=failures.append, clock=clock, sleep=clock.sleep, watch_interval=WATCH
    )
    yield sup, failures
    await sup.close()


async def _turns(n: int = 50) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_failing_task_is_logged_counted_and_restarted_with_backoff(
    supervisor: tuple[Supervisor, list[str]],
    clock: ManualTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup, failures = supervisor
    runs = 0

    async def flaky(beat: Heartbeat) -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError("password=hunter2 in a driver message")
        beat()
        await asyncio.Event().wait()

    with caplog.at_level(logging.WARNING, logger="authgate.supervision"):
        sup.supervise("flaky", flaky, staleness=30, backoff=Backoff(initial=1, maximum=8))
        await clock.advance(10)
    assert runs == 4
    assert failures == ["flaky"] * 3
    backoffs = [s for s in clock.sleeps if s != WATCH]
    assert [round(s) for s in backoffs] == [1, 2, 4]  # doubling, with jitter
    assert "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text, "exception messages are never logged"
    assert sup.unhealthy() == []


async def test_a_task_that_returns_is_restarted(
    supervisor: tuple[Supervisor, list[str]], clock: ManualTime
) -> None:
    sup, failures = supervisor
    runs = 0

    async def quits(beat: Heartbeat) -> None:
        nonlocal runs
        runs += 1
        beat()
        if runs > 2:
            await asyncio.Event().wait()

    sup.supervise("quits", quits, staleness=30)
    await clock.advance(5)
    assert runs == 3
    assert failures == ["quits", "quits"]
    assert sup.tasks["quits"].last_error == "returned"


async def test_a_task_down_longer_than_its_staleness_fails_readiness_then_heals(
    supervisor: tuple[Supervisor, list[str]], clock: ManualTime
) -> None:
    sup, _ = supervisor
    broken = True
    beats = asyncio.Event()

    async def feed(beat: Heartbeat) -> None:
        if broken:
            raise ConnectionError("down")
        beat()
        beats.set()
        await asyncio.Event().wait()

    sup.supervise("feed", feed, staleness=10, backoff=Backoff(initial=1, maximum=2))
    await clock.advance(5)
    assert sup.unhealthy() == [], "within its bound a restarting task is still fine"
    await clock.advance(6)
    assert sup.unhealthy() == ["feed"]
    assert sup.states() == {"feed": "stale"}
    broken = False
    await clock.advance(3)
    assert beats.is_set()
    assert sup.unhealthy() == []


async def test_a_hung_run_is_cancelled_and_restarted(
    supervisor: tuple[Supervisor, list[str]], clock: ManualTime
) -> None:
    sup, failures = supervisor
    runs = 0
    second = asyncio.Event()

    async def hangs(beat: Heartbeat) -> None:
        nonlocal runs
        runs += 1
        beat()
        if runs == 2:
            second.set()
        await asyncio.Event().wait()  # never beats again

    sup.supervise("hangs", hangs, staleness=5)
    await clock.advance(4)
    assert runs == 1, "within its bound a quiet run is left alone"
    await clock.advance(3)
    assert second.is_set()
    assert failures == ["hangs"]
    assert sup.tasks["hangs"].last_error == "stalled"


async def test_close_stops_every_task(clock: ManualTime) -> None:
    sup = Supervisor(clock=clock, sleep=clock.sleep)
    cancelled = asyncio.Event()

    async def forever(beat: Heartbeat) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    entry = sup.supervise("forever", forever, staleness=5)
    await _turns(3)
    await sup.close()
    assert cancelled.is_set()
    assert entry.task is not None
    assert entry.task.done()


async def test_stop_ends_one_task_for_good(
    supervisor: tuple[Supervisor, list[str]], clock: ManualTime
) -> None:
    sup, failures = supervisor
    runs: Counter[str] = Counter()

    def idle(name: str) -> Runner:
        async def run(beat: Heartbeat) -> None:
            runs[name] += 1
            await asyncio.Event().wait()  # hangs: the watchdog restarts it

        return run

    sup.supervise("a", idle("a"), staleness=5)
    sup.supervise("b", idle("b"), staleness=5)
    await clock.advance(1)
    await sup.stop("a")
    await sup.stop("unknown")
    await clock.advance(30)
    assert "a" not in sup.tasks
    assert runs["a"] == 1
    assert runs["b"] > 1
    assert set(failures) == {"b"}


def test_one_name_is_supervised_once() -> None:
    async def main() -> None:
        sup = Supervisor()

        async def idle(beat: Heartbeat) -> None:
            await asyncio.Event().wait()

        sup.supervise("x", idle, staleness=1)
        with pytest.raises(ValueError, match="already supervised"):
            sup.supervise("x", idle, staleness=1)
        await sup.close()

    asyncio.run(main())


def test_describe_names_types_and_causes_only() -> None:
    exc = RuntimeError("wrapped secret")
    exc.__cause__ = ConnectionRefusedError(111, "secret-host refused")
    assert describe(exc) == "RuntimeError <- ConnectionRefusedError"
