"""Fixtures for the personality tests: the installed nmap database."""

from __future__ import annotations

import pytest

from vnet.personality import Database, load


@pytest.fixture(scope="session")
def database() -> Database:
    """nmap 7.93's nmap-os-db, as installed by scripts/install-tools."""
    return load()
