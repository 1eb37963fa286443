"""``python -m tools.simulate sms|whatsapp|messenger|instagram|call|mastodon ...``: be a resident on the
stack `make run` runs on this machine. Each command builds the provider's webhook, signs it as the provider
does (`tools.simulate.payloads`), sends it, prints the answer (the TwiML texts for Twilio) and waits until
a case holds the message (the case API's ``GET /cases/tokens/{message id}``), then prints what happened:
the case it opened (and, when the duplicate detector merged it at once, into which case and why), or the
open case a follow-up or a thanks joined.

Exit status: 0 when a case holds the message, 1 when the stack refused the webhook, was unreachable or no case
showed in time (``--timeout``), 2 for a bad command line or ``OMNI311_ENVIRONMENT=production``.
``python -m tools.simulate banner`` prints the channels' webhook URLs and these commands (run.sh does), with
places of the running jurisdiction (``OMNI311_JURISDICTION``, `tools.simulate.places`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.intake.conversation import asks_for_new_report, is_thanks
from shared.jurisdiction.text import tokens
from shared.settings import REPO_ROOT
from tools.fakes.devenv import ProductionRefused
from tools.simulate import payloads
from tools.simulate.stack import DEMO_PLACES, Stack, banner

COOKIES = REPO_ROOT / "var" / "dev-channels" / "cookies.json"
"""Twilio's conversation cookies, per (resident, city number), as Twilio keeps them between texts."""


class Refused(Exception):
    """The stack answered a webhook with an error, or could not be reached."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.simulate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="channel", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the case (default 30)")
    common.add_argument("--no-wait", action="store_true", help="send, print the answer, do not wait for the case")
    photo = argparse.ArgumentParser(add_help=False)
    photo.add_argument("--photo", action="store_true", help="attach a small sample photo (served by the local fake)")
    photo.add_argument("--photo-file", metavar="FILE", help="attach this JPEG instead (served by the local fake)")
    photo.add_argument("--lat", type=float, help="share a location: latitude (WGS84 degrees; with --long)")
    photo.add_argument("--long", type=float, help="share a location: longitude (WGS84 degrees; with --lat)")
    for name, help_, default_from in (("sms", "a text (MMS with --photo) to the city's number through Twilio",
                                       "+15145550123"),
                                      ("whatsapp", "a WhatsApp message (through Twilio, or WhatsApp Cloud with "
                                                   "--via meta)", "+15145550124")):
        p = sub.add_parser(name, parents=[common, photo], help=help_)
        p.add_argument("--from", dest="sender", default=default_from, help="the resident's number (E.164)")
        p.add_argument("text")
        if name == "whatsapp":
            p.add_argument("--via", choices=["twilio", "meta"], default="twilio")
            p.add_argument("--name", default="Sam Resident", help="the WhatsApp profile name (--via meta)")
    for name, default_from in (("messenger", "6000000000000001"), ("instagram", "7000000000000001")):
        p = sub.add_parser(name, parents=[common, photo], help=f"a {name.title()} message to the city's account")
        p.add_argument("--from", dest="sender", default=default_from, help="the resident's page-scoped id")
        p.add_argument("text")
    p = sub.add_parser("call", parents=[common], help="a phone call through the voice menu: language, problem, "
                                                      "place, then the recorded details (transcribed)")
    p.add_argument("--from", dest="sender", default="+15145550126", help="the caller's number (E.164)")
    p.add_argument("--language", default="1", help="the language menu's digit (default 1)")
    p.add_argument("--problem", default=None,
                   help="the problem menu's digit (default: the item whose service the details name, else the "
                        "details said in words; the menu is printed)")
    p.add_argument("--place", default=DEMO_PLACES[0].words, help="what the caller says when asked where")
    p.add_argument("text", help="the details the caller records (their transcription)")
    p = sub.add_parser("mastodon", parents=[common], help="a post mentioning @city311 on the fake Mastodon")
    p.add_argument("--from", dest="sender", default="resident@social.example", help="the resident's user@server")
    p.add_argument("text")
    sub.add_parser("banner", help="the channels' webhook URLs and these commands, as make run prints them")
    return parser


def _post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    try:
        answer = client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise Refused(f"{url} did not answer ({exc!r}); is `make run` running?") from exc
    if answer.status_code >= 400:
        raise Refused(f"{url} answered {answer.status_code}: {answer.text[:300]}")
    return answer


def _signed_twilio(client: httpx.Client, stack: Stack, path: str, params: dict[str, str],
                   cookies: dict[str, str] | None = None) -> httpx.Response:
    url, signed = stack.twilio_urls(path)
    headers = {"X-Twilio-Signature": payloads.twilio_signature(stack.twilio_auth_token, signed, params)}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    client.cookies.clear()  # the conversation's cookies are ours to keep (`payloads.cookies_after`)
    try:
        return _post(client, url, data=params, headers=headers)
    finally:
        client.cookies.clear()


def _put_media(client: httpx.Client, fake: str, media_id: str, photo: str) -> None:
    """Put the photo (the fake's sample when `photo` is empty) on the fake at ``/fake/media/<id>``."""
    if not photo:
        return  # the fake serves its sample photo for an id never put
    data = Path(photo).read_bytes()
    _post(client, f"{fake}/fake/media/{media_id}", content=data, headers={"Content-Type": "image/jpeg"})


def _load_cookies() -> dict[str, dict[str, str]]:
    try:
        return json.loads(COOKIES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _location(args: argparse.Namespace) -> tuple[float, float] | None:
    """The shared point of ``--lat``/``--long`` (None without them)."""
    lat, long = getattr(args, "lat", None), getattr(args, "long", None)
    return None if lat is None or long is None else (lat, long)


def _text_via_twilio(client: httpx.Client, stack: Stack, args: argparse.Namespace, whatsapp: bool) -> str:
    """Send the text as Twilio does; returns its MessageSid (what the case holds it by)."""
    media: list[tuple[str, str]] = []
    sid = payloads.new_sid("MM" if args.photo is not None else "SM")
    if args.photo is not None:
        media_id = payloads.new_sid("ME")
        _put_media(client, stack.fake_twilio_url, media_id, args.photo)
        media.append((f"{stack.fake_twilio_url}/2010-04-01/Accounts/{stack.twilio_account_sid}/Messages/{sid}"
                      f"/Media/{media_id}", "image/jpeg"))
    params = payloads.twilio_message(account_sid=stack.twilio_account_sid, sender=args.sender,
                                     to=stack.twilio_number, body=args.text, message_sid=sid, media=media,
                                     whatsapp=whatsapp, location=_location(args))
    # Twilio keeps a conversation's cookies (four hours) and sends them with its next webhook.
    jar, key = _load_cookies(), f"{params['From']}>{params['To']}"
    answer = _signed_twilio(client, stack, "/twilio/whatsapp" if whatsapp else "/twilio/sms", params,
                            cookies=jar.get(key, {}))
    jar[key] = payloads.cookies_after(jar.get(key, {}), answer.headers.get_list("set-cookie"))
    COOKIES.parent.mkdir(parents=True, exist_ok=True)
    COOKIES.write_text(json.dumps(jar, indent=1), encoding="utf-8")
    texts = payloads.twiml_messages(answer.text)
    print(f"{answer.status_code} {answer.headers.get('content-type', '')}: "
          + ("; ".join(f"«{t}»" for t in texts) if texts else "no reply text (the acknowledgement comes from the "
                                                              f"notifier: {stack.fake_twilio_url}/sent)"))
    return sid


def _meta(client: httpx.Client, stack: Stack, payload: dict[str, Any]) -> None:
    body = payloads.meta_body(payload)
    answer = _post(client, f"{stack.social_url}/webhooks/meta", content=body,
                   headers={"Content-Type": "application/json",
                            "X-Hub-Signature-256": payloads.meta_signature(stack.meta_app_secret, body)})
    print(f"{answer.status_code}: {answer.text} (replies: {stack.fake_graph_url}/sent)")


_MENU_ITEM = re.compile(r"(?:For|Pour) (?P<label>.+?), (?:press|appuyez sur le) (?P<digit>\d)\.")


def menu_of(said: str) -> list[tuple[str, str]]:
    """The problem menu read to the caller (``"For Graffiti, press 1."``, or in French), as (digit, label)."""
    return [(m.group("digit"), m.group("label")) for m in _MENU_ITEM.finditer(said)]


def menu_choice(text: str, menu: list[tuple[str, str]]) -> str | None:
    """The digit of the menu item whose label's words (stemmed, `shared.jurisdiction.text.tokens`) are all
    in `text` (the longest label first), or None when no item is named."""
    words = set(tokens(text))
    named = [(len(tokens(label)), digit) for digit, label in menu if tokens(label) and set(tokens(label)) <= words]
    return max(named)[1] if named else None


def _problem_answer(args: argparse.Namespace, said: str) -> dict[str, str]:
    """What the caller answers to the problem menu: ``--problem`` when given; else the digit of the item
    the details name (`menu_choice`); else the details in words (the menu also takes speech: the router
    then picks the service). Prints the menu and the choice."""
    menu = menu_of(said)
    if args.problem:
        return {"Digits": args.problem}
    digit = menu_choice(args.text, menu)
    shown = ", ".join(f"{d} {label}" for d, label in menu)
    if digit is not None:
        print(f"  call: pressing {digit} ({dict(menu)[digit]}), the menu item the details name (menu: {shown})")
        return {"Digits": digit}
    print(f"  call: no menu item names «{args.text}» (menu: {shown}); saying the problem instead, the router "
          "picks the service (or pass --problem DIGIT)")
    return {"SpeechResult": args.text[:200], "Confidence": "0.9"}


def _call(client: httpx.Client, stack: Stack, args: argparse.Namespace) -> str:
    """Walk the voice webhooks as Twilio does for one call: the incoming call, each menu's answer, the end
    of the recording, its status callback and its transcription. Returns the CallSid (the report's id)."""
    call_sid, recording_sid = payloads.new_sid("CA"), payloads.new_sid("RE")
    base = {"account_sid": stack.twilio_account_sid, "call_sid": call_sid, "caller": args.sender,
            "to": stack.twilio_number}
    step = payloads.next_step(_signed_twilio(client, stack, "/twilio/voice", payloads.twilio_call(**base)).text)
    for _ in range(6):
        print(f"  call: {step.kind}" + (f" — «{step.said}»" if step.said else ""))
        if step.kind != "gather" or not step.action:
            break
        stage = step.action.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        answer: dict[str, str]
        if stage == "language":
            answer = {"Digits": args.language}
        elif stage == "problem":
            answer = _problem_answer(args, step.said)
        else:
            answer = {"SpeechResult": args.place, "Confidence": "0.91"}
        step = payloads.next_step(_signed_twilio(client, stack, step.action,
                                                 payloads.twilio_call(**base, **answer)).text)
    if step.kind != "record" or not step.action:
        raise Refused(f"the voice menu did not ask for a recording (it answered {step.kind})")
    recording = {"RecordingUrl": f"{stack.fake_twilio_url}/2010-04-01/Accounts/{stack.twilio_account_sid}"
                                 f"/Recordings/{recording_sid}",
                 "RecordingSid": recording_sid, "RecordingDuration": "7"}
    done = _signed_twilio(client, stack, step.action, payloads.twilio_call(**base, **recording, Digits="#"))
    print(f"  call: end — «{payloads.next_step(done.text).said}»")
    if step.recording_callback:
        _signed_twilio(client, stack, step.recording_callback, payloads.twilio_call(
            **base, status="completed", **recording, RecordingStatus="completed", RecordingChannels="1",
            RecordingSource="RecordVerb"))
    if step.transcribe_callback:
        _signed_twilio(client, stack, step.transcribe_callback, payloads.twilio_call(
            **base, status="completed", **recording, TranscriptionSid=payloads.new_sid("TR"),
            TranscriptionText=args.text, TranscriptionStatus="completed", TranscriptionType="fast",
            TranscriptionUrl=f"{stack.fake_twilio_url}/2010-04-01/Accounts/{stack.twilio_account_sid}/Transcriptions"))
    return call_sid


def _case_ids(client: httpx.Client, stack: Stack, since: datetime) -> dict[str, dict[str, Any]]:
    """Open311 requests since `since` (UTC), by id; {} when Open311 does not answer (yet)."""
    try:
        answer = client.get(f"{stack.portal_url}/requests.json",
                            params={"start_date": since.isoformat(timespec="seconds")})
    except httpx.HTTPError:
        return {}
    if answer.status_code != 200 or not isinstance(answer.json(), list):
        return {}
    return {str(r.get("service_request_id")): r for r in answer.json() if r.get("service_request_id")}


def _case_holding(client: httpx.Client, stack: Stack, channel: str, token: str) -> str | None:
    """The number of the case holding the message `token` of `channel` (the case API's
    ``GET /cases/tokens/{token}?channel=``), None while there is none or the API does not answer."""
    try:
        answer = client.get(f"{stack.case_url}/cases/tokens/{token}", params={"channel": channel})
    except httpx.HTTPError:
        return None
    return answer.json().get("service_request_id") if answer.status_code == 200 else None


def _request(client: httpx.Client, stack: Stack, number: str) -> dict[str, Any]:
    """The Open311 request `number` ({} when it cannot be read)."""
    try:
        answer = client.get(f"{stack.portal_url}/requests/{number}.json")
    except httpx.HTTPError:
        return {}
    body = answer.json() if answer.status_code == 200 else []
    return body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}


def merged_words(case: dict[str, Any], survivor: dict[str, Any], distance_m: float | None) -> str:
    """Why the duplicate detector merged `case` into `survivor` at once, in words: the same service, how
    far apart, and when the other was opened (an earlier run's case, most often)."""
    why = [f"same service ({survivor.get('service_name') or case.get('service_name') or '?'})"]
    if distance_m is not None:
        why.append(f"{distance_m:.0f} m from it")
    if survivor.get("requested_datetime"):
        why.append(f"it was opened {survivor['requested_datetime']} and is {survivor.get('status') or 'open'}")
    return (f"case {case.get('service_request_id')} opened and was merged at once as a duplicate of "
            f"{survivor.get('service_request_id')} ({', '.join(why)}): the database already holds this report, "
            "from an earlier run most likely; `make reset` empties it, or change the place")


def _distance(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    from shared.jurisdiction.geo import distance_m  # noqa: PLC0415 - only for a merge

    try:
        return distance_m(float(a["lat"]), float(a["long"]), float(b["lat"]), float(b["long"]))
    except (KeyError, TypeError, ValueError):
        return None


def _settled(client: httpx.Client, stack: Stack, number: str, deadline: float) -> dict[str, Any]:
    """The new case once routed (a service name) and a moment more for the duplicate detector (at most
    `deadline`, a monotonic time): a merge closes it with "Duplicate of <case>"."""
    case = _request(client, stack, number)
    while time.monotonic() < deadline and not case.get("service_name"):
        time.sleep(0.5)
        case = _request(client, stack, number)
    settle = min(deadline, time.monotonic() + 2.0)
    while time.monotonic() < settle and case.get("status") != "closed":
        time.sleep(0.5)
        case = _request(client, stack, number)
    return case or {"service_request_id": number}


def report_line(case: dict[str, Any], *, joined: bool, text: str, url: str) -> str:
    """What happened to the message, in one line: a follow-up or a thanks that joined an open case, or the
    case it opened."""
    number = case.get("service_request_id")
    if joined:
        if is_thanks(text):
            return f"recorded on case {number} as a thanks (no reply is sent; no new case): {url}"
        return f"the text joined case {number} as a follow-up (no new case; start it with NEW for one): {url}"
    return (f"case {number} opened ({case.get('status')}, {case.get('service_name') or 'not routed yet'}): {url}")


def _wait_for_case(client: httpx.Client, stack: Stack, args: argparse.Namespace, sent: tuple[str, str],
                   since: datetime, before: set[str]) -> bool:
    """Poll until a case holds the message `sent` (channel, message id) and print what happened
    (`report_line`; `merged_words` for a report merged at once); else a new Open311 case whose description
    holds the text sent (a "NEW" word removed, as the adapters remove it), for a message the adapter held
    (a pending question). False when none showed within ``--timeout`` seconds."""
    channel, token = sent
    words = asks_for_new_report(args.text)[1].strip().lower()[:40]
    started = datetime.now(UTC)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        number = _case_holding(client, stack, channel, token) if token else None
        if number is None:
            new = {k: v for k, v in _case_ids(client, stack, since).items() if k not in before}
            matching = [v for v in new.values() if words and words in str(v.get("description") or "").lower()]
            number = str(matching[0]["service_request_id"]) if matching else None
        if number is not None:
            url = f"{stack.portal_url}/requests/{number}.json"
            case = _request(client, stack, number)
            opened = str(case.get("requested_datetime") or "")
            joined = number in before or (opened != "" and _parse(opened) < started - timedelta(seconds=5))
            if not joined:
                case = _settled(client, stack, number, deadline)
                notes = str(case.get("status_notes") or "")
                if case.get("status") == "closed" and notes.startswith("Duplicate of "):
                    survivor = _request(client, stack, notes.removeprefix("Duplicate of ").strip())
                    print(merged_words(case, survivor, _distance(case, survivor)) + f": {url}")
                    return True
            print(report_line(case or {"service_request_id": number}, joined=joined, text=args.text, url=url))
            return True
        time.sleep(0.5)
    print(f"no case holds the message after {args.timeout:g} s ({stack.case_url}/cases/tokens/{token}?channel="
          f"{channel}); if the answer asked where the problem is, answer it (or send --lat/--long); else see "
          "var/run/*.log", file=sys.stderr)
    return False


def _parse(stamp: str) -> datetime:
    """An Open311 date-time (ISO 8601, an offset or Z) as an aware UTC datetime; the distant past when
    unreadable."""
    try:
        value = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _city_places(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """The banner's places and city name: the running jurisdiction's (``OMNI311_JURISDICTION``, as run.sh
    exported it; `tools.simulate.places.city_places`), else the demo city's with a line saying why."""
    from shared.jurisdiction import load_jurisdiction  # noqa: PLC0415 - the banner only
    from tools.simulate.places import city_places  # noqa: PLC0415

    name = environ.get("OMNI311_JURISDICTION") or "demo"
    try:
        jurisdiction = load_jurisdiction(name)
        places = city_places(jurisdiction, 8)
    except Exception as exc:  # noqa: BLE001 - the banner still prints, with the demo city's places
        print(f"tools.simulate: no places of {name} ({type(exc).__name__}: {exc}); the commands use the demo "
              "city's", file=sys.stderr)
        return {"places": DEMO_PLACES, "city": "demo"}
    return {"places": places or DEMO_PLACES, "city": jurisdiction.name if places else "demo"}


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        stack = Stack.from_env(os.environ)
    except ProductionRefused as exc:
        print(f"tools.simulate: {exc}", file=sys.stderr)
        return 2
    if args.channel == "banner":
        print(banner(stack, **_city_places(os.environ)))
        return 0
    if getattr(args, "photo_file", None):
        if not Path(args.photo_file).is_file():
            print(f"tools.simulate: --photo-file {args.photo_file}: no such file", file=sys.stderr)
            return 2
        args.photo = args.photo_file
    elif getattr(args, "photo", False):
        args.photo = ""  # the fake's sample photo
    else:
        args.photo = None
    if (getattr(args, "lat", None) is None) != (getattr(args, "long", None) is None):
        print("tools.simulate: --lat and --long go together (a shared location)", file=sys.stderr)
        return 2
    since = datetime.now(UTC) - timedelta(minutes=2)
    with httpx.Client(timeout=30) as client:
        before = set(_case_ids(client, stack, since))
        try:
            sent = _send(client, stack, args)
        except Refused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        if args.no_wait:
            return 0
        return 0 if _wait_for_case(client, stack, args, sent, since, before) else 1


def _send(client: httpx.Client, stack: Stack, args: argparse.Namespace) -> tuple[str, str]:
    """Send the message of `args`; returns (channel, message id) as the case service keeps them."""
    now = time.time()
    if args.channel == "sms" or (args.channel == "whatsapp" and args.via == "twilio"):
        return args.channel, _text_via_twilio(client, stack, args, whatsapp=args.channel == "whatsapp")
    if args.channel == "whatsapp":
        image_id = None
        if args.photo is not None:
            image_id = str(int(now * 1000))
            _put_media(client, stack.fake_graph_url, image_id, args.photo)
        payload = payloads.whatsapp_delivery(
            phone_number_id=stack.whatsapp_phone_number_id, display_number=stack.twilio_number,
            wa_id=args.sender.lstrip("+"), name=args.name, text=args.text, now_s=int(now), image_id=image_id,
            location=_location(args))
        _meta(client, stack, payload)
        return "whatsapp", payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    if args.channel in ("messenger", "instagram"):
        image_url = None
        if args.photo is not None:
            media_id = payloads.new_sid("IMG")
            _put_media(client, stack.fake_graph_url, media_id, args.photo)
            image_url = f"{stack.fake_graph_url}/fake/media/{media_id}"
        account = stack.page_id if args.channel == "messenger" else stack.instagram_id
        payload = payloads.messenger_delivery(
            platform="page" if args.channel == "messenger" else "instagram", account_id=account,
            sender_id=args.sender, text=args.text, now_ms=int(now * 1000), image_url=image_url,
            location=_location(args))
        _meta(client, stack, payload)
        return args.channel, payload["entry"][0]["messaging"][0]["message"]["mid"]
    if args.channel == "call":
        return "voice", _call(client, stack, args)
    answer = _post(client, f"{stack.fake_mastodon_url}/fake/mentions", json={"from": args.sender, "text": args.text})
    print(f"{answer.status_code}: mention {answer.json()['id']} posted; intake_social reads it within 5 s "
          f"(replies: {stack.fake_mastodon_url}/sent)")
    return "mastodon", str((answer.json().get("status") or {}).get("id") or "")


if __name__ == "__main__":
    sys.exit(main())
