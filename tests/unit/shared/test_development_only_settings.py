"""Development-only switches never reach production: downloading media from private and loopback addresses
(the local fakes of `make run`) is refused by the settings themselves when OMNI311_ENVIRONMENT=production,
not only by run.sh."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake_social.config import SocialSettings
from services.intake_sms_voice.config import TwilioSettings
from shared.settings import Settings

SWITCHES = [(TwilioSettings, "OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE", "media_allow_private"),
            (SocialSettings, "OMNI311_META_MEDIA_ALLOW_PRIVATE", "meta_media_allow_private")]
SECRETS = ["OMNI311_TWILIO_AUTH_TOKEN", "OMNI311_META_APP_SECRET", "OMNI311_SURVEY_SECRET"]


@pytest.mark.parametrize(("settings", "variable", "field"), SWITCHES)
def test_production_refuses_private_media_downloads_and_names_the_variable(
        settings: type, variable: str, field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    monkeypatch.setenv(variable, "true")
    for name in SECRETS:
        monkeypatch.setenv(name, "s3cr3t-of-the-city-" + "x" * 20)
    with pytest.raises(ValidationError, match=f"{variable}=true") as refused:
        settings()
    assert "s3cr3t" not in str(refused.value)  # the refusal, printed at start-up, shows no secret


def test_a_refused_shared_setting_prints_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="OMNI311_PORTAL_FORM_SECRET") as refused:
        Settings(environment="production", survey_secret="s3cr3t-of-the-city-" + "x" * 20)
    assert "s3cr3t" not in str(refused.value)


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
