"""The survey engine: its thread starts and ends, every wait is bounded, the memo fetches once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mailspec.survey.engine import SILENT_AFTER, Engine, EngineError


def survey_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mailspec-survey"]


def test_start_proves_the_loop_runs_and_close_ends_the_thread() -> None:
    before = len(survey_threads())
    engine = Engine().start()
    assert engine.running
    assert engine.run(asyncio.sleep(0, result=42), timeout=10) == 42
    engine.close()
    assert not engine.running
    assert len(survey_threads()) == before
    engine.close()  # idempotent


def test_close_cancels_what_is_in_flight() -> None:
    engine = Engine().start()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    loop_future = asyncio.run_coroutine_threadsafe(forever(), engine._loop)  # type: ignore[arg-type]
    while not loop_future.running() and not cancelled.is_set():
        if engine.run(asyncio.sleep(0.01), timeout=10) is None:
            break
    engine.close()
    assert cancelled.wait(10), "close() left a task running"


def test_a_wait_is_bounded() -> None:
    with Engine() as engine, pytest.raises(EngineError, match=r"did not finish within 0\.1 s"):
        engine.run(asyncio.sleep(3600), timeout=0.1)


def test_run_before_start_or_after_close_says_so() -> None:
    engine = Engine()
    with pytest.raises(EngineError, match="not running"):
        engine.run(asyncio.sleep(0), timeout=1)
    engine.start().close()
    with pytest.raises(EngineError):
        engine.start()


def test_the_memo_makes_a_value_once_whoever_asks() -> None:
    made: list[str] = []

    async def make() -> str:
        made.append("x")
        await asyncio.sleep(0.01)
        return "value"

    async def ask(engine: Engine) -> list[str]:
        return list(await asyncio.gather(*(engine.memo("kind", "key", make) for _ in range(10))))

    with Engine() as engine:
        assert engine.run(ask(engine), timeout=10) == ["value"] * 10
        assert engine.run(ask(engine), timeout=10) == ["value"] * 10
        assert made == ["x"]
        assert engine.memoised("kind") == 1
        assert engine.memoised("other") == 0


def test_a_caller_that_stops_waiting_does_not_cancel_the_work_for_others() -> None:
    async def make() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def go(engine: Engine) -> str:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(engine.memo("k", 1, make), 0.001)
        return await engine.memo("k", 1, make)

    with Engine() as engine:
        assert engine.run(go(engine), timeout=10) == "done"


def test_a_host_is_silent_only_after_timeouts_and_never_once_it_answered() -> None:
    async def go(engine: Engine) -> tuple[bool, bool, bool]:
        udp = engine.host("192.0.2.1").over("dns-udp")
        udp.timeouts = SILENT_AFTER - 1
        first = udp.silent
        udp.timeouts = SILENT_AFTER
        second = udp.silent
        udp.answered = 1  # a rate limiter answers some questions: never taken for a dead server
        return first, second, udp.silent

    with Engine() as engine:
        assert engine.run(go(engine), timeout=10) == (False, True, False)


def test_each_use_of_a_host_has_its_own_slot_and_each_channel_its_liveness() -> None:
    async def go(engine: Engine) -> tuple[int, int, bool]:
        host = engine.host("192.0.2.1")
        dns_slot, smtp_slot = host.slot("dns", 10), host.slot("smtp", 2)
        assert host.slot("dns", 99) is dns_slot  # sized once, by its first use
        async with smtp_slot, smtp_slot:
            busy = smtp_slot.locked()
        host.over("dns-tcp").timeouts = SILENT_AFTER  # channels are apart: TCP silence is not UDP's
        tcp_silent = engine.host("192.0.2.1").over("dns-tcp").silent and not host.over("dns-udp").silent
        return dns_slot._value, smtp_slot._value, busy and tcp_silent

    with Engine() as engine:
        assert engine.run(go(engine), timeout=10) == (10, 2, True)
