"""Shared fixtures. Each test module builds its own workbooks; only truly shared pieces live here."""

from __future__ import annotations

import pytest

from coop_batch.rules import Rules, load_rules


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules(2016)
