from vnet.timers import COMPACT_AT, TimerQueue


class FakeLoop:
    """Records call_at requests; the test fires them by hand."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def call_at(self, when, callback):
        call = Call(when, callback)
        self.calls.append(call)
        return call

    def advance(self, to):
        self.now = to
        due = [call for call in self.calls if call.when <= to and not call.cancelled]
        self.calls = [call for call in self.calls if call not in due]
        for call in due:
            call.callback()


class Call:
    def __init__(self, when, callback):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self):
        self.cancelled = True


class Sleeper:
    def __init__(self, deadline):
        self.deadline = deadline
        self.scheduled = None
        self.woken = []

    def on_deadline(self, now):
        self.woken.append(now)
        self.deadline = None


def make_queue():
    loop = FakeLoop()
    queue = TimerQueue(loop.call_at)
    queue.bind_clock(lambda: loop.now)
    return loop, queue


def test_sleepers_wake_in_deadline_order_at_their_time():
    loop, queue = make_queue()
    late, early = Sleeper(5.0), Sleeper(2.0)
    queue.watch(late)
    queue.watch(early)

    loop.advance(2.0)
    assert early.woken == [2.0] and late.woken == []
    loop.advance(5.0)
    assert late.woken == [5.0]


def test_a_deadline_moved_later_is_not_woken_early():
    loop, queue = make_queue()
    sleeper = Sleeper(1.0)
    queue.watch(sleeper)
    sleeper.deadline = 3.0

    loop.advance(1.0)
    assert sleeper.woken == []
    loop.advance(3.0)
    assert sleeper.woken == [3.0]


def test_only_one_loop_callback_is_pending():
    loop, queue = make_queue()
    for deadline in (9.0, 7.0, 5.0, 3.0, 1.0):
        queue.watch(Sleeper(deadline))

    pending = [call for call in loop.calls if not call.cancelled]
    assert [call.when for call in pending] == [1.0]


def test_an_earlier_deadline_replaces_the_entry_and_later_ones_add_none():
    loop, queue = make_queue()
    sleeper = Sleeper(10.0)
    queue.watch(sleeper)
    for deadline in (11.0, 12.0, 13.0):
        sleeper.deadline = deadline
        queue.watch(sleeper)
    assert len(queue) == 1

    sleeper.deadline = 4.0
    queue.watch(sleeper)
    loop.advance(4.0)
    loop.advance(10.0)

    assert sleeper.woken == [4.0]


def test_stale_entries_of_many_sleepers_are_dropped_before_they_pile_up():
    loop, queue = make_queue()
    sleepers = [Sleeper(7200.0) for _ in range(COMPACT_AT)]
    for sleeper in sleepers:
        queue.watch(sleeper)
    # Each deadline moves earlier three times, as a connection's do.
    for deadline in (60.0, 30.0, 20.0):
        for sleeper in sleepers:
            sleeper.deadline = deadline
            queue.watch(sleeper)

    assert len(queue) <= 2 * len(sleepers)
    loop.advance(20.0)
    assert all(sleeper.woken == [20.0] for sleeper in sleepers)
    loop.advance(7200.0)
    assert all(len(sleeper.woken) == 1 for sleeper in sleepers)
    assert len(queue) == 0


def test_after_runs_once_per_wake_up():
    loop, queue = make_queue()
    sleeper, follow_ups = Sleeper(2.0), []
    queue.watch(sleeper, follow_ups.append)

    loop.advance(2.0)

    assert follow_ups == [2.0]


def test_a_sleeper_without_deadline_costs_nothing():
    loop, queue = make_queue()
    queue.watch(Sleeper(None))

    assert len(queue) == 0 and loop.calls == []
