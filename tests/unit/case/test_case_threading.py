"""The threading rule as a pure function: which case a new intake message joins, given what the case
store knows about it."""

from __future__ import annotations

from uuid import UUID, uuid4

from services.case.domain.threading import (
    CaseRef,
    ThreadingFacts,
    case_id_for,
    is_repeat,
    message_id_for,
    thread_into,
)

HINTED, OURS, THEIRS, ANSWERED = uuid4(), uuid4(), uuid4(), uuid4()


def test_a_message_nothing_knows_opens_a_case() -> None:
    facts = ThreadingFacts()
    assert not is_repeat(facts) and thread_into(facts, "k1") is None


def test_a_message_already_held_is_a_repeat() -> None:
    assert is_repeat(ThreadingFacts(held_by=uuid4()))


def test_a_quoted_number_of_the_reporters_own_case_wins_over_every_reply_id() -> None:
    facts = ThreadingFacts(hinted=CaseRef(HINTED, "k1"), replied_ours=OURS, replied_theirs=THEIRS,
                           answered_by=CaseRef(ANSWERED, "k1"))
    assert thread_into(facts, "k1") == HINTED


def test_a_quoted_number_of_someone_elses_case_is_ignored() -> None:
    assert thread_into(ThreadingFacts(hinted=CaseRef(HINTED, "k2")), "k1") is None
    assert thread_into(ThreadingFacts(hinted=CaseRef(HINTED, "k2"), replied_theirs=THEIRS), "k1") == THEIRS


def test_a_reply_to_our_message_comes_before_a_reply_to_the_residents() -> None:
    assert thread_into(ThreadingFacts(replied_ours=OURS, replied_theirs=THEIRS), "k1") == OURS
    assert thread_into(ThreadingFacts(replied_theirs=THEIRS), "k1") == THEIRS


def test_a_reply_id_threads_whoever_sends_it() -> None:
    # In-Reply-To names a message only its recipients know: a forwarded reply still belongs there.
    assert thread_into(ThreadingFacts(replied_theirs=THEIRS), "someone-else") == THEIRS


def test_a_reply_id_comes_before_an_answer_that_arrived_first() -> None:
    assert thread_into(ThreadingFacts(replied_theirs=THEIRS, answered_by=CaseRef(ANSWERED, "k1")), "k1") == THEIRS


def test_a_late_original_joins_only_the_same_reporters_case() -> None:
    assert thread_into(ThreadingFacts(answered_by=CaseRef(ANSWERED, "k1")), "k1") == ANSWERED
    assert thread_into(ThreadingFacts(answered_by=CaseRef(ANSWERED, "k2")), "k1") is None


def test_ids_derive_from_the_intake_key_so_a_replay_maps_to_the_same_case() -> None:
    assert message_id_for("sms", "SM1") == message_id_for("sms", "SM1")
    assert case_id_for("sms", "SM1") == case_id_for("sms", "SM1")
    assert len({message_id_for("sms", "SM1"), case_id_for("sms", "SM1"), case_id_for("voice", "SM1"),
                case_id_for("sms", "SM2")}) == 4
    # Stored cases and messages carry these ids: the derivation must never change.
    assert case_id_for("sms", "SM1") == UUID("5ad2dc41-d21a-5710-b047-3611d74ff490")
    assert message_id_for("sms", "SM1") == UUID("db38148c-133f-5cc3-900c-7619256b6282")
