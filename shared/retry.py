"""Pure retry arithmetic shared by every loop that tries again after a failure (forwarder sends, webhook
deliveries, Kafka consumer handlers). No I/O, no clock, no randomness: jitter is applied by the caller."""

from __future__ import annotations

__all__ = ["exponential_delay_s"]


def exponential_delay_s(attempt: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (from 1): ``base_s × 2^(attempt−1)``, at most
    `max_s` (the exponent is bounded, so a huge `attempt` gives `max_s`, never an overflow). Raises
    `ValueError` for `attempt` < 1."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return min(max_s, base_s * 2 ** min(attempt - 1, 62))
