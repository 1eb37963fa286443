"""What intake_social tells its operators: a log line and a counter for every item of a delivery or a
poll (`omni311_social_outcomes`: unsupported kinds by their name, withdrawn messages, follow-ups included), WhatsApp delivery statuses, refused signatures and Mastodon polls,
all on the service's `/metrics`. Logs carry event ids, never a sender's text or address."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from prometheus_client import Counter

from services.intake_social.domain.outcomes import Inbound, Outcome, Rejected, StatusReported, Unsupported, Withdrawn
from shared.service import Runtime


class Reporting:
    """The counters on `rt.metrics` and the reporter each source (`meta`, `mastodon`) hands its outcomes to."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.outcomes = Counter("omni311_social_outcomes", "Items of social deliveries by outcome",
                                ["source", "channel", "kind", "reason"], registry=rt.metrics)
        self.statuses = Counter("omni311_social_delivery_statuses", "Delivery statuses reported by the platforms",
                                ["channel", "status"], registry=rt.metrics)
        self.refused = Counter("omni311_social_signature_refused", "Webhook deliveries refused for their signature",
                               registry=rt.metrics)
        self.polls = Counter("omni311_social_mastodon_polls", "Mastodon mention polls by result", ["result"],
                             registry=rt.metrics)

    def reporter(self, source: str) -> Callable[[Outcome], None]:
        """`report(outcome)` for the items read from `source`."""
        return partial(self.report, source)

    def report(self, source: str, o: Outcome) -> None:
        """Count outcome `o` of an item read from `source` and log it (event ids and rules only, never a
        sender's text or address)."""
        log = self.rt.log
        channel = getattr(o, "channel", None) or (o.message.channel if isinstance(o, Inbound) else "unknown")
        self.outcomes.labels(source, channel, o.kind, o.reason).inc()
        if isinstance(o, Inbound):
            self.rt.handled.labels(o.message.event_type).inc()
            # Webhook messages are on Kafka by now; mentions are in the outbox, relayed right after.
            log.info("intake_published" if source == "meta" else "intake_queued", channel=channel,
                     event_id=str(o.event_id), has_point=o.message.lat is not None, media=len(o.message.media_url),
                     conversation=o.message.attributes.get("conversation"),
                     location_check=(o.message.attributes.get("location_check") or {}).get("verdict"))
            for note in o.notes:
                log.warning("intake_note", channel=channel, event_id=str(o.event_id), note=note)
        elif isinstance(o, StatusReported):
            st = o.status
            self.statuses.labels(channel, st.status).inc()
            # Published as `intake.delivery_status_received` (the notifier records it); counted here.
            log.info("delivery_status", channel=channel, status=st.status,
                     provider_message_id=st.provider_message_id, errors=[f"{e.code} {e.title}" for e in st.errors])
        elif isinstance(o, Unsupported):
            # Kept raw (GET /problems) and announced: the notifier asks the resident to write it as text.
            log.warning("message_unsupported", channel=channel, event_id=str(o.event_id), kind=o.message.kind)
        elif isinstance(o, Withdrawn):
            log.info("message_withdrawn", channel=channel, event_id=str(o.event_id))
        elif isinstance(o, Rejected):
            log.warning("item_rejected", source=source, channel=channel, reason=o.reason, where=o.where,
                        detail=o.detail)
        else:
            log.info("item_not_a_message", source=source, channel=channel, kind=o.kind, reason=o.reason)
