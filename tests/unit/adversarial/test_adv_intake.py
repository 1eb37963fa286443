"""Whatever Open311 form the web intake accepts becomes an intake event that survives the bus unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake_web.domain.intake import event_id_for, message_from_post, token_for
from shared.events import Envelope, MessageReceived
from shared.open311 import InvalidPostServiceRequest, parse_post_form

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TEXT = st.text(max_size=40) | st.sampled_from(["", " ", "nan", "-0", "1e-400", "90", "-180.0", "4_0", "a@b.test",
                                                "https://x.test/a.jpg", "é" * 4000, "\x00", "\x0c"])
KEYS = st.sampled_from(["service_code", "lat", "long", "address_string", "address_id", "description", "email",
                        "phone", "first_name", "last_name", "media_url", "device_id", "account_id",
                        "attribute[DEPTH]", "attribute[KIND][]"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(pairs=st.lists(st.tuples(KEYS, TEXT), max_size=8), idempotency_key=st.none() | st.text(max_size=20))
def test_an_accepted_post_is_published_and_read_back_exactly(pairs, idempotency_key) -> None:  # noqa: ANN001
    try:
        req = parse_post_form(pairs)
    except InvalidPostServiceRequest:
        return
    token = token_for("key", idempotency_key, fresh=uuid4())
    message = message_from_post(req, token=token, client_id="key", now=NOW, language="fr")
    env = Envelope.new_flow(message, subject=message.contact_key, producer="intake_web", now=NOW,
                            event_id=event_id_for(token))
    back = Envelope.from_bytes(env.to_bytes()).payload(MessageReceived)
    assert back == message
    assert "\x00" not in back.description and (back.lat is None) == (back.long is None)
