"""Where the local stack of `make run` is and what it checks signatures with: the services' ports
(`shared.settings.SERVICE_PORTS`), the fakes' (`tools.fakes.PORTS`) and the development channel settings
run.sh exported (`tools.fakes.devenv.effective_env`: the secrets made once under ``var/dev-channels/``,
each replaced by the environment's value when set, as in run.sh)."""

from __future__ import annotations

from collections.abc import Mapping
import secrets
from dataclasses import dataclass

from shared.settings import SERVICE_PORTS
from tools.fakes import fake_url
from tools.fakes.devenv import INSTAGRAM_ID, PAGE_ID, effective_env


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


def banner(stack: Stack, python: str = ".venv/bin/python", *, seed: int | None = None) -> str:
    """What `make run` prints once every service is ready: each channel's webhook URL and the simulate
    commands (`python` is how the reader runs the repository's Python). The residents' numbers and ids
    are new on each run (`seed`, 0-9999; random when None): a resident whose case of an earlier run is
    still open would add to it, as a follow-up does, instead of opening one."""
    tw = stack.twilio_public_url
    sim = f"{python} -m tools.simulate"
    n = secrets.randbelow(10_000) if seed is None else seed
    phone = [f"+1514555{(n + i) % 10_000:04d}" for i in range(5)]
    psid, igsid, handle = f"60000000000{n:05d}", f"70000000000{n:05d}", f"resident{n:04d}@social.example"
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
try each channel (signed as the provider signs; prints the answer and the case it opened):
  {sim} sms --from {phone[0]} "Pothole at 100 Elm Street"
  {sim} sms --from {phone[1]} --photo "Graffiti on the wall at 2 Elm Street"
  {sim} whatsapp --from {phone[2]} "Streetlight out at 101 Elm Street"
  {sim} whatsapp --via meta --from {phone[3]} --photo "Overflowing bin at 1 Elm Street"
  {sim} messenger --from {psid} "Fallen tree branch at 100 Elm Street"
  {sim} instagram --from {igsid} "Pothole at 2 Elm Street"
  {sim} call --from {phone[4]} --place "100 Elm Street" "Graffiti all over the garage door"
  {sim} mastodon --from {handle} "Broken bench at 1 Elm Street"
  (then: {stack.portal_url}/requests.json lists the cases; a second text from the same resident while the case is
   open joins it, as a follow-up does; python -m tools.simulate --help for every option)"""
