"""The Mastodon mention intake for the service's lifetime: started once the pool is open (the account
through Mastodon.py, the cursors in PostgreSQL), stopped before it closes. What it does — poll since the
persisted cursor, the user stream as a wake-up, the mentions through the outbox with the cursor — is
`service_layer/mentions.py`'s `MentionIntake`."""

from __future__ import annotations

from typing import Any

from services.intake_social.adapters.cursors import PgCursorStore
from services.intake_social.adapters.mastodon_api import MastodonApi
from services.intake_social.config import SERVICE, SocialSettings
from services.intake_social.entrypoints.reporting import Reporting
from services.intake_social.service_layer.mentions import MentionIntake
from shared.service import Runtime


def watch(rt: Runtime, cfg: SocialSettings, source: Any, reporting: Reporting, language: str = "en") -> None:
    """Run the mention intake between the service's start and stop. `source` is the Mastodon source
    (tests); None builds the Mastodon.py one from `cfg` at start. `language`: the jurisdiction's first
    locale (a mention whose status and words name none)."""
    running: list[MentionIntake] = []

    async def start() -> None:
        """Once the pool is open: reach the account and start polling."""
        account = source if source is not None else _account(cfg)
        intake = MentionIntake(account, PgCursorStore(rt.db, SERVICE), cfg, report=reporting.reporter("mastodon"),
                               counted=lambda result: reporting.polls.labels(result).inc(), clock=rt.clock,
                               log=rt.log, producer=SERVICE, language=language)
        running.append(intake)
        intake.start()

    async def stop() -> None:
        """Before the pool closes: stop polling and close the stream."""
        for intake in running:
            await intake.stop()

    rt.on_start.append(start)
    rt.on_stop.append(stop)


def _account(cfg: SocialSettings) -> MastodonApi:
    """The city's account through Mastodon.py, from `mastodon_api_base_url` and `mastodon_access_token`."""
    assert cfg.mastodon_api_base_url and cfg.mastodon_access_token
    return MastodonApi(cfg.mastodon_api_base_url, cfg.mastodon_access_token.get_secret_value(),
                       request_timeout_s=cfg.mastodon_request_timeout_s)
