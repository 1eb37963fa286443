"""The real dependencies of intake_sms_voice, built once in `create_app` and opened for the service's
lifetime: the case service's client and the media keeper (started and stopped with the service, its files
served at `GET /media/{media_id}`)."""

from __future__ import annotations

from services.intake_sms_voice.adapters.twilio_media import TwilioMedia
from services.intake_sms_voice.config import SERVICE, TwilioSettings, media_base_url
from shared.intake import CaseApiClient
from shared.media import MediaLimits, MediaStore, mount_media
from shared.service import Runtime


def case_api_client(rt: Runtime) -> CaseApiClient:
    """The case service's read API at `Settings.case_api_url`, open while the service runs."""
    client = CaseApiClient(rt.settings.case_api_url)
    rt.on_start.append(client.start)
    rt.on_stop.append(client.stop)
    return client


def media_keeper(rt: Runtime, tw: TwilioSettings) -> TwilioMedia:
    """Twilio's media URLs, downloaded into the service's schema (`shared.media`), opened and closed with
    the service; its files served at `GET /media/{media_id}`."""
    keeper = TwilioMedia(tw.auth_token.get_secret_value() if tw.auth_token else "",
                         store=lambda: MediaStore(rt.db, SERVICE), base_url=media_base_url(rt.settings, tw),
                         limits=MediaLimits(timeout_s=10.0, allow_private=tw.media_allow_private))
    rt.on_start.append(keeper.start)
    rt.on_stop.append(keeper.stop)
    mount_media(rt.app, lambda _request: MediaStore(rt.db, SERVICE))
    return keeper
