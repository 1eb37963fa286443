"""French first: a Montréal reporter whose language is unknown is written to in French (the jurisdiction's
first locale), one who wrote in English in English, and a city without French templates falls back to English."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.notifier.adapters.jurisdiction import WorkflowTexts
from services.notifier.domain.messages import compose_email, language_of
from services.notifier.domain.model import contact_of
from services.notifier.domain.notices import acknowledgement
from shared.events import CaseOpened
from shared.jurisdiction import load_jurisdiction

pytestmark = pytest.mark.usefixtures("require_shared_data")

T0 = datetime(2018, 6, 22, 14, tzinfo=UTC)


def _opened(language: str | None) -> CaseOpened:
    return CaseOpened(case_id=uuid4(), service_request_id="MONTREAL-18-000001", jurisdiction_id="montreal",
                      channel="open311", channel_message_id="tok-1", contact_key="ck",
                      description="Rats près des poubelles", requested_datetime=T0, language=language,
                      pii={"email": "resident@example.test"})


@pytest.mark.parametrize(("hint", "default", "expected"), [
    (None, "fr", "fr"), ("", "fr", "fr"), ("de", "fr", "fr"), ("en-CA", "fr", "en"), ("fr-CA", "en", "fr"),
    (None, "en", "en"), (None, "es", "en"),
])
def test_the_template_language_is_the_reporters_else_the_jurisdictions_first(hint: str | None, default: str,
                                                                             expected: str) -> None:
    assert language_of(hint, default) == expected


def test_montreal_acknowledges_a_reporter_of_unknown_language_in_french() -> None:
    texts = WorkflowTexts(load_jurisdiction("montreal"))
    assert texts.first_locale("montreal") == "fr"
    contact = contact_of(_opened(None), texts.first_locale("montreal"))
    assert contact.language == "fr"
    mail = compose_email(acknowledgement(_opened(None), contact), to_address="resident@example.test",
                         from_address="311@montreal.example", from_name="Ville de Montréal", now=T0,
                         message_id="<1@montreal.example>", in_reply_to=None)
    assert "Nous avons bien reçu votre signalement" in mail["Subject"]
    english = contact_of(_opened("en"), texts.first_locale("montreal"))
    assert english.language == "en"
