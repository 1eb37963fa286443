"""Building load: N `intake.message_received` envelopes from the real NYC records, as intake_web's Open311
POST makes them (`services.intake_web.domain.intake.message_from_post`), cycled with fresh ids and reporters.

Pure: no I/O but reading the records file; ids come from a seeded generator and the clock is passed in,
so the same seed gives the same events.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from shared.contacts import contact_key
from shared.events import Envelope, MessageReceived, Pii
from shared.records import ReplayRecord, records_for

PRODUCER = "intake_web"
"""The producer the envelopes name: the events are what intake_web's Open311 POST publishes."""
CLIENT_ID = "client_loadgen"
SAMPLE = ("311_records", "nyc311_2011_sample_1000.csv")
"""The NYC sample, under `$OMNI311_SHARED_DATA` (`shared.jurisdiction.shared_data_root`)."""
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True, slots=True)
class LoadEvent:
    """One built event: its envelope (keyed by `envelope.subject`, the reporter's contact key), the
    reporter's email when `emails` was asked for, and the record it was made from (1-based position)."""

    envelope: Envelope
    email: str | None
    position: int
    raw: bytes = b""

    @property
    def correlation_id(self) -> UUID:
        """The flow's id: every event downstream (case, routing, dedup, notification) carries it."""
        return self.envelope.correlation_id

    def key(self) -> bytes:
        """The Kafka message key (the contact key, UTF-8), as intake_web's publisher sets it."""
        return self.envelope.subject.encode()

    def value(self) -> bytes:
        """The Kafka message value (the envelope's JSON, made once when the event was built)."""
        return self.raw or self.envelope.to_bytes()


def read_sample(path: str | Path) -> list[ReplayRecord]:
    """Every record of an export (`shared.records.records_for`). Raises `ReplayFormatError`, `OSError`."""
    return list(records_for(path))


def service_codes(services: Iterable[object]) -> dict[str, str]:
    """``service_name`` case-folded → ``service_code`` of a jurisdiction's services (as the replay maps
    NYC complaint types to categories)."""
    return {str(s.service_name).casefold(): str(s.service_code) for s in services}  # type: ignore[attr-defined]


def _uuid4(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _jittered(lat: float, long: float, rng: random.Random, jitter_m: float) -> tuple[float, float]:
    """The point moved by up to `jitter_m` metres (uniform over the disc), rounded to 1e-6 degree."""
    if jitter_m <= 0:
        return lat, long
    r = jitter_m * math.sqrt(rng.random())
    a = rng.random() * 2 * math.pi
    dlat = r * math.cos(a) / METRES_PER_DEGREE
    dlong = r * math.sin(a) / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    return round(lat + dlat, 6), round(long + dlong, 6)


def build_events(records: Sequence[ReplayRecord], codes: Mapping[str, str], n: int, *, seed: int = 0,
                 now: datetime, emails: str | None = None, jitter_m: float = 300.0,
                 run: str | None = None) -> list[LoadEvent]:
    """`n` intake envelopes made from `records`, cycled in file order until `n` are made.

    Each is channel ``open311`` with a fresh `channel_message_id` (``lg-<run>-<i>``; `run` defaults to
    ``s<seed>``), a fresh event id (= correlation id, from the seeded generator) and a fresh reporter: a
    device id of its own, or with `emails` (a mail domain, e.g. ``loadgen.test``) the unique address
    ``lg-<run>-<i>@<emails>``, so every event opens a case of its own and, with emails, asks for its own
    acknowledgement. Category from `codes` (`service_codes`; None when the record's type is not offered),
    description, address and point from the record; from the second pass over the records on, the point is
    moved by up to `jitter_m` metres so that copies are not all duplicates of the first. `received_at` and
    `requested_datetime` are `now` (aware UTC), as intake_web sets them.

    Raises `ValueError` when `n` is negative, `records` is empty while `n` > 0, or `now` is naive.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if n and not records:
        raise ValueError("no records to build events from")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    rng = random.Random(seed)
    run = run or f"s{seed}"
    out: list[LoadEvent] = []
    for i in range(n):
        rec = records[i % len(records)]
        token = f"lg-{run}-{i}"
        email = f"{token}@{emails}" if emails else None
        key = contact_key("email", email) if email else contact_key("device", token)
        lat, long = rec.lat, rec.long
        if lat is not None and long is not None and i >= len(records):
            lat, long = _jittered(lat, long, rng, jitter_m)
        address = rec.address_string or (f"ZIP {rec.zipcode}" if rec.zipcode else None)
        message = MessageReceived(
            channel="open311", channel_message_id=token, contact_key=key, received_at=now,
            service_code=codes.get((rec.service_name or "").strip().casefold()),
            description=rec.description or "", address=address, zipcode=rec.zipcode, lat=lat, long=long,
            requested_datetime=now, client_id=CLIENT_ID, pii=Pii(email=email),
        )
        env = Envelope.new_flow(message, subject=key, producer=PRODUCER, now=now, event_id=_uuid4(rng))
        out.append(LoadEvent(envelope=env, email=email, position=rec.position, raw=env.to_bytes()))
    return out
