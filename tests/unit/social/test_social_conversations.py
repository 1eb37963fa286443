"""Conversations on Messenger, Instagram and WhatsApp Cloud through the webhook handler, with fakes for the
conversations table, the case API and the publisher (docs/channels.md, "Conversations"): after a report,
"ok thanks" is recorded on it without a reply and "it's getting bigger..." joins it; "NEW ..." opens a new
report, as does a text after the window or after the case closed; a case API that cannot answer means the
text joins. Plus the kinds that are not messages: unsupported items are kept raw, announced and listed to
supervisors only; an unsent message is withdrawn, never a case."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.intake_social.app import create_app
from services.intake_social.config import SocialSettings
from services.intake_social.domain.meta import MetaAccounts
from services.intake_social.domain.outcomes import Outcome, contact_key
from services.intake_social.entrypoints.meta import WEBHOOK_PATH
from services.intake_social.service_layer.webhooks import Place, WebhookDeps, receive_delivery
from shared.auth import Role
from shared.events import Envelope, MessageReceived, MessageUnsupported, MessageWithdrawn
from shared.intake.conversation import services_named
from shared.jurisdiction import load_jurisdiction
from social_fakes import FakeCaseApi, FakeConversations, FakeMedia, FakeUnsupported

SECRET = b"conversation-secret"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PAGE = "1234567890"
SENDER = "24681357"
DAY = timedelta(hours=24)


class Harness:
    """The handler's dependencies as fakes, and what was published and reported."""

    def __init__(self, window_s: float = DAY.total_seconds(), language: str = "en") -> None:
        self.published: list[Envelope] = []
        self.reported: list[Outcome] = []
        self.conversations = FakeConversations()
        self.unsupported = FakeUnsupported()
        self.case_api = FakeCaseApi()
        jur = load_jurisdiction("demo")
        keywords = [(s.service_code, k.text) for s in jur.services for ks in s.keywords.values() for k in ks]

        async def publish(env: Envelope) -> None:
            self.published.append(env)

        self.deps = WebhookDeps(app_secret=SECRET, accounts=MetaAccounts(), publish=publish,
                                report=self.reported.append, conversations=self.conversations,
                                unsupported=self.unsupported, case_api=self.case_api,
                                place=Place(contains=jur.contains,
                                            names_service=lambda text: services_named(text, keywords),
                                            language=language),
                                window_s=window_s)

    async def deliver(self, payload: dict[str, Any], at: datetime) -> dict[str, int]:
        body = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        return (await receive_delivery(body, sig, self.deps, at)).counts

    def last(self) -> MessageReceived:
        return self.published[-1].payload(MessageReceived)


def messenger(mid: str, text: str | None = None, *, obj: str = "page", at: datetime = T0,
              **message: Any) -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    body = {"mid": mid, **message} | ({"text": text} if text is not None else {})
    return {"object": obj, "entry": [{"id": PAGE, "time": ms, "messaging": [{
        "sender": {"id": SENDER}, "recipient": {"id": PAGE}, "timestamp": ms, "message": body}]}]}


def whatsapp(wamid: str, message: dict[str, Any], at: datetime = T0) -> dict[str, Any]:
    m = {"from": "16135550100", "id": wamid, "timestamp": str(int(at.timestamp()))} | message
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "99"}, "messages": [m]}}]}]}


REPORT = "Huge pothole in front of 110 Laurier Ave W, cars swerve around it"


@pytest.fixture
async def reported() -> Harness:
    """A Messenger report already made (m.report), its case DEM-1 open."""
    h = Harness()
    await h.deliver(messenger("m.report", REPORT), T0)
    h.case_api.cases[("messenger", "m.report")] = "DEM-1"
    return h


async def test_the_first_message_is_a_report_and_starts_the_conversation(reported: Harness) -> None:
    m = reported.last()
    assert m.description == REPORT and m.in_reply_to == [] and "conversation" not in m.attributes
    assert reported.conversations.threads[(contact_key("messenger", SENDER), "messenger")].report_id == "m.report"


async def test_ok_thanks_after_a_report_is_recorded_on_it_as_thanks(reported: Harness) -> None:
    await reported.deliver(messenger("m.thanks", "ok thanks"), T0 + timedelta(minutes=3))
    m = reported.last()
    assert m.in_reply_to == ["m.report"] and m.attributes["conversation"] == "thanks"
    assert m.description == "ok thanks"


async def test_its_getting_bigger_after_a_report_joins_it(reported: Harness) -> None:
    await reported.deliver(messenger("m.bigger", "it's getting bigger, a car lost a tyre in it"),
                           T0 + timedelta(hours=5))
    m = reported.last()
    assert m.in_reply_to == ["m.report"] and m.attributes["conversation"] == "follow_up"
    assert m.description == "it's getting bigger, a car lost a tyre in it"
    # the window now counts from this message
    thread = reported.conversations.threads[(contact_key("messenger", SENDER), "messenger")]
    assert thread.report_id == "m.report" and thread.last_at == T0 + timedelta(hours=5)


async def test_new_opens_a_new_report_and_the_conversation_moves_to_it(reported: Harness) -> None:
    await reported.deliver(messenger("m.new", "NEW graffiti on the library wall"), T0 + timedelta(minutes=10))
    m = reported.last()
    assert m.in_reply_to == [] and "conversation" not in m.attributes
    assert m.description == "graffiti on the library wall"
    await reported.deliver(messenger("m.after", "ok thanks"), T0 + timedelta(minutes=11))
    assert reported.last().in_reply_to == ["m.new"]


async def test_after_the_window_a_text_is_a_new_report(reported: Harness) -> None:
    await reported.deliver(messenger("m.late", "it's getting bigger"), T0 + DAY + timedelta(minutes=1))
    m = reported.last()
    assert m.in_reply_to == [] and "conversation" not in m.attributes


async def test_the_window_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI311_SOCIAL_CONVERSATION_WINDOW_S", "3600")
    assert SocialSettings().conversation_window_s == 3600
    h = Harness(window_s=SocialSettings().conversation_window_s)
    await h.deliver(messenger("m.r", REPORT), T0)
    await h.deliver(messenger("m.2h", "still there"), T0 + timedelta(hours=2))
    assert h.last().in_reply_to == []


async def test_after_the_case_closed_a_text_is_a_new_report(reported: Harness) -> None:
    reported.case_api.closed.add("DEM-1")
    await reported.deliver(messenger("m.again", "it's back, same hole"), T0 + timedelta(hours=1))
    assert reported.last().in_reply_to == []


async def test_when_the_case_api_cannot_answer_the_text_joins(reported: Harness) -> None:
    reported.case_api.down = True
    await reported.deliver(messenger("m.down", "it's getting bigger"), T0 + timedelta(hours=1))
    assert reported.last().in_reply_to == ["m.report"]


async def test_a_report_not_yet_a_case_is_still_open(reported: Harness) -> None:
    reported.case_api.cases.clear()
    await reported.deliver(messenger("m.soon", "and it's deep"), T0 + timedelta(seconds=5))
    assert reported.last().in_reply_to == ["m.report"]


async def test_a_text_naming_another_service_at_a_place_of_its_own_is_a_new_report(reported: Harness) -> None:
    await reported.deliver(messenger("m.other", "graffiti on the wall at 50 Elgin St",
                                     attachments=[{"type": "location", "payload": {
                                         "coordinates": {"lat": 45.4231, "long": -75.6953}}}]),
                           T0 + timedelta(minutes=30))
    assert reported.last().in_reply_to == []


async def test_a_location_sent_after_the_report_answers_where_it_is(reported: Harness) -> None:
    # Our own input: the acknowledgement asked where the problem is; the resident shares a pin.
    await reported.deliver(messenger("m.pin", attachments=[{"type": "location", "payload": {
        "coordinates": {"lat": 45.4215, "long": -75.6972}}}]), T0 + timedelta(minutes=2))
    m = reported.last()
    assert m.in_reply_to == ["m.report"] and (m.lat, m.long) == (45.4215, -75.6972)
    assert m.attributes["completes_location_of"] == "m.report"  # the case service places a case without a point
    await reported.deliver(messenger("m.words", "it's getting bigger"), T0 + timedelta(minutes=3))
    assert "completes_location_of" not in reported.last().attributes


async def test_an_address_typed_after_the_report_answers_where_it_is(reported: Harness) -> None:
    # The acknowledgement of a chat case without a place asks "Where is it? Reply with the address...": a
    # typed answer is that place, for the case service to give a case that has none.
    await reported.deliver(messenger("m.typed", "it is at 88 Pine St"), T0 + timedelta(minutes=2))
    m = reported.last()
    assert m.in_reply_to == ["m.report"] and m.address == "88 Pine St"
    assert m.attributes["completes_location_of"] == "m.report"


async def test_the_reports_own_problem_named_at_its_place_joins_it_as_the_case_api_says(reported: Harness) -> None:
    # Our own input: a Messenger report carries no service code (the router gives it one), so the thread
    # alone cannot tell that "the pothole" is the report's own problem; the case API says the case is a
    # pothole. Before, this text opened a second case without asking (SMS asked; Meta channels did not).
    await reported.deliver(messenger("m.same", "the pothole at 110 Laurier Ave W is getting deeper"),
                           T0 + timedelta(minutes=20))
    m = reported.last()
    assert m.in_reply_to == ["m.report"] and m.attributes["conversation"] == "follow_up"
    assert reported.case_api.asked == ["m.report"]


async def test_another_problem_typed_at_a_place_of_its_own_is_a_new_report(reported: Harness) -> None:
    await reported.deliver(messenger("m.graffiti", "also graffiti on the wall at 50 Elgin St"),
                           T0 + timedelta(minutes=30))
    assert reported.last().in_reply_to == []


async def test_meta_sending_the_report_again_keeps_it_a_report(reported: Harness) -> None:
    # Our own input: Meta retries a delivery it did not see answered; the report must not reply to itself.
    await reported.deliver(messenger("m.report", REPORT), T0 + timedelta(seconds=30))
    m = reported.last()
    assert m.channel_message_id == "m.report" and m.in_reply_to == []


async def test_a_whatsapp_contact_card_after_a_report_joins_it() -> None:
    h = Harness()
    await h.deliver(whatsapp("wamid.R", {"type": "text", "text": {"body": "Water leaking from the ceiling of the "
                                                                           "lobby, 200 Kent St"}}), T0)
    card = {"name": {"formatted_name": "Marc Tremblay"}, "phones": [{"phone": "+1 613 555 0142", "type": "WORK"}]}
    await h.deliver(whatsapp("wamid.C", {"type": "contacts", "contacts": [card]}), T0 + timedelta(minutes=1))
    m = h.last()
    assert m.in_reply_to == ["wamid.R"] and m.attributes["conversation"] == "follow_up"
    assert m.description == "Contact: Marc Tremblay\nPhone: +1 613 555 0142 (WORK)"
    assert m.attributes["shared_contact"] == {"cards": 1}


async def test_channels_keep_their_own_conversations(reported: Harness) -> None:
    await reported.deliver(messenger("ig.1", "ok thanks", obj="instagram"), T0 + timedelta(minutes=1))
    assert reported.last().in_reply_to == []  # the same page-scoped id on Instagram is another contact


async def test_an_unsupported_kind_is_kept_raw_announced_and_counted_once() -> None:
    h = Harness()
    payload = whatsapp("wamid.ORDER", {"type": "order", "order": {"catalog_id": "1", "product_items": []}})
    assert await h.deliver(payload, T0) == {"unsupported": 1}
    assert await h.deliver(payload, T0 + timedelta(seconds=20)) == {"unsupported": 1}  # Meta's retry
    (row,) = h.unsupported.rows.values()
    assert (row["channel"], row["message_id"], row["kind"]) == ("whatsapp", "wamid.ORDER", "order")
    assert row["raw"]["order"] == {"catalog_id": "1", "product_items": []}
    assert {e.event_type for e in h.published} == {MessageUnsupported.event_type}
    assert len({e.event_id for e in h.published}) == 1
    u = h.published[0].payload(MessageUnsupported)
    assert u.kind == "order" and u.contact_key == contact_key("whatsapp", "16135550100")
    assert h.conversations.threads == {}, "not a report: no conversation starts"


async def test_an_unsent_message_is_withdrawn_and_opens_nothing(reported: Harness) -> None:
    before = dict(reported.conversations.threads)
    assert await reported.deliver(messenger("m.report", is_deleted=True, obj="page"),
                                  T0 + timedelta(minutes=1)) == {"withdrawn": 1}
    env = reported.published[-1]
    assert env.event_type == MessageWithdrawn.event_type
    assert env.payload(MessageWithdrawn).channel_message_id == "m.report"
    assert reported.conversations.threads == before


async def test_problems_lists_the_kept_items_to_supervisors_only(test_issuer: Any) -> None:
    unsupported = FakeUnsupported()

    async def publish(_env: Envelope) -> None:
        return None

    social = SocialSettings(meta_app_secret=SECRET.decode(), meta_page_ids=[], mastodon_api_base_url=None)
    app = create_app(test_issuer.settings(topic_prefix="unit."), social=social, publish=publish,
                     case_api=FakeCaseApi(), conversations=FakeConversations(), unsupported=unsupported,
                     media=FakeMedia())
    body = json.dumps(messenger("m.poll", attachments=[{"type": "poll", "payload": {"question": "?"}}])).encode()
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://social.test") as c:
        r = await c.post(WEBHOOK_PATH, content=body, headers={"X-Hub-Signature-256": sig})
        assert r.status_code == 200 and r.json()["received"] == {"unsupported": 1}
        assert (await c.get("/problems")).status_code == 401
        assert (await c.get("/problems", headers=test_issuer.headers(Role.DEPARTMENT_STAFF))).status_code == 403
        ok = await c.get("/problems", headers=test_issuer.headers(Role.SUPERVISOR))
        assert ok.status_code == 200
        (item,) = ok.json()
        assert (item["channel"], item["message_id"], item["kind"]) == ("messenger", "m.poll", "poll")
        assert item["raw"]["message"]["attachments"][0]["type"] == "poll"
        assert (await c.get("/problems", params={"limit": 0},
                            headers=test_issuer.headers(Role.ADMINISTRATOR))).status_code == 422
        metrics = (await c.get("/metrics")).text
    assert 'kind="unsupported",reason="poll",source="meta"} 1.0' in metrics


# --- the README walk: language, written places and "NEW" on a chat report ------------------------------------


@pytest.mark.parametrize("obj", ["page", "instagram"])
async def test_a_french_chat_report_is_published_in_french(obj: str) -> None:
    h = Harness()
    await h.deliver(messenger("m.fr", "Nid-de-poule devant le 12 rue Elm", obj=obj), T0)
    assert h.last().language == "fr", "the acknowledgement is written in the report's language"


async def test_a_chat_report_that_shows_no_language_is_in_the_jurisdictions_first_locale() -> None:
    h = Harness(language="fr")
    await h.deliver(messenger("m.none", "12"), T0)
    assert h.last().language == "fr"
    await h.deliver(whatsapp("wamid.en", {"type": "text", "text": {"body": "The street light is out"}}), T0)
    assert h.last().language == "en"


@pytest.mark.parametrize("payload", [
    messenger("m.bench", "Broken bench at 1 Elm Street"),
    messenger("m.bench", "Broken bench at 1 Elm Street", obj="instagram"),
    whatsapp("wamid.bench", {"type": "text", "text": {"body": "Broken bench at 1 Elm Street"}}),
], ids=["messenger", "instagram", "whatsapp"])
async def test_a_chat_report_that_writes_its_place_carries_it_as_its_address(payload: dict[str, Any]) -> None:
    # The notifier asks "Where is it?" only when the opened case has neither point nor address; the router
    # places a written address (docs/judgement.md, "Places from words").
    h = Harness()
    await h.deliver(payload, T0)
    m = h.last()
    assert m.address == "1 Elm Street" and m.lat is None
    assert m.description == "Broken bench at 1 Elm Street"


async def test_a_chat_report_without_a_written_place_has_no_address() -> None:
    h = Harness()
    await h.deliver(messenger("m.vague", "There is a broken bench"), T0)
    assert h.last().address is None


async def test_a_written_place_does_not_replace_a_shared_point() -> None:
    h = Harness()
    pin = {"type": "location", "payload": {"coordinates": {"lat": 45.4215, "long": -75.6972}}}
    await h.deliver(messenger("m.pin", "Broken bench at 1 Elm Street", attachments=[pin]), T0)
    m = h.last()
    assert (m.lat, m.long) == (45.4215, -75.6972) and m.address is None


async def test_new_on_a_first_chat_report_is_removed_and_its_place_read_without_it() -> None:
    h = Harness()
    await h.deliver(messenger("m.first", "NEW pothole at 3 Elm Street"), T0)
    m = h.last()
    assert m.description == "pothole at 3 Elm Street" and m.address == "3 Elm Street"
    assert m.in_reply_to == [] and "conversation" not in m.attributes


async def test_a_follow_up_batched_before_its_report_still_joins_it() -> None:
    # Meta batches messages without promising their order: the follow-up sent a second after the report came
    # first in the delivery, was read first, and opened a case of its own.
    h = Harness()
    report = messenger("m.first", REPORT, at=T0)
    follow = messenger("m.second", "it's getting bigger", at=T0 + timedelta(seconds=1))
    report["entry"] = follow["entry"] + report["entry"]
    await h.deliver(report, T0 + timedelta(seconds=2))
    first, second = (e.payload(MessageReceived) for e in h.published)
    assert (first.channel_message_id, first.in_reply_to) == ("m.first", [])
    assert (second.channel_message_id, second.in_reply_to) == ("m.second", ["m.first"])
