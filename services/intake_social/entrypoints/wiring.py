"""The real dependencies of intake_social's webhook, built once in `create_app` and opened for the
service's lifetime: the case service's client, the media keeper (both started and stopped with the
service), and what the jurisdiction says about places (its boundary, its service keywords)."""

from __future__ import annotations

from services.intake_social.adapters.media import MetaMedia
from services.intake_social.config import SERVICE, SocialSettings, media_base_url
from services.intake_social.service_layer.webhooks import Place
from shared.intake import CaseApiClient
from shared.intake.conversation import services_named
from shared.jurisdiction import Jurisdiction
from shared.media import MediaLimits, MediaStore
from shared.service import Runtime


def case_api_client(rt: Runtime) -> CaseApiClient:
    """The case service's read API at `Settings.case_api_url`, open while the service runs."""
    client = CaseApiClient(rt.settings.case_api_url)
    rt.on_start.append(client.start)
    rt.on_stop.append(client.stop)
    return client


def place_of(jur: Jurisdiction) -> Place:
    """The jurisdiction's boundary (`contains`), the services its keywords name in a text (every
    language's keywords, `shared.intake.conversation.services_named`) and its first locale (`language`)."""
    keywords = [(svc.service_code, kw.text) for svc in jur.services for kws in svc.keywords.values() for kw in kws]
    return Place(contains=jur.contains, names_service=lambda text: services_named(text, keywords),
                 language=jur.locales[0] if jur.locales else "en")


def media_keeper(rt: Runtime, cfg: SocialSettings) -> MetaMedia:
    """The downloader that keeps a Meta message's files in the schema's media table, open while the
    service runs (`META_ACCESS_TOKEN` for WhatsApp media ids, `META_MEDIA_*` limits, our public base)."""
    keeper = MetaMedia(lambda: MediaStore(rt.db, SERVICE), graph_url=cfg.meta_graph_url,
                       access_token=cfg.meta_access_token.get_secret_value() if cfg.meta_access_token else None,
                       base_url=media_base_url(rt.settings, cfg),
                       limits=MediaLimits(timeout_s=cfg.meta_media_timeout_s, allow_private=cfg.meta_media_allow_private))
    rt.on_start.append(keeper.start)
    rt.on_stop.append(keeper.stop)
    return keeper
