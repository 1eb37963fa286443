"""`shared.intake.follow_ups.as_its_case_says`: the case API's word on a conversation's report (open or
closed, its service), asked the same way by every conversation channel (docs/channels.md, "Conversations")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.intake import CaseApiUnavailable
from shared.intake.conversation import Thread
from shared.intake.follow_ups import as_its_case_says
from shared.open311.models import ServiceRequest

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
THREAD = Thread(report_id="m.report", last_at=T0, service_code=None)


class CaseApi:
    def __init__(self, number: str | None = "DEM-1", *, status: str = "open", service_code: str | None = "pothole",
                 error: Exception | None = None) -> None:
        self.number, self.status, self.service_code, self.error = number, status, service_code, error
        self.asked: list[tuple[str, str]] = []

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        self.asked.append((token, channel))
        if self.error is not None:
            raise self.error
        return self.number

    async def request(self, number: str, *, extensions: bool = False) -> ServiceRequest | None:
        return ServiceRequest(service_request_id=number, service_code=self.service_code, status=self.status,
                              requested_datetime=T0)


class Warnings(list[tuple[str, dict[str, Any]]]):
    def __call__(self, event: str, **fields: Any) -> None:
        self.append((event, fields))


async def test_the_case_gives_the_thread_its_service_and_number() -> None:
    api = CaseApi()
    thread, number = await as_its_case_says(THREAD, "messenger", api, warn=Warnings())  # type: ignore[arg-type]
    assert (thread.service_code, thread.open, number) == ("pothole", True, "DEM-1")
    assert api.asked == [("m.report", "messenger")]


async def test_a_closed_case_closes_the_thread_and_a_case_without_service_keeps_the_threads() -> None:
    api = CaseApi(status="closed", service_code=None)
    thread, _ = await as_its_case_says(Thread("m.r", T0, "graffiti"), "sms", api, warn=Warnings())  # type: ignore[arg-type]
    assert (thread.open, thread.service_code) == (False, "graffiti")


async def test_a_report_not_yet_a_case_is_the_thread_as_it_is() -> None:
    api = CaseApi(number=None)
    assert await as_its_case_says(THREAD, "sms", api, warn=Warnings()) == (THREAD, None)  # type: ignore[arg-type]


async def test_an_unanswering_case_api_leaves_the_thread_open_and_warns() -> None:
    warn = Warnings()
    api = CaseApi(error=CaseApiUnavailable("down"))
    assert await as_its_case_says(THREAD, "sms", api, warn=warn) == (THREAD, None)  # type: ignore[arg-type]
    assert warn == [("case_api_unanswered", {"error": "CaseApiUnavailable"})]


async def test_another_error_propagates_unless_the_channel_says_it_is_unanswered_too() -> None:
    api = CaseApi(error=KeyError("bug"))
    with pytest.raises(KeyError):
        await as_its_case_says(THREAD, "messenger", api, warn=Warnings())  # type: ignore[arg-type]
    assert await as_its_case_says(THREAD, "sms", api, warn=Warnings(),  # type: ignore[arg-type]
                                  unanswered=(Exception,)) == (THREAD, None)
