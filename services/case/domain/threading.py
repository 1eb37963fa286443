"""The threading rule: whether an intake message repeats one already held, joins an existing case, or opens
a new one, decided over facts the repository fetched. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5


@dataclass(frozen=True)
class CaseRef:
    """A case found by a look-up, with the `contact_key` of the reporter who opened it."""

    case_id: UUID
    contact_key: str


@dataclass(frozen=True)
class ThreadingFacts:
    """What the case store knows about one intake message, each look-up independent of the others.

    - `held_by`: the case already holding this (channel, channel_message_id) (a provider retry);
    - `hinted`: the case whose number the message quotes (`case_number_hint`), if it exists;
    - `replied_ours`: the case one of our own messages belongs to, named in `in_reply_to` (e.g. a reply
      to our acknowledgement's Message-ID);
    - `replied_theirs`: the case a resident's message named in `in_reply_to` belongs to;
    - `answered_by`: the earliest received case message that named this message as what it answers
      (its reply came first and opened a case);
    - `withdrawn_first`: the resident's withdrawal of this very message came before it and is not applied
      yet (it is then held without its words);
    - `reserved_number`: a case number the look-up took from the sequence because none of the facts above
      names a case (so the message opens one: `is_repeat` and `thread_into` say so for such facts), saving
      the opening its own round trip; None when it was not asked for or a fact names a case.
    """

    held_by: UUID | None = None
    hinted: CaseRef | None = None
    replied_ours: UUID | None = None
    replied_theirs: UUID | None = None
    answered_by: CaseRef | None = None
    withdrawn_first: bool = False
    reserved_number: int | None = None


def is_repeat(facts: ThreadingFacts) -> bool:
    """True when the channel message is already on a case: intake is idempotent on (channel,
    channel_message_id), so a provider retry published as a new event never opens a second case."""
    return facts.held_by is not None


def thread_into(facts: ThreadingFacts, contact_key: str) -> UUID | None:
    """The case a new message joins, or None when it opens a case of its own. First match wins:

    1. the case whose number it quotes, only when `contact_key` opened that case: case numbers are
       sequential and easy to guess, so anyone else quoting one opens a case of their own;
    2. the case its In-Reply-To/References (or a transcript's call id) name: one of our messages first,
       then one of the resident's;
    3. the case a reply to this very message opened before it arrived (e.g. a call's transcript before
       the call's own report), only the same reporter's.

    A message already held (`is_repeat`) is not threaded at all; call this only for a new one.
    """
    if facts.hinted is not None and facts.hinted.contact_key == contact_key:
        return facts.hinted.case_id
    replied = facts.replied_ours or facts.replied_theirs
    if replied is not None:
        return replied
    if facts.answered_by is not None and facts.answered_by.contact_key == contact_key:
        return facts.answered_by.case_id
    return None


def message_id_for(channel: str, channel_message_id: str) -> UUID:
    """The stable id of an intake message on its case, derived from its intake key (UUIDv5)."""
    return uuid5(NAMESPACE_URL, f"omni311:{channel}:{channel_message_id}")


def case_id_for(channel: str, channel_message_id: str) -> UUID:
    """The id of the case an intake message opens (UUIDv5 of its intake key), so that even a replayed
    event maps to the same case."""
    return uuid5(NAMESPACE_URL, f"omni311:case:{channel}:{channel_message_id}")
