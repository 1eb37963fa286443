"""The forwarder's handlers (docs/integrations.md, "Open311 forwarding"): a routed case is planned for each
endpoint that maps its service code (in the event's unit of work); a due send reads the case from the case
API, posts it and records the answer; a due poll resolves tokens and reads the statuses; staff send a
given-up case again. Every state change and the event announcing it are one unit of work; no HTTP
exchange happens while a transaction is open (the row is leased first, the answer recorded after)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from services.forwarder.adapters.repository import ForwarderRepository
from services.forwarder.domain import answers
from services.forwarder.domain.answers import Accepted, Answer, Failed
from services.forwarder.domain.forwards import (
    POLLED,
    RETRYABLE_BY_STAFF,
    Reading,
    changed,
    clean_text,
    idempotency_key,
    next_attempt,
    plan,
    post_form,
    reading_of,
    short_error,
)
from shared.events import CaseOpened, CaseRouted
from shared.events.forwarding import CaseForwarded, ForwardFailed, StatusReported
from shared.intake import CaseApiRefused, CaseApiUnavailable
from shared.jurisdiction.forwarding import MAX_IDS_PER_POLL, ForwardingEndpoint, ForwardingSpec
from shared.logs import get_logger
from shared.open311 import ServiceRequest
from shared.service_layer import Handlers, UnitOfWork

log = get_logger(__name__)

Uow = UnitOfWork[ForwarderRepository]


async def case_routed(payload: CaseRouted, uow: Uow, *, forwarding: ForwardingSpec) -> str:
    """`case.routed`: plan one send, due now, for each endpoint mapping the case's service code (none
    again for an endpoint the case already has: a case is sent once per endpoint; a recategorisation to a
    code another endpoint maps plans a send there). Returns ``planned``, ``already_planned`` or
    ``not_forwarded``."""
    planned = plan(forwarding, payload.routing.service_code)
    if not planned:
        return "not_forwarded"
    added = 0
    for p in planned:
        added += await uow.repo.add(
            case_id=payload.case_id, endpoint=p.endpoint, service_request_id=payload.service_request_id,
            jurisdiction_id=payload.jurisdiction_id, service_code=payload.routing.service_code,
            external_service_code=p.external_service_code,
            correlation_id=uow.envelope.correlation_id if uow.envelope is not None else None,
            idempotency_key=idempotency_key(payload.case_id, p.endpoint), now=uow.now)
    return "planned" if added else "already_planned"


async def case_opened(payload: CaseOpened, uow: Uow, *, forwarding: ForwardingSpec) -> str:
    """`case.opened`: keep the answers to the case's Open311 attributes, sent with it as ``attribute[code]``
    (the case service's public read does not carry them); only in a jurisdiction that forwards, and only
    answers there are. Returns ``attributes_kept`` or ``nothing_to_keep``."""
    if not forwarding.endpoints or not payload.attributes:
        return "nothing_to_keep"
    await uow.repo.keep_attributes(payload.case_id, payload.attributes, uow.now)
    return "attributes_kept"


def handlers(forwarding: ForwardingSpec) -> Handlers:
    """What the forwarder consumes of `cases.lifecycle`: `case.opened` (its attribute answers) and
    `case.routed` (what to send where)."""
    return {CaseOpened.event_type: (CaseOpened, partial(case_opened, forwarding=forwarding)),
            CaseRouted.event_type: (CaseRouted, partial(case_routed, forwarding=forwarding))}


class Open311(Protocol):
    """The endpoints' HTTP client (`adapters.open311.Open311Client`)."""

    async def post_request(self, base_url: str, fmt: str, form: list[tuple[str, str]], *,
                           idempotency_key: str) -> Answer: ...

    async def token(self, base_url: str, fmt: str, token: str, *, jurisdiction_id: str | None = None) -> Answer: ...

    async def requests(self, base_url: str, fmt: str, ids: list[str], *,
                       jurisdiction_id: str | None = None) -> Answer: ...


class CaseReads(Protocol):
    """The case service's Open311 read (`shared.intake.CaseApiClient`)."""

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None: ...


@dataclass(frozen=True)
class Forwarding:
    """What the loop and the admin routes work with: the jurisdiction's `forwarding`, each endpoint's URL
    (`urls`, the file's or `OMNI311_FORWARDING_URLS`'), `api_key(name)`, the two HTTP clients, a
    `unit_of_work()` that claims nothing, the `clock`, the send backoff (seconds), the lease of a taken
    send (seconds), the sends per round and the region phone numbers are read in when descriptions are
    scrubbed."""

    forwarding: ForwardingSpec
    urls: dict[str, str]
    api_key: Callable[[str], str | None]
    client: Open311
    cases: CaseReads
    unit_of_work: Callable[[], Any]
    clock: Callable[[], datetime]
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    lease_s: float = 120.0
    batch: int = 20
    region: str = "US"


# --- sending -------------------------------------------------------------------------------------------


async def send_due(f: Forwarding) -> int:
    """Take the sends due now (leased, attempt counted) and make each; returns how many were taken."""
    now = f.clock()
    async with f.unit_of_work() as uow:
        rows = await uow.repo.take_due_sends(now, now + timedelta(seconds=f.lease_s), f.batch)
    for row in rows:
        try:
            await send_one(f, row)
        except Exception as exc:  # noqa: BLE001 - the row stays leased, then due again; the others go on
            log.error("send_crashed", case_id=str(row["case_id"]), endpoint=row["endpoint"], error=repr(exc)[:300])
    return len(rows)


async def send_one(f: Forwarding, row: dict[str, Any]) -> str:
    """One taken send: read the case, post it, record the answer. Returns the word recorded."""
    endpoint = f.forwarding.endpoint(row["endpoint"])
    if endpoint is None:
        return await record_send(f, row, Failed(f"endpoint {row['endpoint']!r} is no longer configured", retry=False))
    if row["attempts"] > endpoint.max_attempts:  # the last attempt was interrupted (a crash after the lease)
        return await record_send(f, row, Failed("send: interrupted, and it was the last attempt", retry=False),
                                 max_attempts=endpoint.max_attempts)
    try:
        case = await f.cases.request(row["service_request_id"])
    except (CaseApiUnavailable, CaseApiRefused) as exc:
        return await record_send(f, row, Failed(short_error(f"send: the case API did not answer ({exc})"), retry=True),
                                 max_attempts=endpoint.max_attempts)
    if case is None:
        return await record_send(f, row, Failed("send: the case API does not know the case", retry=True),
                                 max_attempts=endpoint.max_attempts)
    async with f.unit_of_work() as uow:
        attributes = await uow.repo.attributes(row["case_id"])
    form = post_form(case, endpoint, row["external_service_code"], f.api_key(endpoint.name), attributes=attributes,
                     region=f.region)
    answer = await f.client.post_request(f.urls[endpoint.name], endpoint.format, form,
                                         idempotency_key=row["idempotency_key"])
    outcome = answers.read_post_answer(answer, endpoint.format)
    if isinstance(outcome, Failed):  # an endpoint may quote the key it refused
        outcome = answers.without_secret(outcome, f.api_key(endpoint.name))
    return await record_send(f, row, outcome, max_attempts=endpoint.max_attempts,
                             poll_interval_s=endpoint.poll_interval_s)


async def record_send(f: Forwarding, row: dict[str, Any], outcome: Accepted | Failed, *, max_attempts: int = 1,
                      poll_interval_s: float = 300.0) -> str:
    """Record a send's outcome and announce it: `forwarding.case_forwarded` (state ``forwarded``, or
    ``awaiting_token`` for a token only; polled from `poll_interval_s` seconds on), or
    `forwarding.forward_failed` with the next attempt (state ``pending``), or none after the last attempt
    or a refusal (state ``failed`` or ``refused``). An id the endpoint already gave another of our cases
    is a refusal: its status reads would change both cases. Nothing is recorded when the row changed
    meanwhile (staff sent it again): returns ``stale``."""
    case_id, name = row["case_id"], row["endpoint"]
    async with f.unit_of_work() as uow:
        now = uow.now
        current = await uow.repo.get(case_id, name, lock=True)
        if current is None or current["state"] != "pending" or current["attempts"] != row["attempts"]:
            return "stale"
        if isinstance(outcome, Accepted) and outcome.service_request_id and await uow.repo.case_with_external_id(
                name, outcome.service_request_id, other_than=case_id):
            outcome = Failed("send: the endpoint answered an id it already gave another case", retry=False)
        if isinstance(outcome, Accepted):
            await uow.repo.update(
                case_id, name, now, state="forwarded" if outcome.service_request_id else "awaiting_token",
                external_service_request_id=outcome.service_request_id, token=outcome.token,
                service_notice=clean_text(outcome.service_notice), forwarded_at=now, next_attempt_at=None,
                last_error=None,
                next_poll_at=now + timedelta(seconds=poll_interval_s), poll_failures=0)
            await uow.emit(_forwarded(row, outcome.service_request_id, outcome.token, outcome.service_notice, now),
                           subject=case_id, correlation_id=row["correlation_id"])
            log.info("forwarded", case_id=str(case_id), endpoint=name, token_only=not outcome.service_request_id)
            return "forwarded"
        attempt = row["attempts"]
        retry_at = next_attempt(now, attempt, max_attempts, base_s=f.retry_base_s,
                                max_s=f.retry_max_s) if outcome.retry else None
        state = "pending" if retry_at is not None else ("failed" if outcome.retry else "refused")
        await uow.repo.update(case_id, name, now, state=state, next_attempt_at=retry_at, last_error=outcome.error)
        await uow.emit(ForwardFailed(case_id=case_id, service_request_id=row["service_request_id"],
                                     jurisdiction_id=row["jurisdiction_id"], endpoint=name, stage="send",
                                     attempt=attempt, error=outcome.error, retry_at=retry_at),
                       subject=case_id, correlation_id=row["correlation_id"])
        log.warning("forward_failed", case_id=str(case_id), endpoint=name, attempt=attempt, state=state,
                    error=outcome.error)
        return state


def _forwarded(row: dict[str, Any], external_id: str | None, token: str | None, notice: str | None,
               now: datetime) -> CaseForwarded:
    return CaseForwarded(case_id=row["case_id"], service_request_id=row["service_request_id"],
                         jurisdiction_id=row["jurisdiction_id"], endpoint=row["endpoint"],
                         external_service_request_id=external_id, token=token,
                         external_service_code=row["external_service_code"],
                         service_notice=clean_text(notice)[:2000] if notice else None, forwarded_at=now)


# --- polling -------------------------------------------------------------------------------------------


async def poll_due(f: Forwarding) -> int:
    """For every endpoint, take the forwards whose poll is due (leased one `poll_interval_s`), resolve their
    tokens and read their statuses; returns how many forwards were polled."""
    total = 0
    for endpoint in f.forwarding.endpoints:
        now = f.clock()
        async with f.unit_of_work() as uow:
            rows = await uow.repo.take_due_polls(endpoint.name, now, now + timedelta(seconds=endpoint.poll_interval_s),
                                                 MAX_IDS_PER_POLL * 10)
        if not rows:
            continue
        total += len(rows)
        try:
            await poll_endpoint(f, endpoint, rows)
        except Exception as exc:  # noqa: BLE001 - the rows are due again after the lease; the next endpoint goes on
            log.error("poll_crashed", endpoint=endpoint.name, error=repr(exc)[:300])
    return total


async def poll_endpoint(f: Forwarding, endpoint: ForwardingEndpoint, rows: list[dict[str, Any]]) -> None:
    """Resolve the tokens of `rows` awaiting one (``GET tokens/{token}``), then read the statuses of those
    forwarded (``GET requests?service_request_id=…``, `MAX_IDS_PER_POLL` ids a call) and record each; an
    item of the answer that cannot be read is a poll failure of its forward only
    (`answers.read_requests_by_item`)."""
    url, fmt = f.urls[endpoint.name], endpoint.format
    for row in (r for r in rows if r["state"] == "awaiting_token"):
        result = answers.read_token_answer(
            await f.client.token(url, fmt, row["token"], jurisdiction_id=endpoint.jurisdiction_id), fmt)
        if isinstance(result, Failed):
            error = answers.without_secret(result, f.api_key(endpoint.name)).error
            await record_poll_failure(f, row, error)
        elif result is not None:
            await record_token(f, row, result)
    forwarded = [r for r in rows if r["state"] == "forwarded"]
    for start in range(0, len(forwarded), MAX_IDS_PER_POLL):
        chunk = forwarded[start:start + MAX_IDS_PER_POLL]
        result = answers.read_requests_by_item(
            await f.client.requests(url, fmt, [r["external_service_request_id"] for r in chunk],
                                    jurisdiction_id=endpoint.jurisdiction_id), fmt)
        if isinstance(result, Failed):
            error = answers.without_secret(result, f.api_key(endpoint.name)).error
            for row in chunk:
                await record_poll_failure(f, row, error)
            continue
        read, unreadable = result
        found = {r.service_request_id: r for r in read}
        for row in chunk:
            request = found.get(row["external_service_request_id"])
            if request is not None:
                await record_reading(f, row, request)
            elif row["external_service_request_id"] in unreadable:
                reason = unreadable[row["external_service_request_id"]]
                await record_poll_failure(f, row, answers.without_secret(Failed(reason, True),
                                                                         f.api_key(endpoint.name)).error)


async def record_token(f: Forwarding, row: dict[str, Any], external_id: str) -> str:
    """The endpoint resolved the forward's token to `external_id`: state ``forwarded`` and a second
    `forwarding.case_forwarded`, with the id; an id it already gave another of our cases leaves the forward
    ``refused`` (staff may send it again)."""
    async with f.unit_of_work() as uow:
        current = await uow.repo.get(row["case_id"], row["endpoint"], lock=True)
        if current is None or current["state"] != "awaiting_token":
            return "stale"
        if await uow.repo.case_with_external_id(row["endpoint"], external_id, other_than=row["case_id"]):
            error = "token: the endpoint answered an id it already gave another case"
            await uow.repo.update(row["case_id"], row["endpoint"], uow.now, state="refused", next_poll_at=None,
                                  last_error=error)
            await uow.emit(ForwardFailed(case_id=row["case_id"], service_request_id=row["service_request_id"],
                                         jurisdiction_id=row["jurisdiction_id"], endpoint=row["endpoint"],
                                         stage="poll", attempt=max(1, current["attempts"]), error=error,
                                         retry_at=None),
                           subject=row["case_id"], correlation_id=row["correlation_id"])
            return "refused"
        await uow.repo.update(row["case_id"], row["endpoint"], uow.now, state="forwarded",
                              external_service_request_id=external_id, poll_failures=0)
        await uow.emit(_forwarded(current, external_id, current["token"], current["service_notice"],
                                  current["forwarded_at"] or uow.now),
                       subject=row["case_id"], correlation_id=row["correlation_id"])
        return "resolved"


async def record_reading(f: Forwarding, row: dict[str, Any], request: ServiceRequest) -> str:
    """A status read for a forward: `forwarding.status_reported` when status, notes or agency changed since
    the last one (the first compared with a fresh request: ``open``, no notes, no agency); ``closed``
    stops its polling. The endpoint's notes and agency are kept and announced without control characters.
    Returns ``reported``, ``unchanged`` or ``stale``."""
    async with f.unit_of_work() as uow:
        current = await uow.repo.get(row["case_id"], row["endpoint"], lock=True)
        if current is None or current["state"] != "forwarded":
            return "stale"
        before = Reading(current["status"] or "open", current["status_notes"], current["agency_responsible"])
        now_reading = reading_of(request)
        if not changed(before, now_reading):
            if current["poll_failures"]:
                await uow.repo.update(row["case_id"], row["endpoint"], uow.now, poll_failures=0)
            return "unchanged"
        closed = request.status == "closed"
        await uow.repo.update(row["case_id"], row["endpoint"], uow.now, status=request.status,
                              status_notes=now_reading.status_notes,
                              agency_responsible=now_reading.agency_responsible,
                              updated_datetime=request.updated_datetime, poll_failures=0,
                              state="closed" if closed else "forwarded", next_poll_at=None if closed else
                              current["next_poll_at"])
        await uow.emit(StatusReported(
            case_id=row["case_id"], service_request_id=row["service_request_id"],
            jurisdiction_id=row["jurisdiction_id"], endpoint=row["endpoint"],
            external_service_request_id=current["external_service_request_id"], status=request.status,
            status_notes=now_reading.status_notes[:2000] if now_reading.status_notes else None,
            agency_responsible=now_reading.agency_responsible[:200] if now_reading.agency_responsible else None,
            updated_datetime=request.updated_datetime, reported_at=uow.now),
            subject=row["case_id"], correlation_id=row["correlation_id"])
        log.info("status_reported", case_id=str(row["case_id"]), endpoint=row["endpoint"], status=request.status)
        return "reported"


async def record_poll_failure(f: Forwarding, row: dict[str, Any], error: str) -> str:
    """A failed read of a forward's token or status: counted; every `poll_failures_reported`-th failure in a
    row is a `forwarding.forward_failed` (stage ``poll``, the next poll as `retry_at`)."""
    async with f.unit_of_work() as uow:
        current = await uow.repo.get(row["case_id"], row["endpoint"], lock=True)
        if current is None or current["state"] not in POLLED:
            return "stale"
        failures = current["poll_failures"] + 1
        await uow.repo.update(row["case_id"], row["endpoint"], uow.now, poll_failures=failures, last_error=error)
        if failures % f.forwarding.poll_failures_reported:
            return "poll_failed"
        await uow.emit(ForwardFailed(case_id=row["case_id"], service_request_id=row["service_request_id"],
                                     jurisdiction_id=row["jurisdiction_id"], endpoint=row["endpoint"], stage="poll",
                                     attempt=failures, error=error, retry_at=current["next_poll_at"]),
                       subject=row["case_id"], correlation_id=row["correlation_id"])
        log.warning("poll_failed", case_id=str(row["case_id"]), endpoint=row["endpoint"], failures=failures,
                    error=error)
        return "poll_failure_reported"


# --- staff ---------------------------------------------------------------------------------------------


class NoForwards(LookupError):
    """The case has no forward at all (it was never planned for an endpoint)."""


class NothingToRetry(Exception):  # noqa: N818 - says what happened
    """None of the case's forwards gave up: nothing to send again. `rows` are the forwards as they are."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__("no forward of this case has failed or been refused")
        self.rows = rows


async def retry(unit_of_work: Callable[[], Any], case_id: UUID) -> list[dict[str, Any]]:
    """Staff send a case again (`POST /admin/forwards/{case_id}/retry`): every forward of it that gave up
    (``failed``) or was refused becomes ``pending``, due now, its attempts counted from zero. Returns the
    case's forwards after the change. Raises `NoForwards`, or `NothingToRetry` (nothing changed)."""
    async with unit_of_work() as uow:
        rows = await uow.repo.of_case(case_id, lock=True)
        if not rows:
            raise NoForwards(str(case_id))
        again = [r for r in rows if r["state"] in RETRYABLE_BY_STAFF]
        if not again:
            raise NothingToRetry(rows)
        for row in again:
            await uow.repo.update(case_id, row["endpoint"], uow.now, state="pending", attempts=0,
                                  next_attempt_at=uow.now, last_error=None)
        return await uow.repo.of_case(case_id)
