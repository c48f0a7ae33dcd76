"""Concurrent misses for one key share one run of the work."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from proxy.cache.flight import SingleFlight


class Work:
    """A factory that counts its runs and waits at a gate the test opens."""

    def __init__(self, outcome: object | BaseException = "page") -> None:
        self.outcome = outcome
        self.gate = asyncio.Event()
        self.started = 0
        self.finished = 0

    async def __call__(self) -> object:
        self.started += 1
        await self.gate.wait()
        self.finished += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


async def until(condition: Any) -> None:
    """Let other tasks run until ``condition()`` holds (bounded, so a bug cannot hang)."""
    for _ in range(1_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def start_callers(
    flight: SingleFlight[str, object], key: str, work: Work, count: int
) -> list[asyncio.Task[object]]:
    entered = 0

    async def caller() -> object:
        nonlocal entered
        entered += 1
        return await flight.run(key, work)

    tasks = [asyncio.create_task(caller()) for _ in range(count)]
    # run() reaches its only suspension point right after entering, so all are now waiting.
    await until(lambda: entered == count)
    return tasks


async def test_concurrent_callers_share_one_run() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    result = object()
    work = Work(result)
    callers = await start_callers(flight, "/page", work, 100)
    assert "/page" in flight
    work.gate.set()
    results = await asyncio.gather(*callers)
    assert work.started == 1
    assert all(got is result for got in results)
    assert "/page" not in flight
    assert len(flight) == 0


async def test_different_keys_run_separately() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    first, second = Work("a"), Work("b")
    a = await start_callers(flight, "/a", first, 3)
    b = await start_callers(flight, "/b", second, 3)
    assert len(flight) == 2
    second.gate.set()
    assert await asyncio.gather(*b) == ["b"] * 3
    assert "/a" in flight
    first.gate.set()
    assert await asyncio.gather(*a) == ["a"] * 3
    assert (first.started, second.started) == (1, 1)


async def test_a_failure_reaches_every_caller_and_is_not_remembered() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    error = RuntimeError("upstream down")
    work = Work(error)
    callers = await start_callers(flight, "/page", work, 10)
    work.gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(outcome is error for outcome in outcomes)
    assert "/page" not in flight

    work.outcome = "recovered"
    retry = await start_callers(flight, "/page", work, 1)
    work.gate.set()
    assert await retry[0] == "recovered"
    assert work.started == 2


async def test_cancelling_one_caller_leaves_the_work_to_the_others() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("page")
    leaving, staying = await start_callers(flight, "/page", work, 2)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    work.gate.set()
    assert await staying == "page"
    assert (work.started, work.finished) == (1, 1)


async def test_work_finishes_when_every_caller_has_gone() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("page")
    callers = await start_callers(flight, "/page", work, 3)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    assert all(caller.cancelled() for caller in callers)
    assert "/page" in flight
    work.gate.set()
    await until(lambda: "/page" not in flight)
    assert work.finished == 1


async def abandon(flight: SingleFlight[str, object], work: Work) -> None:
    """Start callers for ``work`` and cancel them all; no reference to them outlives this."""
    callers = await start_callers(flight, "/page", work, 2)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)


async def test_an_abandoned_failure_is_not_reported_as_unretrieved() -> None:
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work(RuntimeError("nobody listens"))
    await abandon(flight, work)
    work.gate.set()
    await until(lambda: "/page" not in flight)
    # asyncio reports an unretrieved task exception when the task is collected.
    gc.collect()
    loop.set_exception_handler(None)
    assert work.finished == 1
    assert errors == []


async def test_a_factory_that_fails_at_once_registers_nothing() -> None:
    flight: SingleFlight[str, object] = SingleFlight()

    def broken() -> asyncio.Future[object]:
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        await flight.run("/page", broken)
    assert len(flight) == 0


async def test_aclose_cancels_running_work() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("never")
    callers = await start_callers(flight, "/page", work, 2)
    await flight.aclose()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert work.finished == 0
    assert len(flight) == 0


async def test_a_result_every_caller_walked_away_from_is_handed_over_once() -> None:
    dropped: list[object] = []
    flight: SingleFlight[str, object] = SingleFlight(abandoned=dropped.append)
    work = Work("open response")
    await abandon(flight, work)
    work.gate.set()
    await until(lambda: "/page" not in flight)
    assert dropped == ["open response"]


async def test_a_result_some_caller_stays_for_is_not_handed_over() -> None:
    dropped: list[object] = []
    flight: SingleFlight[str, object] = SingleFlight(abandoned=dropped.append)
    work = Work("open response")
    leaving, staying = await start_callers(flight, "/page", work, 2)
    leaving.cancel()
    work.gate.set()
    assert await staying == "open response"
    assert dropped == []


async def test_the_last_caller_cancelled_as_the_work_ends_hands_its_result_over() -> None:
    dropped: list[object] = []
    flight: SingleFlight[str, object] = SingleFlight(abandoned=dropped.append)
    work = Work("open response")
    [caller] = await start_callers(flight, "/page", work, 1)
    work.gate.set()
    await until(lambda: "/page" not in flight)  # done, its caller not yet woken
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert dropped == ["open response"]
