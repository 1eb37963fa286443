"""The webhooks rules, pure: which subscriptions an event matches, what a payload keeps, the Standard Webhooks
headers, the retry backoff and the pause (docs/integrations.md, section 1)."""

from services.webhooks.domain.model import (
    CaseFacts,
    DepartmentOf,
    Filters,
    Outcome,
    RetryPolicy,
    SubscriptionView,
    AfterAttempt,
    after_attempt,
    body_text,
    signing_secrets,
    backoff_s,
    case_facts_after,
    matches,
    message_body,
    new_secret,
    signature_headers,
    scrub_data,
    webhook_id,
)

__all__ = ["AfterAttempt", "body_text", "signing_secrets", "CaseFacts", "DepartmentOf", "Filters", "Outcome", "RetryPolicy", "SubscriptionView", "after_attempt",
           "backoff_s", "case_facts_after", "matches", "message_body", "new_secret", "scrub_data",
           "signature_headers", "webhook_id"]
