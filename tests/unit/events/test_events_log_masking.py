"""Logs carry event and correlation ids but never a reporter's email, phone, name or address."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

from shared.events import Envelope, MessageReceived, Pii
from shared.logs import configure_logging, get_logger, mask_pii

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
EMAIL, PHONE = "ann.dupont@example.org", "+16175550123"


def email_event() -> Envelope:
    msg = MessageReceived(
        channel="email", channel_message_id="<CAF=9x@mail.gmail.com>", contact_key="ck:3f9a1c", received_at=NOW,
        description="Pothole outside my house", address="12 Main St", in_reply_to=["<ack-1@omni311.test>"],
        pii=Pii(email=EMAIL, phone=PHONE, first_name="Ann", last_name="Dupont", name="Ann Dupont"),
    )
    return Envelope.new_flow(msg, subject="ck:3f9a1c", producer="intake_email", now=NOW)


def test_mask_pii_masks_personal_values_nested_under_pii_and_keeps_ids() -> None:
    env = email_event()
    out = mask_pii(None, "info", {
        "event": "handled", "event_id": str(env.event_id), "correlation_id": str(env.correlation_id),
        "envelope": env.model_dump(mode="json"),
    })

    pii = out["envelope"]["data"]["pii"]
    for key, raw in (("email", EMAIL), ("phone", PHONE), ("first_name", "Ann"), ("last_name", "Dupont"),
                     ("name", "Ann Dupont")):
        assert pii[key] != raw and str(pii[key]).startswith("pii:"), key
    assert out["envelope"]["data"]["address"] not in (None, "12 Main St")
    assert out["event_id"] == str(env.event_id)
    assert out["correlation_id"] == str(env.correlation_id)
    assert out["envelope"]["event_id"] == str(env.event_id)
    assert out["envelope"]["data"]["contact_key"] == "ck:3f9a1c"


def test_masking_is_stable_so_that_log_lines_can_be_correlated() -> None:
    a = mask_pii(None, "info", {"pii": {"email": EMAIL}})
    b = mask_pii(None, "info", {"nested": {"pii": {"email": EMAIL}}})
    assert a["pii"]["email"] == b["nested"]["pii"]["email"]
    assert mask_pii(None, "info", {"pii": {"email": "bob@example.org"}})["pii"]["email"] != a["pii"]["email"]


def test_personal_values_inside_lists_are_masked() -> None:
    out = mask_pii(None, "info", {"recipients": [{"email": EMAIL}, {"phone": PHONE}]})
    assert EMAIL not in json.dumps(out) and PHONE not in json.dumps(out)


@pytest.fixture
def json_logs() -> Iterator[Any]:
    """The services' logging set-up (configure_logging), with the rendered lines sent to a buffer."""
    configure_logging("test", "DEBUG", json=True)
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))

    def lines() -> list[str]:
        return [line for line in buffer.getvalue().splitlines() if line.strip()]

    try:
        yield lines
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def test_a_rendered_json_log_line_of_an_email_event_contains_no_at_sign(json_logs: Any) -> None:
    env = email_event()
    structlog.contextvars.bind_contextvars(event_id=str(env.event_id), correlation_id=str(env.correlation_id))
    get_logger("t").info("handled", envelope=env.model_dump(mode="json"), pii=env.data["pii"],
                         to=EMAIL, recipient=PHONE)

    (line,) = json_logs()
    assert "@" not in line
    assert PHONE not in line and "Dupont" not in line and "12 Main St" not in line
    record = json.loads(line)
    assert record["event_id"] == str(env.event_id) and record["correlation_id"] == str(env.correlation_id)
    assert record["service"] == "test" and record["event"] == "handled"


def test_an_error_text_quoting_a_personal_value_is_scrubbed(json_logs: Any) -> None:
    """A DLQ log carries str(ValidationError), which quotes the input; an SMTP error quotes the recipient."""
    raw = json.dumps({"event_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "event_type": "case.opened",
                      "data": {"pii": {"email": EMAIL}}}).encode()
    with pytest.raises(ValidationError) as caught:
        Envelope.from_bytes(raw)
    assert "@" in str(caught.value)  # the hazard is real: pydantic quotes the input

    log = get_logger("t")
    log.error("dead_lettered", reason="unparseable_envelope", detail=str(caught.value)[:500])
    log.warning("email_failed", error=f"550 5.1.1 <{EMAIL}>: Recipient address rejected; call {PHONE}")

    lines = json_logs()
    assert len(lines) == 2
    for line in lines:
        assert "@" not in line and PHONE not in line, line
    assert "Recipient address rejected" in lines[1]


def test_an_exception_traceback_quoting_a_personal_value_is_scrubbed(json_logs: Any) -> None:
    try:
        raise ConnectionRefusedError(f"SMTP refused RCPT TO:<{EMAIL}>")
    except ConnectionRefusedError:
        get_logger("t").exception("email_failed", case_id="6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d")

    (line,) = json_logs()
    record = json.loads(line)
    assert "ConnectionRefusedError" in record["exception"]
    assert "@" not in line


def test_scrubbing_leaves_ids_times_and_plain_text_alone() -> None:
    record = {"event_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "timestamp": "2025-03-14T15:09:26+00:00",
              "offset": 12345678901, "topic": "t1.cases.lifecycle", "result": "case 311-000123 opened"}
    assert mask_pii(None, "info", dict(record)) == record
