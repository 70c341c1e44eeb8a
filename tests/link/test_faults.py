import random

import pytest

from vnet.link.faults import FaultPlan, FaultSpecError, parse_faults


def test_a_netem_like_spec_parses():
    plan = parse_faults("loss=5%,reorder=10%,delay=20ms,duplicate=1%")

    assert plan == FaultPlan(loss=0.05, duplicate=0.01, reorder=0.1, delay=0.02)


@pytest.mark.parametrize("text", ["loss=120%", "jitter=1ms", "delay=fast", "loss"])
def test_bad_specs_are_refused(text):
    with pytest.raises(FaultSpecError):
        parse_faults(text)


def test_fates_follow_the_plan_in_proportion():
    plan = FaultPlan(loss=0.1, reorder=0.2, delay=0.05, duplicate=0.1)
    rng = random.Random(3)
    fates = [plan.fates(rng) for _ in range(20_000)]

    lost = sum(not fate for fate in fates) / len(fates)
    doubled = sum(len(fate) == 2 for fate in fates) / len(fates)
    kept = [fate[0] for fate in fates if fate]
    early = sum(delay == 0 for delay in kept) / len(kept)
    assert 0.09 < lost < 0.11
    assert 0.08 < doubled < 0.11
    assert 0.18 < early < 0.22
    assert set(kept) == {0.0, 0.05}
