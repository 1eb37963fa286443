"""Time-ordered train/test splits: a model is measured only on records newer than any it learned from."""

from __future__ import annotations

from collections.abc import Iterable

from shared.records.record import ReplayRecord

__all__ = ["time_ordered_split"]


def time_ordered_split(
    records: Iterable[ReplayRecord], test_share: float = 0.2
) -> tuple[list[ReplayRecord], list[ReplayRecord]]:
    """``(train, test)``: records sorted by ``requested_datetime``, then ``position``, then input order;
    the newest ``round(n * test_share)`` records are the test set (at least one each side when n >= 2).

    Raises:
        ValueError: ``test_share`` not strictly between 0 and 1.
    """
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    ordered = [r for _, r in sorted(enumerate(records), key=lambda item: (item[1].requested_datetime,
                                                                             item[1].position, item[0]))]
    if len(ordered) < 2:
        return ordered, []
    n_test = min(max(round(len(ordered) * test_share), 1), len(ordered) - 1)
    return ordered[:-n_test], ordered[-n_test:]
