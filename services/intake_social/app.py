"""intake_social bootstrap: Meta webhooks (Messenger, Instagram, WhatsApp Cloud) and Mastodon mentions.

Produces `intake.message_received` (and `intake.delivery_status_received`) on `intake.messages`: webhook
messages are published with acks=all before the webhook is answered (`shared.intake`), as are
`intake.message_unsupported` and `intake.message_withdrawn`; Mastodon mentions go through the outbox
together with the poll cursor. Owns schema `intake_social`: poll cursors, conversations (each contact's last
report per Meta channel), unsupported messages kept raw, the erasure log. Reads cases through the case
service's API (is a report's case still open?). Consumes `case.personal_data_erased` on `cases.lifecycle`
(empties the published outbox copies of a case's mentions, the raw unsupported items and the
conversations that name it). Routes: `entrypoints/meta.py`; the mention watcher: `entrypoints/mastodon.py`;
the subscription: `entrypoints/kafka.py`.
"""

from __future__ import annotations

from typing import Any

from services.intake_social.adapters.conversations import PgConversations
from services.intake_social.adapters.erasure import ErasureRepository
from services.intake_social.adapters.unsupported import PgUnsupported
from services.intake_social.config import SERVICE, SocialSettings
from services.intake_social.entrypoints import kafka, meta, wiring
from services.intake_social.entrypoints import mastodon as mentions
from services.intake_social.entrypoints.reporting import Reporting
from services.intake_social.service_layer import erasure
from services.intake_social.service_layer.webhooks import ConversationStore, MediaKeeper, Publish, UnsupportedStore
from shared.auth import TokenVerifier, install_auth
from shared.intake import CaseApi, KafkaIntakePublisher
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, social: SocialSettings | None = None,
               publish: Publish | None = None, mastodon: Any = None, case_api: CaseApi | None = None,
               conversations: ConversationStore | None = None, unsupported: UnsupportedStore | None = None,
               jurisdiction: Jurisdiction | None = None, media: MediaKeeper | None = None) -> Any:
    """Build intake_social (FastAPI app; Kafka and PostgreSQL live in its lifespan).

    `publish` replaces the Kafka publisher of webhook messages, `mastodon` the Mastodon.py source,
    `case_api` the case service's client, `conversations` and `unsupported` the PostgreSQL stores of the
    webhook, `media` the downloader that keeps a message's files (tests); all default to the real ones
    (`entrypoints/wiring.py`). `jurisdiction` defaults to `Settings.jurisdiction`'s (its boundary for the
    location check, its keywords for the conversation rule). Mentions are read when
    Mastodon is configured (or a source is given). Staff routes (`GET /problems`) verify bearer tokens
    with `settings`' `auth_*`.
    """
    s = settings or Settings()
    cfg = social or SocialSettings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_social", title="omni311 social intake")
    install_auth(rt.app, TokenVerifier(s))
    reporting = Reporting(rt)
    place = wiring.place_of(jurisdiction or load_jurisdiction(s.jurisdiction))
    stores = meta.Stores(conversations=conversations or PgConversations(lambda: rt.db),
                         unsupported=unsupported or PgUnsupported(lambda: rt.db),
                         case_api=case_api or wiring.case_api_client(rt), place=place,
                         media=media or wiring.media_keeper(rt, cfg))
    meta.mount(rt, cfg, publish or KafkaIntakePublisher(rt.broker, s.topic).publish, reporting, stores)
    if cfg.mastodon_enabled() or mastodon is not None:
        mentions.watch(rt, cfg, mastodon, reporting, language=place.language)
    table = erasure.handlers()
    kafka.subscribe(rt, rt.event_handler(lambda: table, ErasureRepository))
    return rt.app

