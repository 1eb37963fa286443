"""The one exponential backoff of every retry loop (shared.retry)."""

from __future__ import annotations

import pytest

from shared.retry import exponential_delay_s


def test_the_delay_doubles_from_the_base_up_to_the_maximum() -> None:
    assert [exponential_delay_s(a, 30, 3600) for a in (1, 2, 3, 7, 8, 50, 10_000)] == [
        30, 60, 120, 1920, 3600, 3600, 3600]
    assert exponential_delay_s(3, 0.2, 10.0) == pytest.approx(0.8)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        exponential_delay_s(0, 30, 3600)
