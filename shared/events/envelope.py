"""The envelope every omni311 event travels in, and the constructors that make it.

Envelopes are made by these constructors, never by hand, so that no correlation or causation id is
forgotten: `Envelope.new_flow` at intake mints the correlation id; `parent.caused_by(...)` everywhere
downstream copies it and records the parent as causation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class EventData(BaseModel):
    """Base of every event payload; subclasses name their `event_type` and `schema_version`.

    Numbers must be finite: JSON has no NaN or Infinity, pydantic would write them as ``null``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


D = TypeVar("D", bound=EventData)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware (UTC)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00: a ValueError becomes a ValidationError, dead-lettered
        raise ValueError(f"occurred_at {value.isoformat()} is outside the range of UTC datetimes") from None


class Envelope(BaseModel):
    """One event on the bus.

    Shape: `event_id` (UUID), `event_type` (past tense, e.g. ``case.opened``), `schema_version` (int),
    `occurred_at` (aware UTC), `producer` (service name), `subject` (the partition key: contact key on
    ``intake.messages``, ``case_id`` elsewhere), `correlation_id` (minted at intake, copied downstream),
    `causation_id` (the parent event id, None at intake), `data` (the payload as a JSON object).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    event_type: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    correlation_id: UUID
    causation_id: UUID | None = None
    data: dict[str, Any]

    _normalise_time = field_validator("occurred_at")(lambda cls, v: _as_utc(v))

    @classmethod
    def new_flow(
        cls,
        data: EventData,
        *,
        subject: str,
        producer: str,
        now: datetime,
        event_id: UUID | None = None,
        correlation_id: UUID | None = None,
    ) -> Self:
        """Start a new flow: no causation, and a correlation id equal to the event id (at intake) or
        `correlation_id` when the flow continues an older one (a staff action on a case keeps the case's
        correlation id, so its whole history traces together)."""
        eid = event_id or uuid4()
        return cls(
            event_id=eid,
            event_type=data.event_type,
            schema_version=data.schema_version,
            occurred_at=now,
            producer=producer,
            subject=subject,
            correlation_id=correlation_id or eid,
            causation_id=None,
            data=data.model_dump(mode="json"),
        )

    def caused_by(
        self,
        data: EventData,
        *,
        subject: str,
        producer: str,
        now: datetime,
        event_id: UUID | None = None,
    ) -> Envelope:
        """Make the next event in this flow: same correlation id, this event as its cause."""
        return Envelope(
            event_id=event_id or uuid4(),
            event_type=data.event_type,
            schema_version=data.schema_version,
            occurred_at=now,
            producer=producer,
            subject=subject,
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
            data=data.model_dump(mode="json"),
        )

    def payload(self, model: type[D]) -> D:
        """Validate `data` as `model`.

        Fields the model does not know are ignored: a producer may add an optional field without a new
        version (the versioning rule in `shared.events.snapshots`), and consumers built before it must
        keep working (models still forbid unknown fields when an event is constructed). Needs
        pydantic >= 2.12.
        Raises `ValueError` when the envelope's type/version is not the model's, and
        `pydantic.ValidationError` when the data does not fit.
        """
        if (self.event_type, self.schema_version) != (model.event_type, model.schema_version):
            raise ValueError(
                f"envelope is {self.event_type} v{self.schema_version}, "
                f"not {model.event_type} v{model.schema_version}"
            )
        return model.model_validate(self.data, extra="ignore")

    def to_bytes(self) -> bytes:
        """The JSON bytes put on Kafka (UTF-8)."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Parse Kafka bytes; raises `pydantic.ValidationError` on anything that is not an envelope."""
        return cls.model_validate_json(raw)
