"""intake_web's two ways in: an Open311 POST Service Request and a call agent's phone request each become
one `intake.message_received` envelope, published (acks=all) before the sender gets an answer."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from aiokafka.errors import KafkaError

from services.intake_web.domain.agent import (
    agent_event_id_for,
    default_region,
    message_from_agent,
    parse_submission,
)
from services.intake_web.domain.intake import (
    client_id_for,
    event_id_for,
    form_digest,
    media_photo_id,
    message_from_post,
    token_for,
)
from services.intake_web.domain.limits import (
    Problem,
    Refused,
    attribute_answers,
    check_jurisdiction,
    field_values,
    place_problem,
    reported_point,
    requested_at,
)
from services.intake_web.domain.portal import PortalReport, message_from_portal, portal_token, web_event_id
from services.intake_web.service_layer.deps import Deps
from shared.events import Envelope, MessageReceived
from shared.open311 import InvalidPostServiceRequest, parse_post_form


@dataclass(frozen=True)
class Accepted:
    """A published submission: its `token` (Open311 token, or the agent submission's), its envelope and,
    for an agent's, the client's `request_id`."""

    token: str
    envelope: Envelope
    request_id: str | None = None


StoreMedia = Callable[..., Awaitable[Any]]
"""Keeps an uploaded image as ``store_media(deps, data, photo_id=...)`` and returns what it kept, with its
public `url` (`service_layer.portal.store_photo`); storing the same `photo_id` again keeps one photo."""


async def submit_post(deps: Deps, form: Mapping[str, Any], *, services_url: str,
                      idempotency_key: str | None = None, language: str | None = None,
                      media: bytes | None = None, store_media: StoreMedia | None = None) -> Accepted:
    """Accept one Open311 GeoReport v2 POST Service Request (`form`: its fields, `api_key` included).

    The token is random (`deps.new_id()`), or derived from the `Idempotency-Key` header and the form so a
    retried POST is the same event (`domain.intake.token_for`). `services_url` (e.g. ``/services.json``)
    is where an error about an unknown `service_code` points the client. Raises `Refused`:
    `Problem.NOT_OFFERED` for a `jurisdiction_id` (form field) that is not ours; `Problem.FORBIDDEN` without
    a known api_key; `Problem.INVALID` for a form that breaks GeoReport v2, a service or place this
    jurisdiction does not serve (a point refused by the location check, `domain.limits.place_problem`: a 0,0
    placeholder or a point off the Earth is ignored when an address came with it, the report published
    without it and the verdict kept as ``attributes.location_check``), answers its service's attributes do
    not allow (each naming the attribute code; `domain.limits.attribute_answers`), or a
    `requested_datetime` out of bounds, or a `media` file
    sent with a `media_url` too, or where no photo store is wired (`deps.portal`). The answers kept are
    published as the message's `attributes`. `media` (an uploaded image's bytes) is kept by `store_media`
    once every check passed, and its URL is the message's `media_url`; a retried POST with the same
    `Idempotency-Key` and file is the same token (its digest counts the file), and the photo's id derives
    from the token (`domain.intake.media_photo_id`): the retry keeps the same photo and publishes the same
    `media_url`, so the same event id never carries two URLs; once published, the photo is recorded as used
    by `token` (erased with the case, `service_layer.erasure`). `store_media` raises what
    it raises (`UploadTooLarge`, `NotAnImage`), and nothing is published then.
    """
    check_jurisdiction(field_values(form, "jurisdiction_id"), deps.jurisdiction.id)
    api_key = str(form.get("api_key") or "")
    if api_key not in deps.api_keys:
        raise Refused(Problem.FORBIDDEN, "a valid api_key is required to submit service requests")
    try:
        req = parse_post_form(form)
    except InvalidPostServiceRequest as exc:
        raise Refused(Problem.INVALID, *(error.description for error in exc.errors)) from exc
    problem = place_problem(req, service_codes=deps.service_codes, contains=deps.jurisdiction.contains,
                            services_url=services_url)
    if problem:
        raise Refused(Problem.INVALID, problem)
    answers = attribute_answers(req, deps.jurisdiction.service(req.service_code) if req.service_code else None)
    if media is not None and req.media_url:
        raise Refused(Problem.INVALID, "send a media file or a media_url, not both")
    if media is not None and (store_media is None or deps.portal is None):
        raise Refused(Problem.INVALID, "media files are not taken here; send a media_url")
    now = deps.clock()
    raw_requested = form.get("requested_datetime")
    requested = requested_at(str(raw_requested) if raw_requested else None, now)
    digest = form_digest(form) + (hashlib.sha256(media).hexdigest() if media is not None else "")
    token = token_for(api_key, idempotency_key, digest, fresh=deps.new_id())
    message = message_from_post(req, token=token, client_id=client_id_for(api_key), now=now, language=language)
    point = reported_point(req, deps.jurisdiction.contains)
    checked = {"location_check": point.location_check} if point.location_check else {}
    update: dict[str, Any] = {"requested_datetime": requested, "attributes": {**answers, **checked},
                              "lat": point.lat, "long": point.long}
    photo_id = media_photo_id(token) if media is not None and store_media is not None else None
    if media is not None and store_media is not None:
        update["media_url"] = [(await store_media(deps, media, photo_id=photo_id)).url]
    message = message.model_copy(update=update)
    env = await _publish(deps, message, event_id=event_id_for(token), now=now)
    if photo_id is not None:  # after the publish: a crash between leaves the photo unused (swept), not kept
        await deps.site.store.use_photos(token=token, photo_ids=[photo_id], now=now)
    deps.log.info("intake_published", channel="open311", event_id=str(env.event_id),
                  correlation_id=str(env.correlation_id), has_point=point.lat is not None,
                  location_check=point.location_check["verdict"] if point.location_check else None)
    return Accepted(token=token, envelope=env)


async def log_agent_request(deps: Deps, body: Any, *, agent_id: str, language: str | None = None) -> Accepted:
    """Accept one phone request a call agent logged (`body`: the JSON of ``POST /agent/requests``, see
    `domain.agent.parse_submission`). The same agent re-sending the same `request_id` gets the same token
    and event. Raises `Refused` (`Problem.INVALID`) with one description per problem of the submission."""
    jur = deps.jurisdiction
    sub = parse_submission(body, service_codes=deps.service_codes,
                           default_region=default_region(jur, deps.agent.default_region),
                           contains=jur.contains)
    if isinstance(sub, list):
        raise Refused(Problem.INVALID, *sub)
    now = deps.clock()
    message = message_from_agent(sub, agent_id=agent_id, now=now, language=language)
    env = await _publish(deps, message, event_id=agent_event_id_for(message.channel_message_id), now=now)
    deps.log.info("intake_published", channel="phone", agent_id=agent_id, event_id=str(env.event_id),
                  correlation_id=str(env.correlation_id), has_point=sub.lat is not None)
    return Accepted(token=message.channel_message_id, envelope=env, request_id=sub.request_id)


async def submit_web(deps: Deps, report: PortalReport, *, language: str | None) -> Accepted:
    """Publish one resident portal report, already checked by `service_layer.portal.read_report` (the
    Open311 POST's checks, attributes included, plus the portal's): channel ``web``, a fresh token
    (``web-<uuid>``), keyed by the resident's contact key. Raises `PublishFailed` when Kafka did not take
    it."""
    now = deps.clock()
    token = portal_token(deps.new_id())
    message = message_from_portal(report, token=token, now=now, language=language)
    env = await _publish(deps, message, event_id=web_event_id("report", token), now=now)
    deps.log.info("intake_published", channel="web", event_id=str(env.event_id),
                  correlation_id=str(env.correlation_id), has_point=report.lat is not None,
                  photos=len(report.media_url))
    return Accepted(token=token, envelope=env)


class PublishFailed(RuntimeError):
    """Kafka did not take the event (not acknowledged, unreachable, timed out): nothing was accepted, the
    sender may send it again in a moment (the same token is the same event)."""


async def _publish(deps: Deps, message: MessageReceived, *, event_id: UUID, now: datetime) -> Envelope:
    """Start a flow with `message` (keyed by the reporter's contact key) and publish it. Raises
    `PublishFailed` when the broker did not acknowledge it."""
    env = Envelope.new_flow(message, subject=message.contact_key, producer=deps.producer, now=now,
                            event_id=event_id)
    try:
        await deps.publisher.publish(env)
    except (KafkaError, TimeoutError, OSError) as exc:
        deps.log.warning("intake_publish_failed", event_id=str(env.event_id), error=repr(exc)[:300])
        raise PublishFailed(str(exc)) from exc
    return env
