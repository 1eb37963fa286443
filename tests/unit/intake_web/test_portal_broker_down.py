"""A report the broker does not take: 503 with the form again, the resident's text kept, a "try again in a
moment" alert in their language and ``Retry-After``; nothing counts as accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka.errors import KafkaTimeoutError

from portal_fakes import NOW, Portal
from services.intake_web.domain.portal import form_token
from shared.events import Envelope

REPORT = {"service_code": "pothole", "attribute[size]": "large", "description": "Un trou profond devant l'école",
          "lat": "45.4216", "long": "-75.6973", "notify": "none", "website": ""}


@pytest.mark.parametrize(("lang", "alert"), [("en", "please try again in a moment"),
                                             ("fr", "veuillez réessayer dans un moment")])
async def test_a_report_the_broker_does_not_take_is_503_with_the_text_kept(lang: str, alert: str) -> None:
    p = Portal()

    async def down(env: Envelope) -> None:
        raise KafkaTimeoutError()

    p.publisher.publish = down  # type: ignore[method-assign]
    p.now = NOW + timedelta(seconds=10)
    async with p.web as web:
        r = await web.post("/report", data={**REPORT, "form_token": form_token(p.settings.portal_form_secret, NOW)},
                           headers={"accept-language": lang})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert alert in r.text and "Un trou profond devant l&#39;école" in r.text
    assert 'id="form-notice"' in r.text
