"""intake_social bootstrap: Meta webhooks (Messenger, Instagram, WhatsApp Cloud) and Mastodon mentions.

Produces `intake.message_received` (and `intake.delivery_status_received`) on `intake.messages`: webhook
messages are published with acks=all before the webhook is answered (`shared.intake`); Mastodon mentions go
through the outbox together with the poll cursor, the only state this service owns (schema
`intake_social`, with the erasure log). Consumes `case.personal_data_erased` on `cases.lifecycle`
(empties the published outbox copies of a case's mentions). Routes: `entrypoints/meta.py`; the mention
watcher: `entrypoints/mastodon.py`; the subscription: `entrypoints/kafka.py`.
"""

from __future__ import annotations

from typing import Any

from services.intake_social.adapters.erasure import ErasureRepository
from services.intake_social.config import SERVICE, SocialSettings
from services.intake_social.entrypoints import kafka, meta
from services.intake_social.entrypoints import mastodon as mentions
from services.intake_social.entrypoints.reporting import Reporting
from services.intake_social.service_layer import erasure
from services.intake_social.service_layer.webhooks import Publish
from shared.intake import KafkaIntakePublisher
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, social: SocialSettings | None = None,
               publish: Publish | None = None, mastodon: Any = None) -> Any:
    """Build intake_social (FastAPI app; Kafka and PostgreSQL live in its lifespan).

    `publish` replaces the Kafka publisher of webhook messages and `mastodon` the Mastodon.py source
    (tests); both default to the real ones. Mentions are read when Mastodon is configured (or a source
    is given).
    """
    s = settings or Settings()
    cfg = social or SocialSettings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_social", title="omni311 social intake")
    reporting = Reporting(rt)
    meta.mount(rt, cfg, publish or KafkaIntakePublisher(rt.broker, s.topic).publish, reporting)
    if cfg.mastodon_enabled() or mastodon is not None:
        mentions.watch(rt, cfg, mastodon, reporting)
    table = erasure.handlers()
    kafka.subscribe(rt, rt.event_handler(lambda: table, ErasureRepository))
    return rt.app
