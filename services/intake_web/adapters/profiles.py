"""intake_web's client of the notifier's profile API (docs/integrations.md section 3, "One resident profile
across channels"): the portal's "Link my email and phone" page starts a link (both codes are sent) and
confirms it with the two codes. Internal routes: no staff token, but the header ``X-Omni311-Internal-Token``
when `OMNI311_NOTIFIER_INTERNAL_TOKEN` is set (the notifier then refuses a call without it); the notifier
owns the addresses and the codes. Opened in the app's lifespan (`shared.http_client.PooledHttpClient`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.http_client import PooledHttpClient

PROFILE_API_TIMEOUT_S = 10.0
"""How long the portal waits for the notifier (seconds): starting a link sends a text and a mail."""


INTERNAL_HEADER = "X-Omni311-Internal-Token"
"""The header the notifier's internal routes check when `OMNI311_NOTIFIER_INTERNAL_TOKEN` is set."""


class ProfileClientSettings(BaseSettings):
    """What the portal needs to call the notifier's internal routes, read in `create_app`:
    ``OMNI311_NOTIFIER_INTERNAL_TOKEN`` (the notifier's own setting of the same name; unset: none sent)."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)

    notifier_internal_token: SecretStr | None = Field(default=None, description="sent as X-Omni311-Internal-Token")


class ProfileLinkError(Exception):
    """The notifier refused a link or a confirmation; `status` is its HTTP status, `reason` its words."""

    status = 400

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class LinkInvalid(ProfileLinkError):
    """422 on ``POST /profile-links``: the address or the number is not one (nothing was sent)."""

    status = 422


class LinkRateLimited(ProfileLinkError):
    """429: more than 3 link requests for this address or number in the hour (nothing was sent)."""

    status = 429


class CodeMismatch(ProfileLinkError):
    """422 ``code_mismatch``: a code does not match; `attempts_left` tries remain (nothing linked)."""

    status = 422

    def __init__(self, attempts_left: int, reason: str = "code_mismatch") -> None:
        super().__init__(reason)
        self.attempts_left = attempts_left


class LinkExpired(ProfileLinkError):
    """410: the link is older than 10 minutes or out of tries (nothing linked; start again)."""

    status = 410


class LinkUnknown(ProfileLinkError):
    """404: the notifier knows no such link."""

    status = 404


class ProfilesUnavailable(ProfileLinkError):
    """The notifier did not answer in time, answered 5xx, or answered a body we cannot read."""

    status = 503


class LinkStarted(BaseModel):
    """``POST /profile-links`` 201: the link's id and when its codes expire (aware UTC)."""

    link_id: str
    expires_at: datetime


class LinkedContact(BaseModel):
    """One contact of a profile as a resident may see it: its contact key, kind and masked address."""

    contact_key: str
    kind: str
    masked: str


class Linked(BaseModel):
    """``POST /profile-links/{id}/confirm`` 200: the profile and its contacts (masked)."""

    profile_id: str
    contacts: list[LinkedContact]


@dataclass(frozen=True)
class LinkRequest:
    """What the resident typed: `email`, `phone` (E.164), the preferred channel and the language."""

    email: str
    phone: str
    preferred_channel: Literal["email", "sms"]
    language: Literal["en", "fr"]


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return body.get("detail", body) if isinstance(body, dict) else body


def _words(detail: Any) -> str:
    if isinstance(detail, dict):
        return str(detail.get("error") or detail.get("reason") or detail.get("message") or detail)[:300]
    return str(detail)[:300]


def _attempts_left(response: httpx.Response) -> int | None:
    """``attempts_left`` wherever the 422 puts it: the body, or its FastAPI ``detail`` object."""
    try:
        body = response.json()
    except ValueError:
        return None
    for where in (body, body.get("detail") if isinstance(body, dict) else None):
        if isinstance(where, dict) and isinstance(where.get("attempts_left"), int):
            return int(where["attempts_left"])
    return None


class NotifierProfiles(PooledHttpClient):
    """`service_layer.profile_link.ProfileLinks` over HTTP (`OMNI311_NOTIFIER_API_URL`). Every method raises
    a `ProfileLinkError` subclass for a refusal and `ProfilesUnavailable` when the notifier cannot tell."""

    def __init__(self, base_url: str, timeout_s: float = PROFILE_API_TIMEOUT_S, *,
                 internal_token: str | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url.rstrip("/"), timeout_s, transport=transport)
        self._headers = {"Accept": "application/json", **({INTERNAL_HEADER: internal_token} if internal_token else {})}

    @classmethod
    def configured(cls, base_url: str) -> NotifierProfiles:
        """The client of `base_url` (``Settings.notifier_api_url``) with the internal token of
        `ProfileClientSettings` (read now: call inside `create_app`)."""
        token = ProfileClientSettings().notifier_internal_token
        return cls(base_url, internal_token=token.get_secret_value() if token else None)

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if self._http is None:
            await self.start()
        assert self._http is not None
        try:
            response = await self._http.post(path, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ProfilesUnavailable(f"the notifier did not answer ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise ProfilesUnavailable(f"the notifier answered {response.status_code}")
        return response

    async def start_link(self, request: LinkRequest) -> LinkStarted:
        """``POST /profile-links`` with ``{email, phone, preferred_channel, language}``: the notifier sends
        a six-digit code by SMS and another by email. Raises `LinkInvalid` (422), `LinkRateLimited` (429)."""
        r = await self._post("/profile-links", {"email": request.email, "phone": request.phone,
                                                "preferred_channel": request.preferred_channel,
                                                "language": request.language})
        if r.status_code == 429:
            raise LinkRateLimited(_words(_detail(r)))
        if r.status_code in (400, 422):
            raise LinkInvalid(_words(_detail(r)))
        if r.status_code not in (200, 201):
            raise ProfilesUnavailable(f"the notifier answered {r.status_code} to a link request")
        try:
            return LinkStarted.model_validate(r.json())
        except (ValueError, ValidationError) as exc:
            raise ProfilesUnavailable("the notifier answered a link that is not {link_id, expires_at}") from exc

    async def confirm(self, link_id: str, *, email_code: str, sms_code: str) -> Linked:
        """``POST /profile-links/{link_id}/confirm`` with ``{email_code, sms_code}``: the profile linked.
        Raises `CodeMismatch` (422, with the tries left), `LinkExpired` (410), `LinkUnknown` (404)."""
        r = await self._post(f"/profile-links/{quote(link_id, safe='')}/confirm",
                             {"email_code": email_code, "sms_code": sms_code})
        if r.status_code == 422:
            left = _attempts_left(r)
            if left is None:
                raise LinkInvalid(_words(_detail(r)))
            raise CodeMismatch(left)
        if r.status_code == 410:
            raise LinkExpired(_words(_detail(r)))
        if r.status_code == 404:
            raise LinkUnknown(_words(_detail(r)))
        if r.status_code == 429:
            raise LinkRateLimited(_words(_detail(r)))
        if r.status_code != 200:
            raise ProfilesUnavailable(f"the notifier answered {r.status_code} to a confirmation")
        try:
            return Linked.model_validate(r.json())
        except (ValueError, ValidationError) as exc:
            raise ProfilesUnavailable("the notifier answered a profile that is not {profile_id, contacts}") from exc
