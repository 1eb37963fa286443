"""Fixtures of the notifier's handler tests: an in-memory store, what was sent, the handler table."""

from __future__ import annotations

from typing import Any

import pytest
from notifier_fakes import FakeNotifierRepository, Sent, table_for

from support.uow import FakeStore


@pytest.fixture
def store() -> FakeStore[FakeNotifierRepository]:
    return FakeStore(FakeNotifierRepository(), "notifier")


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def table(store: FakeStore[FakeNotifierRepository], sent: Sent) -> Any:
    return table_for(store, sent)
