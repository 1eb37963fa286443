"""The development channel settings of `make run`: secrets made once per checkout (``var/dev-channels/
secrets.json``, never committed, like the development issuer's keys under ``var/dev-issuer/``) and the
``OMNI311_*`` variables that point intake_sms_voice, intake_social and the notifier at the local fakes.

`deploy/local/bin/run.sh` exports `channel_env` (``eval "$(python -m tools.fakes env)"``) and
`tools.simulate` reads the same values, so the simulator signs with the secret the services check.
A variable already set in the environment wins over the development value, in both. Refused with
``OMNI311_ENVIRONMENT=production`` (`ProductionRefused`): these values are public on this machine and the
fakes answer anyone.
"""

from __future__ import annotations

import json
import os
import secrets as random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.settings import REPO_ROOT, SERVICE_PORTS
from tools.fakes import fake_url

SECRETS_FILE = REPO_ROOT / "var" / "dev-channels" / "secrets.json"
GRAPH_VERSION = "v21.0"
TWILIO_NUMBER = "+15005550006"
"""The city's development number (Twilio's own magic test number: never a real phone)."""
WHATSAPP_PHONE_NUMBER_ID = "100000000000001"
PAGE_ID = "200000000000002"
INSTAGRAM_ID = "300000000000003"


class ProductionRefused(RuntimeError):
    """Development channel secrets or fakes asked for while ``OMNI311_ENVIRONMENT=production``."""


@dataclass(frozen=True)
class DevSecrets:
    """One checkout's development secrets (random, made once; each value says it is development only)."""

    twilio_account_sid: str
    twilio_auth_token: str
    meta_app_secret: str
    meta_verify_token: str
    meta_access_token: str
    mastodon_access_token: str


def refuse_in_production(environ: Mapping[str, str]) -> None:
    """Raises `ProductionRefused` when `environ` says ``OMNI311_ENVIRONMENT=production``."""
    if environ.get("OMNI311_ENVIRONMENT", "development").strip().lower() == "production":
        raise ProductionRefused("OMNI311_ENVIRONMENT=production: the development channel secrets and the local "
                                "fakes of Twilio, Graph and Mastodon are never used in production; set the "
                                "OMNI311_TWILIO_*, OMNI311_META_* and OMNI311_MASTODON_* variables yourself")


def _new_secrets() -> DevSecrets:
    hex_ = random.token_hex
    return DevSecrets(
        twilio_account_sid="AC" + hex_(16),  # Twilio's shape: AC + 32 hex digits
        twilio_auth_token="devonly" + hex_(13),
        meta_app_secret="dev-only-meta-app-secret-" + hex_(16),
        meta_verify_token="dev-only-verify-" + hex_(8),
        meta_access_token="dev-only-graph-token-" + hex_(16),
        mastodon_access_token="dev-only-mastodon-token-" + hex_(16),
    )


def load_or_create(path: Path | None = None) -> DevSecrets:
    """The secrets in `path` (JSON; default `SECRETS_FILE`), made and written there (mode 0600) when the file is missing; a file
    made by an older version without some key gets that key added. Raises `OSError` when it cannot be
    read or written, `ValueError` for a file that is not a JSON object."""
    path = path or SECRETS_FILE
    made = asdict(_new_secrets())
    stored: dict[str, str] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: not a JSON object; delete it to make new development secrets")
        stored = {k: str(v) for k, v in loaded.items() if k in made}
    if stored.keys() != made.keys():
        stored = made | stored
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored | {"_note": "development only (make run); never used in production"},
                                  indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return DevSecrets(**stored)


def channel_env(s: DevSecrets) -> dict[str, str]:
    """The ``OMNI311_*`` variables of the channel services (and of the fakes, which check the same
    credentials) for a local stack: secrets, and every outside API's base URL pointed at its fake."""
    sms_voice = f"http://127.0.0.1:{SERVICE_PORTS['intake_sms_voice']}"
    graph = f"{fake_url('graph')}/{GRAPH_VERSION}"
    return {
        # intake_sms_voice (webhook signatures, media downloads) and the notifier (sending).
        "OMNI311_TWILIO_ACCOUNT_SID": s.twilio_account_sid,
        "OMNI311_TWILIO_AUTH_TOKEN": s.twilio_auth_token,
        "OMNI311_TWILIO_FROM_NUMBER": TWILIO_NUMBER,
        "OMNI311_TWILIO_API_BASE_URL": fake_url("twilio"),
        # What the simulator signs and the status callback the notifier asks for (no proxy locally).
        "OMNI311_TWILIO_PUBLIC_BASE_URL": sms_voice,
        # The fakes serve media from 127.0.0.1 over http: downloads from there are refused unless allowed.
        "OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE": "true",
        # intake_social (webhook signatures, media URLs) and the notifier (Send API, WhatsApp Cloud).
        "OMNI311_META_APP_SECRET": s.meta_app_secret,
        "OMNI311_META_VERIFY_TOKEN": s.meta_verify_token,
        "OMNI311_META_ACCESS_TOKEN": s.meta_access_token,
        "OMNI311_META_GRAPH_URL": graph,
        "OMNI311_META_GRAPH_BASE_URL": graph,
        "OMNI311_META_WHATSAPP_PHONE_NUMBER_ID": WHATSAPP_PHONE_NUMBER_ID,
        "OMNI311_META_MEDIA_ALLOW_PRIVATE": "true",
        # intake_social's mention watcher (polled: the fake has no stream) and the notifier's replies.
        "OMNI311_MASTODON_API_BASE_URL": fake_url("mastodon"),
        "OMNI311_MASTODON_ACCESS_TOKEN": s.mastodon_access_token,
        "OMNI311_MASTODON_STREAMING": "false",
        "OMNI311_MASTODON_POLL_INTERVAL_S": "5",
        # The webhooks service: a subscriber on this machine listens on 127.0.0.1 over http.
        "OMNI311_WEBHOOKS_ALLOW_PRIVATE": "true",
    }


def effective_env(environ: Mapping[str, str], path: Path | None = None) -> dict[str, str]:
    """`channel_env` of the checkout's secrets, each value replaced by `environ`'s when set there (what
    run.sh exports and the services see). Raises `ProductionRefused` in production."""
    refuse_in_production(environ)
    return {k: environ.get(k) or v for k, v in channel_env(load_or_create(path)).items()}
