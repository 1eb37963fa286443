"""Follows and survey answers in the case service, on an in-memory unit of work: a follow lands on the case
(or its survivor) once per contact key with a timeline entry and `case.followed`; a survey answer from a
reporter becomes a timeline entry and `case.survey_answered`, one per token; one from anybody else is kept
refused and announced to no one; bad input is dead-lettered. And the public history: what anyone may read
of a case's timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from case_fakes import FakeCaseRepository, demo

from services.case.domain import commands as c
from services.case.domain.history import public_history
from services.case.service_layer import handlers as h
from services.case.service_layer import staff as s
from shared.events import (
    CaseFollowed,
    CaseOpened,
    CaseSurveyAnswered,
    DedupDecided,
    FollowRequested,
    MessageReceived,
    RoutingDecided,
    RoutingFields,
    SurveyAnswered,
)
from shared.service_layer import dispatch
from shared.surveys import survey_contact_key, survey_jti
from support.uow import T0, FakeStore, event

Store = FakeStore[FakeCaseRepository]
ADMIN = c.Actor("u-admin", "Ada Admin", "administrator")
LATER = T0 + timedelta(hours=2)


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


@pytest.fixture
def table() -> Any:
    return h.handlers(demo())


async def new_case(store: Store, table: Any, n: int = 1, *, contact_key: str = "k1") -> dict[str, Any]:
    msg = MessageReceived(channel="sms", channel_message_id=f"M{n}", contact_key=contact_key, received_at=T0,
                          description=f"Pothole {n} on Main St", lat=45.4, long=-75.7, language="en",
                          pii={"phone": f"+1613555000{n}"})
    assert await store.handle(table, event(msg, subject=contact_key)) == "opened"
    case_id = store.emitted("case.opened")[-1].payload(CaseOpened).case_id
    return dict(store.repo.cases[case_id])


def follow(sid: str, *, contact_key: str = "ck-f", channel: str = "email", **kw: Any) -> FollowRequested:
    pii = {"email": "fay@example.org"} if channel == "email" else {"phone": "+16135550199"}
    fields: dict[str, Any] = {"channel_message_id": f"follow-{uuid4().hex[:8]}", "contact_key": contact_key,
                              "received_at": T0, "service_request_id": sid, "notify_channel": channel,
                              "language": "fr", "pii": pii}
    return FollowRequested(**{**fields, **kw})


def answer(sid: str, *, reporter: str = "k1", jti: str | None = None, contact_key: str | None = None,
           rating: int = 4, comment: str = "Fixed in two days") -> SurveyAnswered:
    """An answer as the portal publishes it: the invitation id of `reporter` (unless `jti` is given) and
    the key ``survey:<jti>`` (unless `contact_key` is given), never the reporter's contact key."""
    jti = jti or survey_jti(sid, reporter)
    return SurveyAnswered(channel_message_id=jti, contact_key=contact_key or survey_contact_key(jti),
                          received_at=LATER, service_request_id=sid, rating=rating, comment=comment, language="en")


# --- follows ------------------------------------------------------------------------------------------


async def test_a_follow_keeps_the_follower_writes_the_timeline_and_emits_case_followed(store: Store,
                                                                                      table: Any) -> None:
    case = await new_case(store, table)
    env = event(follow(case["service_request_id"]), subject="ck-f")

    assert await store.handle(table, env) == "followed"

    [row] = store.repo.followers
    assert row["case_id"] == case["case_id"] and row["contact_key"] == "ck-f" and row["notify_channel"] == "email"
    assert store.repo.reporters["ck-f"]["pii"]["email"] == "fay@example.org"  # kept as a reporter's address
    [entry] = store.repo.entries(case["case_id"], "followed")
    assert entry["detail"] == {"channel": "web", "contact_key": "ck-f", "notify_channel": "email", "language": "fr"}
    assert "fay@example.org" not in str(entry)
    [out] = store.emitted("case.followed")
    followed = out.payload(CaseFollowed)
    assert out.subject == str(case["case_id"]) and out.causation_id == env.event_id
    assert followed.follower_contact_key == "ck-f" and followed.pii.email == "fay@example.org"
    assert followed.service_request_id == case["service_request_id"] and followed.language == "fr"


async def test_a_second_follow_by_the_same_contact_key_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    assert await store.handle(table, event(follow(case["service_request_id"]))) == "followed"

    assert await store.handle(table, event(follow(case["service_request_id"]))) == "already_following"

    assert len(store.repo.followers) == 1 and len(store.emitted("case.followed")) == 1
    assert len(store.repo.entries(case["case_id"], "followed")) == 1


async def test_following_a_merged_case_follows_its_survivor(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await store.handle(table, event(DedupDecided(case_id=second["case_id"], duplicate_of=first["case_id"], score=0.9,
                                                 distance_m=5, text_similarity=0.8, window_hours=72, radius_m=50)))

    assert await store.handle(table, event(follow(second["service_request_id"], channel="sms"))) == "followed"

    [row] = store.repo.followers
    assert row["case_id"] == first["case_id"] and row["notify_channel"] == "sms"
    [entry] = store.repo.entries(first["case_id"], "followed")
    assert entry["detail"]["requested_case"] == second["service_request_id"]
    assert store.emitted("case.followed")[0].payload(CaseFollowed).case_id == first["case_id"]


async def test_a_follow_of_an_unknown_case_is_refused_for_the_dead_letters_and_changes_nothing(
        store: Store, table: Any) -> None:
    with pytest.raises(ValueError, match="unknown case"):
        await dispatch(table, event(follow("DEMO-26-999999")), lambda: store.uow(event(follow("x"))))
    assert store.repo.followers == [] and store.emitted() == [] and "ck-f" not in store.repo.reporters


async def test_a_follow_by_sms_without_a_phone_is_refused_and_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    bad = follow(case["service_request_id"], channel="sms", pii={"email": "fay@example.org"})
    with pytest.raises(ValueError, match="without that address"):
        await store.handle(table, event(bad))
    assert store.repo.followers == [] and store.emitted("case.followed") == []


# --- survey answers -----------------------------------------------------------------------------------


async def test_a_reporters_survey_answer_is_kept_on_the_timeline_and_announced(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    jti = survey_jti(case["service_request_id"], "k1")

    assert await store.handle(table, event(answer(case["service_request_id"]))) == "answered"

    kept = store.repo.survey_answers[jti]
    assert kept["outcome"] == "accepted" and kept["contact_key"] == "k1"  # the reporter found by their jti
    [entry] = store.repo.entries(case["case_id"], "survey_answered")
    assert entry["detail"]["text"] == "Survey: 4/5 — Fixed in two days" and entry["detail"]["rating"] == 4
    assert entry["detail"]["contact_key"] == "k1"
    [out] = store.emitted("case.survey_answered")
    answered = out.payload(CaseSurveyAnswered)
    assert answered.rating == 4 and answered.contact_key == "k1" and answered.answered_at == LATER
    assert answered.comment == "Fixed in two days"


async def test_a_survey_answer_without_comment_reads_as_the_rating_alone(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await store.handle(table, event(answer(case["service_request_id"], rating=2, comment="")))
    [entry] = store.repo.entries(case["case_id"], "survey_answered")
    assert entry["detail"]["text"] == "Survey: 2/5"


async def test_a_reporter_of_a_case_merged_into_it_may_answer(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await store.handle(table, event(DedupDecided(case_id=second["case_id"], duplicate_of=first["case_id"], score=0.9,
                                                 distance_m=5, text_similarity=0.8, window_hours=72, radius_m=50)))

    # the notifier invites k2 about the survivor: the jti is of the survivor's number and k2's key
    assert await store.handle(table, event(answer(first["service_request_id"], reporter="k2"))) == "answered"
    [out] = store.emitted("case.survey_answered")
    assert out.payload(CaseSurveyAnswered).contact_key == "k2"


async def test_a_second_answer_with_the_same_token_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await store.handle(table, event(answer(case["service_request_id"])))

    assert await store.handle(table, event(answer(case["service_request_id"], rating=1))) == "already_answered"

    assert store.repo.survey_answers[survey_jti(case["service_request_id"], "k1")]["rating"] == 4
    assert len(store.emitted("case.survey_answered")) == 1


async def test_an_answer_from_someone_not_a_reporter_is_kept_refused_and_announced_to_no_one(
        store: Store, table: Any) -> None:
    case = await new_case(store, table)
    assert await store.handle(table, event(follow(case["service_request_id"]))) == "followed"
    jti = survey_jti(case["service_request_id"], "ck-f")

    result = await store.handle(table, event(answer(case["service_request_id"], reporter="ck-f")))

    assert result == "refused"
    kept = store.repo.survey_answers[jti]
    assert kept["outcome"] == "refused" and "not a reporter" in kept["reason"]
    assert kept["contact_key"] == f"survey:{jti}"
    assert store.repo.entries(case["case_id"], "survey_answered") == []
    assert store.emitted("case.survey_answered") == []


async def test_an_answer_naming_a_reporters_key_without_their_invitation_is_refused(store: Store, table: Any) -> None:
    # the event's contact key is only a partition key: a reporter is recognised by their jti alone
    case = await new_case(store, table)

    result = await store.handle(table, event(answer(case["service_request_id"], jti="f" * 32, contact_key="k1")))

    assert result == "refused" and store.emitted("case.survey_answered") == []


async def test_an_invitation_about_another_case_is_refused(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")

    jti = survey_jti(first["service_request_id"], "k1")  # k1's invitation about the first case, sent as the second
    result = await store.handle(table, event(answer(second["service_request_id"], jti=jti)))

    assert result == "refused" and store.emitted("case.survey_answered") == []


async def test_an_answer_about_an_unknown_case_is_refused_for_the_dead_letters(store: Store, table: Any) -> None:
    with pytest.raises(ValueError, match="unknown case"):
        await store.handle(table, event(answer("DEMO-26-999999")))
    assert store.repo.survey_answers == {}


# --- the public history -------------------------------------------------------------------------------


async def test_the_public_history_shows_status_updates_merges_and_ratings_and_nothing_private(
        store: Store, table: Any) -> None:
    case = await new_case(store, table, 1)
    other = await new_case(store, table, 2, contact_key="k2")
    r = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                      agency_responsible="Public Works", queue="roads", priority=3, rule_id="r1", config_version="v1")
    await store.handle(table, event(RoutingDecided(case_id=case["case_id"], routing=r)))
    cid = case["case_id"]
    async with store.uow(now=LATER) as uow:
        await s.claim(c.Claim(cid, ADMIN), uow, jurisdiction=demo())
        await s.add_note(c.AddNote(cid, ADMIN, "secret: the caller is the mayor's cousin"), uow, jurisdiction=demo())
        await s.reply(c.Reply(cid, ADMIN, "k1", uuid4(), text="private word for k1"), uow, jurisdiction=demo())
        await s.post_update(c.PostUpdate(cid, ADMIN, "A crew comes Tuesday.", uuid4()), uow, jurisdiction=demo())
        await s.merge(c.Merge(other["case_id"], ADMIN, cid), uow, jurisdiction=demo())
        await s.transition(c.Transition(cid, ADMIN, "resolved", note="Filled"), uow, jurisdiction=demo())
    await store.handle(table, event(follow(case["service_request_id"])))
    await store.handle(table, event(answer(case["service_request_id"])))
    stored = store.repo.cases[cid]

    view = public_history(stored, store.repo.entries(cid), jurisdiction=demo(), followers=1)

    kinds = [e["kind"] for e in view["entries"]]
    assert kinds == ["opened", "routed", "status_changed", "status_changed", "public_update", "absorbed",
                     "status_changed", "survey_answered"]
    routed = view["entries"][1]
    assert routed["service_name"] == "Pothole" and routed["department"] and routed["text"].startswith("Pothole — ")
    assert [e.get("workflow_status") for e in view["entries"] if e["kind"] == "status_changed"] == [
        "acknowledged", "assigned", "resolved"]
    resolved = view["entries"][6]
    assert resolved["status"] == "closed" and resolved["status_notes"] == "Filled"
    assert view["entries"][5]["other_case"] == other["service_request_id"]
    assert view["entries"][-1] == {"at": T0, "kind": "survey_answered", "rating": 4}
    assert view["followers"] == 1 and view["status"] == "closed" and view["workflow_status"] == "resolved"
    text = str(view)
    for private in ("secret", "private word", "u-admin", "Ada Admin", "administrator", "k1", "ck-f",
                    "fay@example.org", "Fixed in two days", "+1613"):
        assert private not in text, private


async def test_the_public_history_of_a_merged_case_names_its_survivor(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await store.handle(table, event(DedupDecided(case_id=second["case_id"], duplicate_of=first["case_id"], score=0.9,
                                                 distance_m=5, text_similarity=0.8, window_hours=72, radius_m=50)))
    dup = store.repo.cases[second["case_id"]]

    view = public_history(dup, store.repo.entries(dup["case_id"]), jurisdiction=demo(), followers=0,
                          merged_into=first["service_request_id"])

    merged = view["entries"][-1]
    assert merged["kind"] == "merged" and merged["other_case"] == first["service_request_id"]
    assert merged["status"] == "closed" and merged["workflow_status"] == "duplicate"
    assert merged["status_notes"] == f"Duplicate of {first['service_request_id']}"
    assert "score" not in str(view)  # the duplicate detector's evidence is staff's


def test_a_routed_entry_without_a_service_code_names_the_cases_category() -> None:
    """Cases routed before the `routed` entry carried its `service_code` (replayed NYC data) showed
    " — <department>" with no category on the tracking page."""
    case = {"service_request_id": "DEMO-26-000001", "service_code": "pothole", "service_name": "Pothole",
            "status": "open", "workflow_status": "new", "status_notes": None}
    legacy = [{"at": T0, "kind": "routed", "detail": {"queue": "roads", "after": {"workflow_status": "new"}}}]
    unknown = {**case, "service_code": "gone-code", "service_name": "Old category"}

    [known] = [e for e in public_history(case, legacy, jurisdiction=demo(), followers=0)["entries"]
               if e["kind"] == "routed"]
    [other] = [e for e in public_history(unknown, legacy, jurisdiction=demo(), followers=0)["entries"]
               if e["kind"] == "routed"]

    assert known["service_code"] == "pothole" and known["service_name"] == demo().service("pothole").service_name
    assert known["text"].startswith(known["service_name"] + " — ")
    assert other["service_code"] == "gone-code" and other["service_name"] == "Old category"
