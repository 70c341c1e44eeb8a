"""`vnet personality` and the presets: selection is exact, errors suggest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vnet.personalities import presets, resolve


def vnet(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vnet", "personality", *arguments],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_at_least_ten_presets_span_the_families():
    found = presets()
    families = {resolve(name)[0].classes[0].family for name in found}

    assert len(found) >= 10
    assert {"Windows", "Linux", "FreeBSD", "OpenBSD", "IOS"} <= families
    device_types = {
        os_class.device_type for name in found for os_class in resolve(name)[0].classes
    }
    assert {"printer", "game console", "broadband router"} <= device_types


@pytest.mark.parametrize("name", sorted(presets()))
def test_every_preset_selects_exactly_one_fingerprint(name):
    fingerprint, preset = resolve(name)

    assert preset is not None and fingerprint.name == preset.fingerprint.split("#")[0]


def test_search_lists_selectors_and_presets():
    result = vnet("search", "OpenBSD 4.3")

    assert "preset  openbsd-4" in result.stdout
    assert "OpenBSD 4.3#1" in result.stdout and "OpenBSD 4.3#8" in result.stdout


def test_show_prints_the_tests_and_the_chosen_behaviour():
    result = vnet("show", "windows-2000-sp4")

    assert result.returncode == 0, result.stderr
    assert "Fingerprint Microsoft Windows 2000 SP4" in result.stdout
    assert "  SEQ(" in result.stdout and "chosen behaviour" in result.stdout


def test_check_prints_every_attribute_nmap_compares():
    result = vnet("check", "Linux 3.2 - 4.9")

    assert "SEQ.SP" in result.stdout and "IE.CD" in result.stdout
    assert "an exact match needs all" in result.stdout


def test_an_ambiguous_name_is_refused_with_the_choices():
    result = vnet("show", "OpenBSD 4.3")

    assert result.returncode == 2
    assert "OpenBSD 4.3#1" in result.stderr and "Traceback" not in result.stderr


def test_a_name_is_never_matched_by_substring():
    result = vnet("show", "OpenBSD")

    assert result.returncode == 2
