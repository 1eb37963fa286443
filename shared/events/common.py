"""Parts shared by the events of several contexts: the reporter's personal data and the channel names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["open311", "web", "email", "sms", "voice", "phone", "whatsapp", "messenger", "instagram", "mastodon"]
MessagingChannel = Literal["sms", "whatsapp"]
Status = Literal["open", "closed"]


class Pii(BaseModel):
    """Personal data of a reporter: every field here is masked in logs and listed as PII in the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None

    def is_empty(self) -> bool:
        """True when no personal value is set."""
        return not any(self.model_dump().values())
