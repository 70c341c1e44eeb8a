"""A wake-up for the timer queue that is as precise as the kernel's timers.

asyncio waits in epoll, whose timeout is in whole milliseconds, rounded up:
a packet due in 0.3 ms leaves after 1 ms, and delays come out late by up to
a millisecond, in steps an observer can measure (honeyd's 10 ms steps gave
it away). A Linux timerfd (timerfd_create(2)) armed at an absolute
CLOCK_MONOTONIC time has nanosecond resolution, and becomes readable in the
same epoll the loop already waits in; asyncio's clock is CLOCK_MONOTONIC
too, so the loop's times can be used as they are.

`Alarm.call_at` has the shape of `loop.call_at`, for `TimerQueue`, which
keeps one wake-up armed at a time. Python 3.11 has no os.timerfd_create, so
the calls go through ctypes. Where that is not possible, `make_call_at`
returns the loop's own call_at.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Armed:
    """The handle of one call_at: cancelling it stops that callback only."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Alarm:
    """One timerfd, read by the asyncio loop, calling one callback at a time."""

    def __init__(self, loop: Any, libc: Any) -> None:
        self._loop = loop
        self._settime = libc.timerfd_settime
        self._fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._armed: _Armed | None = None
        self._when = 0.0
        loop.add_reader(self._fd, self._ready)

    def call_at(self, when: float, callback: Callable[[], None]) -> _Armed:
        """Call `callback` at loop time `when`; an earlier arming is replaced."""
        armed = _Armed(callback)
        self._armed = armed
        self._when = when
        # A zero it_value disarms a timerfd; a time already past fires at once.
        when = max(when, 1e-9)
        seconds = int(when)
        value = self._spec.it_value
        value.tv_sec = seconds
        value.tv_nsec = int((when - seconds) * 1e9)
        if self._settime(self._fd, TFD_TIMER_ABSTIME, self._spec_ref, None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        return armed

    def _ready(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return  # re-armed after it fired, before the loop got to it
        armed = self._armed
        if armed is None or armed.cancelled:
            return
        if self._loop.time() < self._when:
            self.call_at(self._when, armed.callback)
            return
        self._armed = None
        armed.callback()

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


def make_call_at(loop: Any) -> Callable[[float, Callable[[], None]], Any]:
    """A precise call_at on Linux, or the loop's own elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
        return Alarm(loop, libc).call_at
    except (OSError, AttributeError) as error:
        log.info("timers at the loop's millisecond steps: %s", error)
        return loop.call_at
