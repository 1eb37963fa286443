"""Residents' own actions beyond a report, v1: following a case, answering the satisfaction survey and
saying a help article answered their question (topic `intake.messages`, keyed by `contact_key`, produced by
intake_web's portal), and what the case service made of the first two (topic `cases.lifecycle`, keyed by
`case_id`). Contract: docs/residents-and-insights.md, "Events".
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events.case import CaseFields
from shared.events.common import Pii
from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import CASES_LIFECYCLE, INTAKE_MESSAGES

_CASE = {"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "service_request_id": "311-000123",
         "jurisdiction_id": "demo"}

NotifyChannel = Literal["email", "sms"]
"""Where a follower hears about a case."""


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_web",),
    consumers=("case",),
    example={"channel": "web", "channel_message_id": "follow-6d1f0c8a", "contact_key": "ck:3f9a1c",
             "received_at": "2025-03-14T15:09:26Z", "service_request_id": "311-000123", "notify_channel": "email",
             "language": "fr", "pii": {"email": "ann.dupont@example.org"}},
)
class FollowRequested(EventData):
    """`intake.follow_requested` v1: someone asked, on the portal, to hear about a case (any case, not only
    their own) by email or SMS. `contact_key` is the key of the address in `pii` (the same key that address
    has on its own channel); `channel_message_id` is unique per request (intake is idempotent on it)."""

    event_type = "intake.follow_requested"
    schema_version = 1

    channel: Literal["web"] = "web"
    channel_message_id: str = Field(min_length=1, max_length=200)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    service_request_id: str = Field(min_length=1, max_length=64)
    notify_channel: NotifyChannel
    language: str | None = Field(default=None, max_length=16)
    pii: Pii


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_web",),
    consumers=("case",),
    example={"channel": "web", "channel_message_id": "0b8e2f4c9d1a7e3b5f6a8c0d2e4f6a8b",
             "contact_key": "survey:0b8e2f4c9d1a7e3b5f6a8c0d2e4f6a8b",
             "received_at": "2025-03-20T09:00:00Z", "service_request_id": "311-000123", "rating": 4,
             "comment": "Fixed in two days, thank you.", "language": "en"},
)
class SurveyAnswered(EventData):
    """`intake.survey_answered` v1: a reporter's answer to the satisfaction survey sent after closure.
    `channel_message_id` is the survey token's `jti` (one answer per invitation; `shared.surveys.survey_jti`
    of the case number and the reporter's contact key); `rating` 1 (poor) to 5 (very good).
    `contact_key` is ``survey:<jti>`` (`shared.surveys.survey_contact_key`): a partition key naming the
    invitation, not the reporter, since the token holds no contact data; the case service finds the
    reporter by recomputing the `jti` of each reporter of the case."""

    event_type = "intake.survey_answered"
    schema_version = 1

    channel: Literal["web"] = "web"
    channel_message_id: str = Field(min_length=1, max_length=200)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    service_request_id: str = Field(min_length=1, max_length=64)
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    language: str | None = Field(default=None, max_length=16)


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_web",),
    consumers=("insights",),
    example={"channel": "web", "channel_message_id": "dfl-7c21", "contact_key": "web:9b2e41",
             "received_at": "2025-03-14T15:09:26Z", "article_id": "bulky-items", "service_code": "bulky-item",
             "language": "en"},
)
class HelpDeflected(EventData):
    """`intake.help_deflected` v1: a resident said a help article answered their question (a report not
    made). `contact_key` is a random key of the browser session: no personal data."""

    event_type = "intake.help_deflected"
    schema_version = 1

    channel: Literal["web"] = "web"
    channel_message_id: str = Field(min_length=1, max_length=200)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    article_id: str = Field(min_length=1, max_length=100)
    service_code: str | None = None
    language: str | None = Field(default=None, max_length=16)


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier", "insights", "webhooks"),
    example={**_CASE, "follower_contact_key": "ck:3f9a1c", "notify_channel": "email", "language": "fr",
             "pii": {"email": "ann.dupont@example.org"}},
)
class CaseFollowed(CaseFields):
    """`case.followed` v1: a new follower of the case (a follow of a merged case lands on its survivor);
    they hear every public notice the reporters hear, on `notify_channel`. Emitted once per contact key
    and case."""

    event_type = "case.followed"
    schema_version = 1

    follower_contact_key: str = Field(min_length=1)
    notify_channel: NotifyChannel
    language: str | None = None
    pii: Pii


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("insights", "webhooks"),
    example={**_CASE, "contact_key": "ck:3f9a1c", "rating": 4, "comment": "Fixed in two days, thank you.",
             "answered_at": "2025-03-20T09:00:00Z"},
)
class CaseSurveyAnswered(CaseFields):
    """`case.survey_answered` v1: a reporter answered the satisfaction survey; on the timeline too."""

    event_type = "case.survey_answered"
    schema_version = 1

    contact_key: str = Field(min_length=1)
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    answered_at: AwareDatetime
