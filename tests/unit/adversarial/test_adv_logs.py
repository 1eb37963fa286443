"""Trying to get a reporter's email, phone or name into a rendered log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.logs import configure_logging, get_logger, mask_pii

EMAIL, PHONE, NAME = "ann.dupont@example.org", "+16175550123", "Dupont"
SECRETS = (EMAIL, "ann.dupont", PHONE, "6175550123", "617-555-0123", "555-0123", NAME)


@pytest.fixture
def rendered() -> Iterator[Any]:
    """The services' JSON logging (configure_logging), rendered into a buffer."""
    configure_logging("test", "DEBUG", json=True)
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    try:
        yield lambda: buffer.getvalue()
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


class Contact:
    def __init__(self) -> None:
        self.email = EMAIL

    def __repr__(self) -> str:
        return f"Contact(email={EMAIL!r}, name='Ann {NAME}')"


@pytest.mark.parametrize(
    "value",
    [
        ValueError(f"SMTP refused <{EMAIL}>"),
        [ValueError(f"bad {PHONE}")],
        {EMAIL, PHONE},
        frozenset([PHONE]),
        EMAIL.encode(),
        Contact(),
    ],
    ids=["exception", "exception-in-list", "set", "frozenset", "bytes", "object"],
)
def test_values_that_are_not_json_text_are_scrubbed_before_the_renderer_reprs_them(rendered, value) -> None:  # noqa: ANN001
    get_logger("t").warning("email_failed", error=value)
    line = rendered()
    assert "email_failed" in line and not _leaks(line), line


def test_personal_values_used_as_keys_are_scrubbed() -> None:
    out = mask_pii(None, "info", {"by_recipient": {EMAIL: 1, PHONE: 2}})
    assert not _leaks(json.dumps(out))


@pytest.mark.parametrize(
    "event",
    [
        {"Email": "ann.dupont", "First_Name": "Ann", "Last_Name": NAME},
        {"contact": {"display_name": f"Ann {NAME}"}},
        {"headers": {"From": f"Ann {NAME} <{EMAIL}>"}},
    ],
    ids=["capitalised-keys", "display_name", "from-header"],
)
def test_personal_keys_are_recognised_whatever_their_case_or_spelling(event: dict) -> None:
    assert not _leaks(json.dumps(mask_pii(None, "info", event)))


@pytest.mark.parametrize(
    "text",
    [
        # What pydantic quotes in a ValidationError (a DLQ detail), and a JSON body in an error text.
        "1 validation error for Pii\n  input_value={'first_name': 'Ann', 'last_name': 'Dupont', 'phone': '6175550123'}",
        '{"pii": {"name": "Ann Dupont", "phone": "617-555-0123"}}',
        "call me at 617-555-0123 or (617) 555-0123 or +1 617 555 0123",
    ],
    ids=["pydantic-repr", "json-text", "national-phone-formats"],
)
def test_personal_values_quoted_inside_free_text_are_scrubbed(text: str) -> None:
    out = mask_pii(None, "info", {"detail": text})
    assert not _leaks(json.dumps(out)), out


def test_ids_dates_and_counts_are_left_alone() -> None:
    record = {"event_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "timestamp": "2025-03-14T15:09:26+00:00",
              "offset": 12345678901, "case": "NYC-26-000042", "result": "case 311-000123 opened",
              "window": "2025-03-14 15:09", "version": "nyc:ad05ee5f58e9142a", "count": "1234 5678"}
    assert mask_pii(None, "info", dict(record)) == record


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["a", "data", "items", 0, "detail"]), max_size=5),
       wrap=st.sampled_from(["plain", "list", "tuple", "exception", "repr-dict", "key"]),
       secret=st.sampled_from([EMAIL, PHONE, "617-555-0123"]))
def test_a_personal_value_is_scrubbed_however_deep_it_is_nested(rendered, path, wrap, secret) -> None:  # noqa: ANN001
    value: Any = {
        "plain": secret, "list": [secret], "tuple": (secret,), "exception": RuntimeError(secret),
        "repr-dict": repr({"phone": secret}), "key": {secret: True},
    }[wrap]
    for step in reversed(path):
        value = [value] if step == 0 else {step: value}
    get_logger("t").info("nested", payload=value)
    assert secret not in rendered()


def test_a_deeply_nested_value_is_cut_short_instead_of_making_the_log_call_raise(rendered) -> None:  # noqa: ANN001
    # A parsed webhook body 500 levels deep is valid JSON; the masking processor recursed past the stack
    # and the RecursionError escaped from log.info() into the caller.
    body = json.loads("[" * 500 + json.dumps({"email": EMAIL}) + "]" * 500)
    personal = json.loads('{"a":' * 500 + json.dumps(EMAIL) + "}" * 500)
    get_logger("t").info("webhook", body=body, pii=personal)
    line = rendered()
    assert "webhook" in line and EMAIL not in line
