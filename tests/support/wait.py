"""`eventually`: poll a condition until it holds or a deadline passes (docs/architecture.md, house rule 9)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2,
                     what: str = "condition") -> Any:
    """Return the first truthy result of `check()` (sync or async) within `timeout` seconds.

    Raises `AssertionError` naming `what` and the last value or error when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last = result
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s; last: {last!r}")
        await asyncio.sleep(interval)
