"""The timerfd wake-up: on time, in place of the loop's millisecond steps."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from vnet.network.alarm import Alarm, make_call_at
from vnet.timers import TimerQueue


class Sleeper:
    def __init__(self, loop):
        self.loop = loop
        self.scheduled = None
        self.deadline = None
        self.woken: list[float] = []
        self.done: asyncio.Future | None = None

    def on_deadline(self, now):
        self.woken.append(self.loop.time() - self.deadline)
        self.deadline = None
        self.done.set_result(None)


async def lateness(call_at, loop, count=40):
    queue = TimerQueue(call_at)
    queue.bind_clock(loop.time)
    sleeper = Sleeper(loop)
    for index in range(count):
        sleeper.done = loop.create_future()
        # Fractions of a millisecond: what epoll's whole milliseconds round up.
        sleeper.deadline = loop.time() + 0.002 + (index % 10) * 0.0001
        queue.watch(sleeper)
        await asyncio.wait_for(sleeper.done, 1)
    return sleeper.woken


def test_a_timerfd_is_used_on_linux():
    async def main():
        return make_call_at(asyncio.get_running_loop())

    call_at = asyncio.run(main())
    assert isinstance(call_at.__self__, Alarm)


def test_wakes_never_early_and_closer_than_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        precise = await lateness(make_call_at(loop), loop)
        plain = await lateness(loop.call_at, loop)
        return precise, plain

    precise, plain = asyncio.run(main())
    assert min(precise) >= 0.0
    # The loop rounds each wait up to a whole millisecond: half a millisecond
    # late in the median. The timerfd is far closer, even on a busy machine.
    assert statistics.median(precise) < statistics.median(plain)
    assert statistics.median(precise) < 0.0004


def test_a_replaced_arming_does_not_fire():
    async def main():
        loop = asyncio.get_running_loop()
        call_at = make_call_at(loop)
        fired = []
        first = call_at(loop.time() + 0.005, lambda: fired.append("first"))
        first.cancel()
        call_at(loop.time() + 0.010, lambda: fired.append("second"))
        await asyncio.sleep(0.05)
        return fired

    assert asyncio.run(main()) == ["second"]


def test_a_time_already_past_fires_at_once():
    async def main():
        loop = asyncio.get_running_loop()
        call_at = make_call_at(loop)
        fired = loop.create_future()
        call_at(loop.time() - 1.0, lambda: fired.set_result(loop.time()))
        return await asyncio.wait_for(fired, 0.5)

    assert asyncio.run(main()) > 0


@pytest.mark.parametrize("when", [0.0])
def test_time_zero_still_arms(when):
    async def main():
        loop = asyncio.get_running_loop()
        fired = loop.create_future()
        make_call_at(loop)(when, lambda: fired.set_result(True))
        return await asyncio.wait_for(fired, 0.5)

    assert asyncio.run(main())
