"""Production refuses the public development secrets; development keeps working with them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_development_runs_on_the_default_secrets() -> None:
    assert Settings(environment="development").survey_secret


def test_production_refuses_default_or_short_secrets_and_names_them() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment="production", portal_form_secret="x" * 40)
    assert "OMNI311_SURVEY_SECRET" in str(refused.value) and "OMNI311_PORTAL_FORM_SECRET" not in str(refused.value)
    with pytest.raises(ValidationError, match="OMNI311_PORTAL_FORM_SECRET"):
        Settings(environment="production", survey_secret="s" * 40, portal_form_secret="short")


def test_production_with_secrets_of_its_own_starts() -> None:
    s = Settings(environment="production", survey_secret="s" * 40, portal_form_secret="f" * 40)
    assert s.environment == "production"
