"""Development-only switches never reach production: downloading media from private and loopback addresses
(the local fakes of `make run`) is refused by the settings themselves when OMNI311_ENVIRONMENT=production,
not only by run.sh."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake_social.config import SocialSettings
from services.intake_sms_voice.config import TwilioSettings

SWITCHES = [(TwilioSettings, "OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE", "media_allow_private"),
            (SocialSettings, "OMNI311_META_MEDIA_ALLOW_PRIVATE", "meta_media_allow_private")]


@pytest.mark.parametrize(("settings", "variable", "field"), SWITCHES)
def test_production_refuses_private_media_downloads_and_names_the_variable(
        settings: type, variable: str, field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    monkeypatch.setenv(variable, "true")
    with pytest.raises(ValidationError, match=f"{variable}=true"):
        settings()


@pytest.mark.parametrize(("settings", "variable", "field"), SWITCHES)
def test_production_without_the_switch_and_development_with_it_start(
        settings: type, variable: str, field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    monkeypatch.setenv(variable, "false")
    assert getattr(settings(), field) is False
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "development")
    monkeypatch.setenv(variable, "true")
    assert getattr(settings(), field) is True
    monkeypatch.delenv("OMNI311_ENVIRONMENT")
    assert getattr(settings(), field) is True
