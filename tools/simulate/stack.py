"""Where the local stack of `make run` is and what it checks signatures with: the services' ports
(`shared.settings.SERVICE_PORTS`), the fakes' (`tools.fakes.PORTS`) and the development channel settings
run.sh exported (`tools.fakes.devenv.effective_env`: the secrets made once under ``var/dev-channels/``,
each replaced by the environment's value when set, as in run.sh)."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.settings import SERVICE_PORTS
from tools.fakes import fake_url
from tools.fakes.devenv import INSTAGRAM_ID, PAGE_ID, effective_env
from tools.simulate.places import Place

PROBLEMS = ("Pothole", "Graffiti on the wall", "Streetlight out", "Overflowing bin", "Fallen tree branch",
            "Damaged sidewalk", "Broken bench")
"""The problems the printed commands report, one per command (the call's details are its own)."""
DEMO_PLACES = tuple(Place(f"{n} Elm Street") for n in (100, 2, 101, 1, 102, 3, 4, 103))
"""The demo city's addresses: the banner's places when none of the running city are given."""


def _local(service: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


@dataclass(frozen=True)
class Stack:
    """The running stack as the simulator reaches it: base URLs (no trailing slash) and credentials."""

    sms_voice_url: str
    """Where webhooks for intake_sms_voice are sent (this machine)."""
    twilio_public_url: str
    """What Twilio is configured with and signs (``OMNI311_TWILIO_PUBLIC_BASE_URL``)."""
    social_url: str
    portal_url: str
    case_url: str
    """The case service's read API (``GET /cases/tokens/{token}``: which case holds a message)."""
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_number: str
    meta_app_secret: str
    meta_verify_token: str
    whatsapp_phone_number_id: str
    page_id: str
    instagram_id: str
    fake_twilio_url: str
    fake_graph_url: str
    fake_mastodon_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Stack:
        """The stack for this checkout and `environ` (the values run.sh exported). Raises
        `tools.fakes.devenv.ProductionRefused` with ``OMNI311_ENVIRONMENT=production``."""
        env = effective_env(environ)
        return cls(
            sms_voice_url=_local("intake_sms_voice"),
            twilio_public_url=env["OMNI311_TWILIO_PUBLIC_BASE_URL"].rstrip("/"),
            social_url=_local("intake_social"),
            portal_url=(environ.get("OMNI311_PUBLIC_BASE_URL") or _local("intake_web")).rstrip("/"),
            case_url=(environ.get("OMNI311_CASE_API_URL") or _local("case")).rstrip("/"),
            twilio_account_sid=env["OMNI311_TWILIO_ACCOUNT_SID"],
            twilio_auth_token=env["OMNI311_TWILIO_AUTH_TOKEN"],
            twilio_number=env["OMNI311_TWILIO_FROM_NUMBER"],
            meta_app_secret=env["OMNI311_META_APP_SECRET"],
            meta_verify_token=env["OMNI311_META_VERIFY_TOKEN"],
            whatsapp_phone_number_id=env["OMNI311_META_WHATSAPP_PHONE_NUMBER_ID"],
            page_id=PAGE_ID, instagram_id=INSTAGRAM_ID,
            fake_twilio_url=fake_url("twilio"), fake_graph_url=fake_url("graph"),
            fake_mastodon_url=fake_url("mastodon"),
        )

    def twilio_urls(self, path: str) -> tuple[str, str]:
        """(where to send, what to sign) for a path of intake_sms_voice, e.g. ``/twilio/sms``; an absolute
        URL (a TwiML action) is signed as it is and sent to this machine with the same path and query."""
        if path.startswith(("http://", "https://")):
            signed = path
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            public_path = self.twilio_public_url.split("://", 1)[1].partition("/")[2]
            if public_path and path.startswith("/" + public_path):
                path = path[len(public_path) + 1:]
            return self.sms_voice_url + path, signed
        return self.sms_voice_url + path, self.twilio_public_url + path


def _where(place: Place) -> str:
    """The place in a command: ``at <address>``, or a district's name with its centre shared."""
    return f"at {place.words}" if place.lat is None else f"in {place.words}"


def _quote(text: str) -> str:
    """`text` as one shell word a reader can read: in double quotes ("1 rue de l'Église"), unless it holds
    a character the shell expands there (then `shlex.quote`)."""
    return shlex.quote(text) if any(c in text for c in '"$`\\!') else f'"{text}"'


def _shared(place: Place) -> str:
    return "" if place.lat is None else f" --lat {place.lat} --long {place.long}"


def banner(stack: Stack, python: str = ".venv/bin/python", *, seed: int | None = None,
           places: Sequence[Place] = DEMO_PLACES, city: str = "demo") -> str:
    """What `make run` prints once every service is ready: each channel's webhook URL and the simulate
    commands (`python` is how the reader runs the repository's Python). The residents' numbers and ids
    are new on each run (`seed`, 0-9999; random when None): a resident whose case of an earlier run is
    still open would add to it, as a follow-up does, instead of opening one. `places` (8, fewer are
    repeated) are the running city's (`tools.simulate.places.city_places`), one per command so that no
    command's case is merged into another's; `city` names that city."""
    tw = stack.twilio_public_url
    sim = f"{python} -m tools.simulate"
    n = secrets.randbelow(10_000) if seed is None else seed
    phone = [f"+1514555{(n + i) % 10_000:04d}" for i in range(5)]
    psid, igsid, handle = f"60000000000{n:05d}", f"70000000000{n:05d}", f"resident{n:04d}@social.example"
    at = [places[i % len(places)] for i in range(8)] if places else list(DEMO_PLACES)

    def text(i: int, problem: str) -> str:
        return _quote(f"{problem} {_where(at[i])}") + _shared(at[i])

    call_place = at[6].words
    return f"""\
channels (development secrets: var/dev-channels/secrets.json; what the stack sends lands in local fakes):
  SMS / MMS (Twilio)     {tw}/twilio/sms
  WhatsApp (Twilio)      {tw}/twilio/whatsapp
  voice (Twilio)         {tw}/twilio/voice
  status callback        {tw}/twilio/status
  Meta webhook           {stack.social_url}/webhooks/meta   (Messenger, Instagram, WhatsApp Cloud; verify token in the secrets file)
  Mastodon               mentions of @city311 on the fake instance {stack.fake_mastodon_url} (polled every 5 s)
  email                  mailbox city311@omni311.test   (smtp 127.0.0.1:3025, imap 127.0.0.1:3143)
  Open311                {stack.portal_url}/requests.json   (POST with api_key=demo-key)
  portal                 {stack.portal_url}/
  replies sent           {stack.fake_twilio_url}/sent   {stack.fake_graph_url}/sent   {stack.fake_mastodon_url}/sent
try each channel (places in {city}; signed as the provider signs; prints the answer and the case it opened):
  {sim} sms --from {phone[0]} {text(0, PROBLEMS[0])}
  {sim} sms --from {phone[1]} --photo {text(1, PROBLEMS[1])}
  {sim} whatsapp --from {phone[2]} {text(2, PROBLEMS[2])}
  {sim} whatsapp --via meta --from {phone[3]} --photo {text(3, PROBLEMS[3])}
  {sim} messenger --from {psid} {text(4, PROBLEMS[4])}
  {sim} instagram --from {igsid} {text(5, PROBLEMS[5])}
  {sim} call --from {phone[4]} --place {_quote(call_place)} "Graffiti all over the garage door"
  {sim} mastodon --from {handle} {_quote(f"{PROBLEMS[6]} {_where(at[7])}")}
  (then: {stack.portal_url}/requests.json lists the cases; a second text from the same resident while the case is
   open joins it, as a follow-up does; {sim} --help for every option)"""
