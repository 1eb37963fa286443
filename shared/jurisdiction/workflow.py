"""Case workflow as configuration: statuses, allowed transitions, SLA pauses, reporter texts, escalation, retention.

The defaults here are every jurisdiction's unless its YAML overrides them (``workflow:``, ``escalations:``,
``retention:``, ``canned_responses:``); the loader merges and validates (see docs/staff-work.md).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

__all__ = [
    "DEFAULT_STATUSES",
    "DEFAULT_TRANSITIONS",
    "CannedResponse",
    "Escalation",
    "Retention",
    "StatusSpec",
    "Team",
    "TransitionNotAllowed",
    "UnknownStatus",
    "Workflow",
    "default_workflow",
]


class UnknownStatus(LookupError):
    """A status id that the jurisdiction's workflow does not declare."""

    def __init__(self, status_id: str, known: Iterable[str]) -> None:
        self.status_id = status_id
        self.known = tuple(known)
        super().__init__(status_id)

    def __str__(self) -> str:
        return f"unknown status {self.status_id!r}; this workflow has: {', '.join(self.known)}"


class TransitionNotAllowed(Exception):  # noqa: N818 - the name says what happened, as the contract writes it
    """A move from one status to another that the workflow does not allow (the staff API answers 409)."""

    def __init__(self, from_id: str, to_id: str, allowed: Iterable[str]) -> None:
        self.from_id = from_id
        self.to_id = to_id
        self.allowed = tuple(allowed)
        super().__init__(from_id, to_id, self.allowed)

    def __str__(self) -> str:
        if not self.allowed:
            return (
                f"A case in status {self.from_id!r} cannot move to {self.to_id!r}: "
                f"{self.from_id!r} is final and allows no further status."
            )
        return (
            f"A case in status {self.from_id!r} cannot move to {self.to_id!r}; "
            f"from {self.from_id!r} it may move to: {', '.join(self.allowed)}."
        )


def _norm(text: str) -> str:
    """Case-, accent- and space-insensitive form of an outside vocabulary's value ("Terminée" == "terminee")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def _tuple_values(value: Any) -> Any:
    """YAML convenience: ``{boston: Open}`` is ``{boston: [Open]}``."""
    if isinstance(value, Mapping):
        return {k: (v,) if isinstance(v, str) else v for k, v in value.items()}
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StatusSpec(_Frozen):
    """One workflow status.

    ``open311``: the GeoReport v2 ``status`` it shows as. ``terminal``: no transition leaves it.
    ``pauses_sla``: the SLA clock stops while a case is in it. ``resume_on_reply``: a reporter's message
    moves the case to ``Workflow.resume_to``. ``notify``: reporters are told when a case enters it, with
    ``texts`` (language code → sentence a resident reads). ``labels``: language code → short name.
    ``aliases``: outside vocabulary (``boston``, ``nyc``, ``montreal``) → its values that mean this status.
    ``closure_reasons``: vocabulary → phrases of a closed record's closure reason that mean this status.
    """

    id: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    open311: Literal["open", "closed"]
    terminal: bool = False
    pauses_sla: bool = False
    resume_on_reply: bool = False
    notify: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    texts: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    closure_reasons: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("aliases", "closure_reasons", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return _tuple_values(value)

    @model_validator(mode="after")
    def _consistent(self) -> StatusSpec:
        if self.notify and not self.texts:
            raise ValueError(f"status {self.id!r} has notify: true but no texts (what reporters are told, EN and FR)")
        if self.resume_on_reply and self.open311 == "closed":
            raise ValueError(f"status {self.id!r} is closed and cannot resume on a reporter's reply")
        return self

    def label(self, language: str = "en") -> str:
        """The status name in ``language`` (falls back to English, then to the id)."""
        return self.labels.get(language) or self.labels.get("en") or self.id

    def text(self, language: str = "en") -> str | None:
        """What a reporter is told on entering this status, in ``language`` (English fallback); ``None`` if silent."""
        if not self.notify:
            return None
        return self.texts.get(language) or self.texts.get("en")


class Workflow(_Frozen):
    """A jurisdiction's statuses and allowed transitions.

    ``transitions``: status id → the ids it may move to. ``initial``: a new case's status;
    ``on_routed``: after the router's first decision; ``on_assigned``: after a claim or an assignment;
    ``resume_to``: where a reporter's reply takes a case waiting on them; ``merged_status``: a case
    merged into another. Built by :func:`default_workflow` or the loader (which validates it).
    """

    statuses: tuple[StatusSpec, ...]
    transitions: dict[str, tuple[str, ...]]
    initial: str = "new"
    on_routed: str = "acknowledged"
    on_assigned: str = "assigned"
    resume_to: str = "in_progress"
    merged_status: str = "duplicate"

    _by_id: dict[str, StatusSpec] = PrivateAttr(default_factory=dict)
    _outside: dict[tuple[str, str], str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: object) -> None:
        self._by_id = {s.id: s for s in self.statuses}
        self._outside = {
            (vocabulary, _norm(value)): s.id
            for s in self.statuses
            for vocabulary, values in s.aliases.items()
            for value in values
        }

    def status(self, id: str) -> StatusSpec:  # noqa: A002 - the contract's name
        """The status with this id.

        Raises:
            UnknownStatus: the workflow does not declare it.
        """
        try:
            return self._by_id[id]
        except KeyError:
            raise UnknownStatus(id, self._by_id) from None

    def has(self, id: str) -> bool:  # noqa: A002
        """True when the workflow declares this status id."""
        return id in self._by_id

    @property
    def ids(self) -> tuple[str, ...]:
        """Every status id, in declaration order."""
        return tuple(self._by_id)

    def allowed(self, from_id: str) -> tuple[str, ...]:
        """The statuses a case in ``from_id`` may move to (empty for a terminal one).

        Raises:
            UnknownStatus: ``from_id`` is not declared.
        """
        self.status(from_id)
        return self.transitions.get(from_id, ())

    def staff_moves(self, from_id: str) -> tuple[str, ...]:
        """The statuses staff may move a case to from ``from_id``: ``allowed(from_id)`` without
        ``merged_status`` (a case becomes a duplicate only by a merge into another case).

        Raises:
            UnknownStatus: ``from_id`` is not declared.
        """
        return tuple(s for s in self.allowed(from_id) if s != self.merged_status)

    def check(self, from_id: str, to_id: str) -> None:
        """Accept the move ``from_id`` → ``to_id`` or say why not.

        Raises:
            UnknownStatus: either id is not declared.
            TransitionNotAllowed: the workflow does not list ``to_id`` among ``allowed(from_id)``.
        """
        self.status(to_id)
        allowed = self.allowed(from_id)
        if to_id not in allowed:
            raise TransitionNotAllowed(from_id, to_id, allowed)

    def open311(self, id: str) -> Literal["open", "closed"]:  # noqa: A002
        """The Open311 GeoReport v2 ``status`` (``open``/``closed``) of a status.

        Raises:
            UnknownStatus: ``id`` is not declared.
        """
        return self.status(id).open311

    def from_outside(self, vocabulary: str, value: str, closure_reason: str | None = None) -> str | None:
        """Our status id for a value of an outside vocabulary, e.g. ``("nyc", "Started")`` → ``"in_progress"``.

        Matching ignores case, accents and extra spaces. For a value that means a closed status,
        ``closure_reason`` (Boston's ``closure_reason`` text) may name a finer one through a status's
        ``closure_reasons`` phrases ("Duplicate of Existing Case" → ``duplicate``). ``None`` when the
        vocabulary or the value is unknown.
        """
        found = self._outside.get((vocabulary, _norm(value)))
        if closure_reason and (found is None or self._by_id[found].open311 == "closed"):
            reason = _norm(closure_reason)
            # Final outcomes first: "Duplicate of Existing Case ... Resolved" is a duplicate.
            for status in sorted(self.statuses, key=lambda s: not s.terminal):
                if any(_norm(p) in reason for p in status.closure_reasons.get(vocabulary, ())):
                    return status.id
        return found

    def validate_graph(self) -> list[str]:
        """Problems of the workflow as ``"<yaml path>: <what>"`` lines (empty when it is sound).

        Checks: transitions name declared statuses; a terminal status has no way out; the named
        statuses (initial, on_routed, ...) exist with the right Open311 side; every status is
        reachable from ``initial`` (``merged_status`` may be reached by a merge only); an outside
        value means one status only.
        """
        problems: list[str] = []
        ids = set(self._by_id)
        for from_id, targets in self.transitions.items():
            if from_id not in ids:
                problems.append(f"workflow.transitions.{from_id}: unknown status {from_id!r}")
                continue
            for to_id in targets:
                if to_id not in ids:
                    problems.append(f"workflow.transitions.{from_id}: unknown status {to_id!r}")
            if targets and self._by_id[from_id].terminal:
                problems.append(f"workflow.transitions.{from_id}: status {from_id!r} is terminal and cannot move on")
        for key in ("initial", "on_routed", "on_assigned", "resume_to", "merged_status"):
            value = getattr(self, key)
            if value not in ids:
                problems.append(f"workflow.{key}: unknown status {value!r}")
            elif key != "merged_status" and self._by_id[value].open311 != "open":
                problems.append(f"workflow.{key}: status {value!r} must be an open one")
            elif key == "merged_status" and self._by_id[value].open311 != "closed":
                problems.append(f"workflow.merged_status: status {value!r} must be a closed one")
        if self.initial in ids:
            seen, todo = {self.initial}, [self.initial]
            while todo:
                for nxt in self.transitions.get(todo.pop(), ()):
                    if nxt in ids and nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for status in self.statuses:
                if status.id not in seen and status.id != self.merged_status:
                    problems.append(f"workflow.statuses.{status.id}: unreachable from {self.initial!r}")
        owner: dict[tuple[str, str], str] = {}
        for status in self.statuses:
            for vocabulary, values in status.aliases.items():
                for value in values:
                    key = (vocabulary, _norm(value))
                    if key in owner and owner[key] != status.id:
                        problems.append(
                            f"workflow.statuses.{status.id}.aliases.{vocabulary}: {value!r} already means {owner[key]!r}"
                        )
                    owner[key] = status.id
        return problems


class Team(_Frozen):
    """A team inside a department (the ``teams`` claim of a token names these ids)."""

    id: str = Field(min_length=1)
    name: str


class Escalation(_Frozen):
    """What happens when a case's SLA clock warns or breaches.

    Applies to cases whose ``service_code`` is in ``service_codes`` and whose department is in
    ``department_ids`` (an empty list matches all). ``raise_priority_to``: 1 (most urgent) … 5, only ever
    raised. ``move_to_queue``: a queue id; ``move_to_supervisor_queue``: the case department's
    supervisor queue instead. ``email``: addresses to tell (empty: the department's ``supervisor_email``).
    """

    id: str = Field(min_length=1)
    trigger: Literal["warning", "breach"]
    service_codes: tuple[str, ...] = ()
    department_ids: tuple[str, ...] = ()
    raise_priority_to: int | None = Field(default=None, ge=1, le=5)
    move_to_queue: str | None = None
    move_to_supervisor_queue: bool = False
    email: tuple[str, ...] = ()
    notify_supervisor: bool = True

    @field_validator("raise_priority_to", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        from shared.jurisdiction.config import parse_priority  # config imports this module

        return parse_priority(value)

    @field_validator("email", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> Any:
        value = (value,) if isinstance(value, str) else value
        for address in value or ():
            if not isinstance(address, str) or "@" not in address.strip("@"):
                raise ValueError(f"not an email address: {address!r}")
        return value

    @model_validator(mode="after")
    def _one_queue(self) -> Escalation:
        if self.move_to_queue and self.move_to_supervisor_queue:
            raise ValueError(f"escalation {self.id!r}: give move_to_queue or move_to_supervisor_queue, not both")
        return self

    def applies(self, trigger: str, service_code: str | None, department_id: str | None) -> bool:
        """True when this rule acts on ``trigger`` for a case of this service and department."""
        return (
            trigger == self.trigger
            and (not self.service_codes or service_code in self.service_codes)
            and (not self.department_ids or department_id in self.department_ids)
        )


class Retention(_Frozen):
    """Personal data of a case closed ``closed_days`` days or more is erased or pseudonymised."""

    closed_days: int = Field(default=730, ge=1)
    mode: Literal["erase", "pseudonymise"] = "erase"


class CannedResponse(_Frozen):
    """A ready-made reply staff pick in the workbench: ``title`` and ``text`` by language code."""

    id: str = Field(min_length=1)
    title: dict[str, str]
    text: dict[str, str]

    def for_language(self, language: str) -> str:
        """The text in ``language`` (English fallback)."""
        return self.text.get(language) or self.text.get("en") or next(iter(self.text.values()))


# -- defaults -------------------------------------------------------------------------------------

#: The default statuses (docs/staff-work.md "Workflow"). Outside vocabularies: Boston's ``case_status``
#: (Open/Closed) and ``closure_reason`` phrases, NYC's ``Status`` (Open, Assigned, Pending, Started,
#: Closed, and In Progress / Unspecified seen in other years), Montréal's ``DERNIER_STATUT`` (the open-data
#: dictionary of "Requêtes 311").
DEFAULT_STATUSES: tuple[StatusSpec, ...] = (
    StatusSpec(
        id="new",
        open311="open",
        labels={"en": "New", "fr": "Nouvelle"},
        aliases={"nyc": ("Unspecified",)},
    ),
    StatusSpec(
        id="acknowledged",
        open311="open",
        labels={"en": "Acknowledged", "fr": "Reçue"},
        aliases={"boston": ("Open",), "nyc": ("Open",), "montreal": ("Acceptée",)},
    ),
    StatusSpec(
        id="assigned",
        open311="open",
        labels={"en": "Assigned", "fr": "Assignée"},
        aliases={"nyc": ("Assigned",), "montreal": ("Prise en charge",)},
    ),
    StatusSpec(
        id="in_progress",
        open311="open",
        labels={"en": "In progress", "fr": "En cours"},
        aliases={"nyc": ("Started", "In Progress"), "montreal": ("En traitement",)},
    ),
    StatusSpec(
        id="waiting_on_resident",
        open311="open",
        pauses_sla=True,
        resume_on_reply=True,
        notify=True,
        labels={"en": "Waiting on resident", "fr": "En attente du résident"},
        texts={
            "en": (
                "We need a little more information from you to go ahead with your request. Please reply to "
                "this message with the details our team asked for; work resumes as soon as we hear from you."
            ),
            "fr": (
                "Nous avons besoin d'un peu plus d'information pour donner suite à votre demande. Veuillez "
                "répondre à ce message avec les précisions demandées par notre équipe; le traitement "
                "reprendra dès que nous aurons votre réponse."
            ),
        },
    ),
    StatusSpec(
        id="on_hold",
        open311="open",
        pauses_sla=True,
        labels={"en": "On hold", "fr": "En suspens"},
        aliases={"nyc": ("Pending",)},
    ),
    StatusSpec(
        id="resolved",
        open311="closed",
        notify=True,
        labels={"en": "Resolved", "fr": "Réglée"},
        texts={
            "en": (
                "Your request has been resolved. Thank you for taking the time to let us know. If the problem "
                "is still there, reply to this message and we will look at it again."
            ),
            "fr": (
                "Votre demande a été réglée. Merci d'avoir pris le temps de nous la signaler. Si le problème "
                "persiste, répondez à ce message et nous l'examinerons de nouveau."
            ),
        },
        aliases={"montreal": ("Terminée",)},
        closure_reasons={"boston": ("Case Resolved", "Resolved")},
    ),
    StatusSpec(
        id="closed",
        open311="closed",
        labels={"en": "Closed", "fr": "Fermée"},
        aliases={"boston": ("Closed",), "nyc": ("Closed",)},
    ),
    StatusSpec(
        id="duplicate",
        open311="closed",
        terminal=True,
        labels={"en": "Duplicate", "fr": "Doublon"},
        closure_reasons={"boston": ("Duplicate of Existing Case",)},
    ),
    StatusSpec(
        id="cancelled",
        open311="closed",
        terminal=True,
        notify=True,
        labels={"en": "Cancelled", "fr": "Annulée"},
        texts={
            "en": (
                "Your request has been cancelled and no work is planned on it. If you think this is a mistake, "
                "reply to this message or call 311."
            ),
            "fr": (
                "Votre demande a été annulée et aucune intervention n'est prévue. Si vous pensez qu'il s'agit "
                "d'une erreur, répondez à ce message ou appelez le 311."
            ),
        },
        aliases={"montreal": ("Annulée", "Refusée", "Supprimée")},
        closure_reasons={"boston": ("Case Invalid",)},
    ),
    StatusSpec(
        id="referred_out",
        open311="closed",
        terminal=True,
        notify=True,
        labels={"en": "Referred to another organisation", "fr": "Transmise à un autre organisme"},
        texts={
            "en": (
                "Your request is the responsibility of another organisation. We have passed it on to them, "
                "and they will follow up."
            ),
            "fr": (
                "Votre demande relève d'un autre organisme. Nous la lui avons transmise et il en assurera le suivi."
            ),
        },
        aliases={"montreal": ("Transmise à un partenaire",)},
    ),
)

_WORKING = ("waiting_on_resident", "on_hold", "resolved", "duplicate", "cancelled", "referred_out")

#: Default allowed transitions; ``resolved`` may reopen to ``in_progress``; ``closed`` allows nothing
#: (a city may add ``closed: [in_progress]``); terminal statuses allow nothing.
DEFAULT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "assigned", "in_progress", "duplicate", "cancelled", "referred_out"),
    "acknowledged": ("assigned", "in_progress", *_WORKING),
    "assigned": ("acknowledged", "in_progress", *_WORKING),
    "in_progress": ("assigned", *_WORKING),
    "waiting_on_resident": ("in_progress", "on_hold", "resolved", "duplicate", "cancelled"),
    "on_hold": ("in_progress", "waiting_on_resident", "resolved", "duplicate", "cancelled"),
    "resolved": ("in_progress", "closed"),
    "closed": (),
    "duplicate": (),
    "cancelled": (),
    "referred_out": (),
}


def default_workflow() -> Workflow:
    """The default workflow (a new object each call; it is immutable)."""
    return Workflow(statuses=DEFAULT_STATUSES, transitions=dict(DEFAULT_TRANSITIONS))
