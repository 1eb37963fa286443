"""The simulator's webhooks are what the services accept from the real providers: a Twilio form signed
for its public URL passes intake_sms_voice's own signature check and parses as an inbound text; a Meta
delivery signed with the app secret passes intake_social's check and parses as one message per channel;
the voice menu's TwiML is walked by its Gather and Record elements."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.intake_sms_voice.adapters.signature import parse_form, signature_valid
from services.intake_sms_voice.domain.inbound import parse_inbound
from services.intake_social.domain import signature as meta_signature
from services.intake_social.domain.meta import MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import Inbound
from tools.simulate import payloads
from tools.simulate.stack import Stack

TOKEN = "devonly0123456789abcdef"
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def _form_bytes(params: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(params).encode()


def test_a_simulated_sms_is_signed_as_twilio_signs_and_reads_as_the_residents_text() -> None:
    params = payloads.twilio_message(account_sid="AC" + "0" * 32, sender="+15145550123", to="+15005550006",
                                     body="Pothole at 100 Elm Street — deep")
    url = "http://127.0.0.1:8086/twilio/sms"
    signature = payloads.twilio_signature(TOKEN, url, params)
    form = parse_form(_form_bytes(params))

    assert signature_valid(TOKEN, url, signature=signature, form=form, body=_form_bytes(params))
    assert not signature_valid(TOKEN, "http://127.0.0.1:8086/twilio/whatsapp", signature=signature, form=form,
                               body=_form_bytes(params))
    assert not signature_valid("another-token", url, signature=signature, form=form, body=_form_bytes(params))
    msg = parse_inbound(form.first())
    assert (msg.channel, msg.body, msg.to, msg.media) == ("sms", "Pothole at 100 Elm Street — deep", "+15005550006", ())
    assert msg.message_sid.startswith("SM") and len(msg.message_sid) == 34


def test_an_mms_carries_its_media_and_a_whatsapp_message_its_prefix() -> None:
    mms = payloads.twilio_message(account_sid="AC1", sender="+15145550123", to="+15005550006", body="look",
                                  media=[("http://127.0.0.1:8091/m/ME1", "image/jpeg")])
    msg = parse_inbound(mms)
    assert msg.message_sid.startswith("MM") and [(m.url, m.content_type) for m in msg.media] == [
        ("http://127.0.0.1:8091/m/ME1", "image/jpeg")]
    wa = payloads.twilio_message(account_sid="AC1", sender="+15145550124", to="+15005550006", body="hi",
                                 whatsapp=True)
    assert (wa["From"], wa["To"]) == ("whatsapp:+15145550124", "whatsapp:+15005550006")
    assert parse_inbound(wa).channel == "whatsapp"


def test_meta_deliveries_are_signed_over_their_exact_bytes_and_read_as_one_message_each() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    deliveries = {
        "messenger": payloads.messenger_delivery(platform="page", account_id="200", sender_id="600", text="Pothole été",
                                                 now_ms=now_ms),
        "instagram": payloads.messenger_delivery(platform="instagram", account_id="300", sender_id="700",
                                                 text="Pothole", now_ms=now_ms, image_url="https://x.test/p.jpg"),
        "whatsapp": payloads.whatsapp_delivery(phone_number_id="100", display_number="+15005550006",
                                               wa_id="15145550125", name="Sam", text="Bin", now_s=now_ms // 1000),
    }
    for channel, payload in deliveries.items():
        body = payloads.meta_body(payload)
        assert body.isascii() and json.loads(body) == payload
        assert meta_signature.verify(b"app-secret", body, payloads.meta_signature("app-secret", body))
        assert not meta_signature.verify(b"app-secret", body + b" ", payloads.meta_signature("app-secret", body))
        outcomes = parse_delivery(payload, accounts=MetaAccounts(), now=NOW)
        assert [type(o) for o in outcomes] == [Inbound], (channel, outcomes)
        assert outcomes[0].message.channel == channel


def test_the_voice_menu_is_walked_by_its_gather_and_record_elements() -> None:
    gather = ('<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="http://h/twilio/voice/language?a=1&amp;b=2"'
              ' input="dtmf speech" method="POST"><Say language="en-US">For English, press 1.</Say></Gather></Response>')
    record = ('<Response><Say>Describe it.</Say><Record action="http://h/twilio/voice/recorded?s=x" '
              'transcribeCallback="http://h/twilio/voice/transcription?s=x" '
              'recordingStatusCallback="http://h/twilio/voice/recording?s=x"/><Redirect>x</Redirect></Response>')
    assert payloads.next_step(gather) == payloads.Step("gather", "http://h/twilio/voice/language?a=1&b=2",
                                                       "dtmf speech", said="For English, press 1.")
    step = payloads.next_step(record)
    assert (step.kind, step.action, step.transcribe_callback, step.recording_callback) == (
        "record", "http://h/twilio/voice/recorded?s=x", "http://h/twilio/voice/transcription?s=x",
        "http://h/twilio/voice/recording?s=x")
    assert payloads.next_step("<Response><Say>Thanks</Say><Hangup/></Response>").kind == "end"
    assert payloads.twiml_messages("<Response><Message>Where is it?</Message></Response>") == ["Where is it?"]


def test_an_action_url_is_signed_as_given_and_sent_to_this_machine(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("tools.fakes.devenv.SECRETS_FILE", tmp_path / "secrets.json")
    stack = Stack.from_env({"OMNI311_TWILIO_PUBLIC_BASE_URL": "https://311.city.example/sms"})
    assert stack.twilio_urls("/twilio/sms") == ("http://127.0.0.1:8086/twilio/sms",
                                                "https://311.city.example/sms/twilio/sms")
    assert stack.twilio_urls("https://311.city.example/sms/twilio/voice/place?s=1") == (
        "http://127.0.0.1:8086/twilio/voice/place?s=1", "https://311.city.example/sms/twilio/voice/place?s=1")


def test_the_conversation_cookie_is_kept_replaced_and_deleted_as_set_cookie_says() -> None:
    jar = payloads.cookies_after({}, ['omni311_pending=abc; Max-Age=14400; Path=/; HttpOnly'])
    assert jar == {"omni311_pending": "abc"}
    jar = payloads.cookies_after(jar, ['omni311_pending=def; Max-Age=14400; Path=/'])
    assert jar == {"omni311_pending": "def"}
    assert payloads.cookies_after(jar, ['omni311_pending=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; '
                                        'Path=/']) == {}
    assert payloads.cookies_after(jar, ["not a cookie;;;==="]) == jar


def test_the_banner_names_every_channels_webhook_and_a_command_per_channel(tmp_path, monkeypatch, capsys) -> None:
    from tools.simulate.__main__ import main

    monkeypatch.setattr("tools.fakes.devenv.SECRETS_FILE", tmp_path / "secrets.json")
    for key in ("OMNI311_ENVIRONMENT", "OMNI311_TWILIO_PUBLIC_BASE_URL", "OMNI311_PUBLIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    assert main(["banner"]) == 0
    out = capsys.readouterr().out
    for url in ("http://127.0.0.1:8086/twilio/sms", "http://127.0.0.1:8086/twilio/whatsapp",
                "http://127.0.0.1:8086/twilio/voice", "http://127.0.0.1:8086/twilio/status",
                "http://127.0.0.1:8087/webhooks/meta", "city311@omni311.test", "http://127.0.0.1:8080/requests.json"):
        assert url in out
    commands = [line.split()[3] for line in out.splitlines() if line.strip().startswith(".venv/bin/python -m tools.simulate ")]
    assert set(commands) == {"sms", "whatsapp", "messenger", "instagram", "call", "mastodon"}
    assert "'\"'\"'" not in out  # "1 rue de l'Église" is printed in double quotes, not shell-escaped
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    assert main(["sms", "hello"]) == 2
    assert "never used in production" in capsys.readouterr().err


def test_a_shared_location_travels_as_each_provider_sends_one() -> None:
    # --lat/--long on sms and whatsapp (Twilio's Latitude/Longitude), messenger and instagram (a location
    # attachment), whatsapp --via meta (a location message after the text).
    point = (40.8262, -73.9405)
    form = payloads.twilio_message(account_sid="AC1", sender="+15145550123", to="+15005550006",
                                   body="Pothole here", location=point)
    assert (parse_inbound(form).shared.lat, parse_inbound(form).shared.long) == point
    now_ms = int(NOW.timestamp() * 1000)
    for platform, channel in (("page", "messenger"), ("instagram", "instagram")):
        delivery = payloads.messenger_delivery(platform=platform, account_id="200", sender_id="600",
                                               text="Pothole here", now_ms=now_ms, location=point)
        [outcome] = parse_delivery(delivery, accounts=MetaAccounts(), now=NOW)
        assert (outcome.message.channel, outcome.message.lat, outcome.message.long) == (channel, *point)
        assert outcome.message.description == "Pothole here"
    wa = payloads.whatsapp_delivery(phone_number_id="100", display_number="+15005550006", wa_id="15145550125",
                                    name="Sam", text="Pothole here", now_s=now_ms // 1000, location=point)
    text, shared = parse_delivery(wa, accounts=MetaAccounts(), now=NOW)
    assert text.message.description == "Pothole here" and (shared.message.lat, shared.message.long) == point


def test_the_call_presses_the_menu_item_its_details_name_else_says_the_problem() -> None:
    from tools.simulate.__main__ import menu_choice, menu_of

    demo = menu_of("Please say in a few words what the problem is. For Graffiti, press 1. For Illegal parking, "
                   "press 2. For Street light out, press 9.")
    assert demo == [("1", "Graffiti"), ("2", "Illegal parking"), ("9", "Street light out")]
    assert menu_choice("Graffiti all over the garage door", demo) == "1"
    assert menu_choice("The street light is out again", demo) == "9"
    # NYC's menu is its first nine services alphabetically: nothing there is graffiti, so the words are said
    nyc = menu_of("For Animal in a Park, press 1. For Asbestos, press 2. For Bike Rack Condition, press 3.")
    assert menu_choice("Graffiti all over the garage door", nyc) is None
    assert menu_of("Pour Graffiti, appuyez sur le 1.") == [("1", "Graffiti")]


def test_what_happened_to_a_message_is_said_in_words() -> None:
    from tools.simulate.__main__ import merged_words, report_line

    url = "http://127.0.0.1:8080/requests/NYC-26-000012.json"
    case = {"service_request_id": "NYC-26-000012", "status": "open", "service_name": "Street Condition"}
    assert report_line(case, joined=False, text="Pothole at 2949 8 Avenue", url=url).startswith(
        "case NYC-26-000012 opened (open, Street Condition): ")
    assert report_line(case, joined=True, text="ok thanks", url=url).startswith(
        "recorded on case NYC-26-000012 as a thanks (no reply is sent; no new case)")
    assert report_line(case, joined=True, text="it's getting bigger", url=url).startswith(
        "the text joined case NYC-26-000012 as a follow-up")
    merged = {"service_request_id": "NYC-26-000020", "status": "closed", "status_notes": "Duplicate of NYC-26-000012"}
    survivor = case | {"requested_datetime": "2026-11-30T07:00:00-05:00"}
    words = merged_words(merged, survivor, 3.4)
    assert words.startswith("case NYC-26-000020 opened and was merged at once as a duplicate of NYC-26-000012 "
                            "(same service (Street Condition), 3 m from it, it was opened 2026-11-30T07:00:00-05:00")
    assert "make reset" in words


def test_the_printed_commands_are_placed_in_the_running_city(require_shared_data, tmp_path, monkeypatch) -> None:
    # NYC is make run's default city: each command's place is one its geocoder places inside NYC, not the
    # demo city's Elm Street.
    import io
    import shlex
    from contextlib import redirect_stdout

    from shared.geocode.gazetteer import gazetteer_for
    from shared.jurisdiction import load_jurisdiction
    from tools.simulate.__main__ import main

    monkeypatch.setattr("tools.fakes.devenv.SECRETS_FILE", tmp_path / "secrets.json")
    monkeypatch.setenv("OMNI311_JURISDICTION", "nyc")
    monkeypatch.delenv("OMNI311_ENVIRONMENT", raising=False)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["banner"]) == 0
    nyc = load_jurisdiction("nyc")
    gazetteer = gazetteer_for(nyc)
    argvs = [shlex.split(line.strip()) for line in out.getvalue().splitlines()
             if line.strip().startswith(".venv/bin/python -m tools.simulate ")]
    assert len(argvs) == 8 and "Elm Street" not in out.getvalue() and "places in New York City" in out.getvalue()
    places = []
    for argv in argvs:
        where = argv[argv.index("--place") + 1] if "--place" in argv else argv[-1]
        found = gazetteer.find(where)
        assert found is not None and found.confidence >= nyc.geocoding.accept_from, where
        assert nyc.contains(found.lat, found.long), where
        places.append((found.lat, found.long))
    assert len(set(places)) == 8  # one place per command: no command's case is merged into another's
