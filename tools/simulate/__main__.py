"""``python -m tools.simulate sms|whatsapp|messenger|instagram|call|mastodon ...``: be a resident on the
stack `make run` runs on this machine. Each command builds the provider's webhook, signs it as the provider
does (`tools.simulate.payloads`), sends it, prints the answer (the TwiML texts for Twilio) and waits for
the case it opened to show in Open311 ``GET /requests.json``, printing its number and URL.

Exit status: 0 when the case showed, 1 when the stack refused the webhook, was unreachable or no case
showed in time (``--timeout``), 2 for a bad command line or ``OMNI311_ENVIRONMENT=production``.
``python -m tools.simulate banner`` prints the channels' webhook URLs and these commands (run.sh does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.settings import REPO_ROOT
from tools.fakes.devenv import ProductionRefused
from tools.simulate import payloads
from tools.simulate.stack import Stack, banner

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
    p.add_argument("--problem", default="1", help="the problem menu's digit (default 1)")
    p.add_argument("--place", default="100 Elm Street", help="what the caller says when asked where")
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


def _text_via_twilio(client: httpx.Client, stack: Stack, args: argparse.Namespace, whatsapp: bool) -> None:
    media: list[tuple[str, str]] = []
    sid = payloads.new_sid("MM" if args.photo is not None else "SM")
    if args.photo is not None:
        media_id = payloads.new_sid("ME")
        _put_media(client, stack.fake_twilio_url, media_id, args.photo)
        media.append((f"{stack.fake_twilio_url}/2010-04-01/Accounts/{stack.twilio_account_sid}/Messages/{sid}"
                      f"/Media/{media_id}", "image/jpeg"))
    params = payloads.twilio_message(account_sid=stack.twilio_account_sid, sender=args.sender,
                                     to=stack.twilio_number, body=args.text, message_sid=sid, media=media,
                                     whatsapp=whatsapp)
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


def _meta(client: httpx.Client, stack: Stack, payload: dict[str, Any]) -> None:
    body = payloads.meta_body(payload)
    answer = _post(client, f"{stack.social_url}/webhooks/meta", content=body,
                   headers={"Content-Type": "application/json",
                            "X-Hub-Signature-256": payloads.meta_signature(stack.meta_app_secret, body)})
    print(f"{answer.status_code}: {answer.text} (replies: {stack.fake_graph_url}/sent)")


def _call(client: httpx.Client, stack: Stack, args: argparse.Namespace) -> None:
    """Walk the voice webhooks as Twilio does for one call: the incoming call, each menu's answer, the end
    of the recording, its status callback and its transcription."""
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
            answer = {"Digits": args.problem}
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


def _wait_for_case(client: httpx.Client, stack: Stack, args: argparse.Namespace, since: datetime,
                   before: set[str]) -> bool:
    """Poll Open311 until a case opened since `since` (and not in `before`) shows, preferring one whose
    description holds the text sent; print it. False when none showed within ``--timeout`` seconds."""
    words = args.text.strip().lower()[:40]
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        new = {k: v for k, v in _case_ids(client, stack, since).items() if k not in before}
        matching = [v for v in new.values() if words in str(v.get("description") or "").lower()]
        if matching or (new and args.channel == "call"):
            case = (matching or list(new.values()))[0]
            sid = case["service_request_id"]
            print(f"case {sid} opened ({case.get('status')}, {case.get('service_name') or 'not routed yet'}): "
                  f"{stack.portal_url}/requests/{sid}.json")
            return True
        time.sleep(1.0)
    print(f"no new case showed in {args.timeout:g} s at {stack.portal_url}/requests.json: a message from the "
          "same resident while their case is open joins that case (use another --from, or start the text "
          "with NEW); else see var/run/*.log", file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        stack = Stack.from_env(os.environ)
    except ProductionRefused as exc:
        print(f"tools.simulate: {exc}", file=sys.stderr)
        return 2
    if args.channel == "banner":
        print(banner(stack))
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
    since = datetime.now(UTC) - timedelta(minutes=2)
    with httpx.Client(timeout=30) as client:
        before = set(_case_ids(client, stack, since))
        try:
            _send(client, stack, args)
        except Refused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        if args.no_wait:
            return 0
        return 0 if _wait_for_case(client, stack, args, since, before) else 1


def _send(client: httpx.Client, stack: Stack, args: argparse.Namespace) -> None:
    now = time.time()
    if args.channel == "sms" or (args.channel == "whatsapp" and args.via == "twilio"):
        _text_via_twilio(client, stack, args, whatsapp=args.channel == "whatsapp")
    elif args.channel == "whatsapp":
        image_id = None
        if args.photo is not None:
            image_id = str(int(now * 1000))
            _put_media(client, stack.fake_graph_url, image_id, args.photo)
        _meta(client, stack, payloads.whatsapp_delivery(
            phone_number_id=stack.whatsapp_phone_number_id, display_number=stack.twilio_number,
            wa_id=args.sender.lstrip("+"), name=args.name, text=args.text, now_s=int(now), image_id=image_id))
    elif args.channel in ("messenger", "instagram"):
        image_url = None
        if args.photo is not None:
            media_id = payloads.new_sid("IMG")
            _put_media(client, stack.fake_graph_url, media_id, args.photo)
            image_url = f"{stack.fake_graph_url}/fake/media/{media_id}"
        account = stack.page_id if args.channel == "messenger" else stack.instagram_id
        _meta(client, stack, payloads.messenger_delivery(
            platform="page" if args.channel == "messenger" else "instagram", account_id=account,
            sender_id=args.sender, text=args.text, now_ms=int(now * 1000), image_url=image_url))
    elif args.channel == "call":
        _call(client, stack, args)
    else:
        answer = _post(client, f"{stack.fake_mastodon_url}/fake/mentions",
                       json={"from": args.sender, "text": args.text})
        print(f"{answer.status_code}: mention {answer.json()['id']} posted; intake_social reads it within 5 s "
              f"(replies: {stack.fake_mastodon_url}/sent)")


if __name__ == "__main__":
    sys.exit(main())
