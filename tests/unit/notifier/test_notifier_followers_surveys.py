"""The notifier for followers and surveys, on an in-memory unit of work and fake senders: a new follower is
confirmed once on the channel they chose and then hears status notices and public updates, never replies
nor surveys; each reporter (merged ones included) gets one survey invitation, with a link whose token reads
back, when a case first reaches `resolved` or `closed`, not for a duplicate, cancellation or referral;
opt-outs are honoured."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from notifier_fakes import ADDRESS, PHONE, Sent, handle, merge, opened, opt_out, recorded, table_for

from services.notifier.domain.channels import short_text, sms_segments
from services.notifier.domain.messages import Notice, compose_email
from services.notifier.service_layer import handlers as h
from shared.events import (
    CaseFollowed,
    CaseOpened,
    CasePublicUpdate,
    CaseReplyRequested,
    CaseStatusChanged,
)
from shared.surveys import read_survey_token, survey_jti
from support.mail import text_of
from support.uow import T0

SECRET = "unit-survey-secret-of-at-least-32-bytes"
PORTAL = "https://portal.city.test"
FAY = "fay@follower.test"
FOLLOWER_PHONE = "+16135550177"


@pytest.fixture
def table(store: Any, sent: Sent) -> Any:
    return table_for(store, sent, survey=h.SurveyLinks(secret=SECRET, ttl_s=3600, base_url=PORTAL + "/"))


def followed(case: CaseOpened, *, channel: str = "email", key: str = "ck-fay", language: str = "en") -> CaseFollowed:
    pii = {"email": FAY} if channel == "email" else {"phone": FOLLOWER_PHONE}
    return CaseFollowed(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                        follower_contact_key=key, notify_channel=channel, language=language,  # type: ignore[arg-type]
                        pii=pii)


def status(case: CaseOpened, workflow_status: str, *, open311: str = "closed", notify: bool = True,
           notes: str | None = None) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                             status=open311, status_notes=notes, workflow_status=workflow_status,  # type: ignore[arg-type]
                             previous_workflow_status="in_progress", notify=notify)


def mails_to(sent: Sent, address: str) -> list[Any]:
    return [m for m in sent.emails if m["To"].addresses[0].addr_spec == address]


def survey_mails(sent: Sent, address: str = ADDRESS) -> list[Any]:
    return [m for m in mails_to(sent, address) if "How did we do?" in m["Subject"]]


# --- followers ----------------------------------------------------------------------------------------


async def test_a_new_follower_by_email_is_confirmed_once(store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)
    ev = followed(case)

    assert await handle(store, table, ev) == "sending,sent"
    assert await handle(store, table, ev) == "already_attempted"  # the same follow published again

    [mail] = mails_to(sent, FAY)
    assert case.service_request_id in mail["Subject"] and "You now follow" in mail["Subject"]
    assert f"You now follow case {case.service_request_id}" in text_of(mail)
    assert store.repo.deliveries[-1]["kind"] == "followed"
    note = recorded(store)[-1]
    assert (note.kind, note.notice, note.channel, note.pii.email) == ("acknowledgement", None, "email", FAY)


async def test_a_follower_by_sms_is_confirmed_in_french_with_how_to_stop(store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)

    assert await handle(store, table, followed(case, channel="sms", language="fr-CA")) == "sending,sent"

    [(channel, to, text)] = sent.texts
    assert (channel, to) == ("sms", FOLLOWER_PHONE)
    assert f"vous suivez désormais le dossier {case.service_request_id}" in text and "STOP" in text


async def test_followers_hear_status_notices_and_public_updates_but_not_replies(store: Any, table: Any,
                                                                               sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)
    await handle(store, table, followed(case))
    await handle(store, table, followed(case, channel="sms", key="ck-sam"))

    await handle(store, table, status(case, "waiting_on_resident", open311="open", notes="Which side?"))
    await handle(store, table, CasePublicUpdate(case_id=case.case_id, service_request_id=case.service_request_id,
                                                jurisdiction_id="demo", actor="u1", actor_role="supervisor",
                                                update_id=uuid4(), text="A crew comes Tuesday."))
    await handle(store, table, CaseReplyRequested(case_id=case.case_id, service_request_id=case.service_request_id,
                                                  jurisdiction_id="demo", actor="u1", actor_role="supervisor",
                                                  reply_id=uuid4(), contact_key="ck", text="Just for you"))

    fay = mails_to(sent, FAY)
    assert len(fay) == 3  # confirmation, status notice, update
    assert "A case you follow was updated" in fay[1]["Subject"] and "Which side?" in text_of(fay[1])
    assert "A crew comes Tuesday." in text_of(fay[2]) and "a case you follow" in fay[2]["Subject"]
    sam = [t for t in sent.texts if t[1] == FOLLOWER_PHONE]
    assert len(sam) == 3 and "A crew comes Tuesday." in sam[2][2]
    assert not any("Just for you" in text_of(m) for m in [*fay]) and not any("Just for you" in t[2] for t in sam)
    assert len(mails_to(sent, ADDRESS)) == 4  # the reporter: acknowledgement, status, update, reply


async def test_followers_are_told_notes_and_updates_without_anyones_contact_data(store: Any, table: Any,
                                                                                 sent: Sent) -> None:
    # Anyone may follow any case: what staff wrote for the reporters reaches followers scrubbed, as the
    # public reads and open data show it; the reporter reads it as written.
    case = opened()
    await handle(store, table, case)
    await handle(store, table, followed(case))
    await handle(store, table, status(case, "waiting_on_resident", open311="open",
                                      notes="Call Joe at 613-555-0142 or joe.crew@city.test"))
    await handle(store, table, CasePublicUpdate(case_id=case.case_id, service_request_id=case.service_request_id,
                                                jurisdiction_id="demo", actor="u1", actor_role="supervisor",
                                                update_id=uuid4(), text="Ann (ann@home.test) says it grew."))
    to_fay = " ".join(text_of(m) for m in mails_to(sent, FAY))
    assert "613-555-0142" not in to_fay and "joe.crew@city.test" not in to_fay and "ann@home.test" not in to_fay
    assert "[phone]" in to_fay and "[email]" in to_fay
    to_reporter = " ".join(text_of(m) for m in mails_to(sent, ADDRESS))
    assert "613-555-0142" in to_reporter and "ann@home.test" in to_reporter


async def test_a_follower_who_is_also_the_reporter_hears_each_notice_once(store: Any, table: Any,
                                                                          sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)
    await handle(store, table, followed(case, key="ck"))  # the reporter follows their own case

    assert await handle(store, table, status(case, "waiting_on_resident", open311="open")) == "sending,sent"


async def test_an_opted_out_follower_hears_nothing(store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)
    await handle(store, table, opt_out(FOLLOWER_PHONE))

    assert await handle(store, table, followed(case, channel="sms")) == "suppressed"
    assert await handle(store, table, status(case, "resolved")) == "sending,suppressed,sending,sent,sent"
    assert not [t for t in sent.texts if t[1] == FOLLOWER_PHONE]


async def test_followers_of_a_case_merged_into_another_hear_the_survivors_notices(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    first, second = opened(contact_key="ck1"), opened(contact_key="ck2", email="bob@resident.test")
    for ev in (first, second):
        await handle(store, table, ev)
    await handle(store, table, followed(second))
    await handle(store, table, merge(second, first))

    await handle(store, table, status(first, "waiting_on_resident", open311="open"))

    assert len(mails_to(sent, FAY)) == 2  # confirmation, then the survivor's notice


# --- survey invitations -------------------------------------------------------------------------------


async def test_a_resolved_case_invites_each_reporter_once_with_a_link_whose_token_reads_back(
        store: Any, table: Any, sent: Sent) -> None:
    first, second = opened(contact_key="ck1"), opened(contact_key="ck2", email="bob@resident.test", language="fr")
    for ev in (first, second):
        await handle(store, table, ev)
    await handle(store, table, merge(second, first))
    await handle(store, table, followed(first))

    await handle(store, table, status(first, "resolved", notes="Filled"))
    await handle(store, table, status(first, "in_progress", open311="open"))
    await handle(store, table, status(first, "closed", notify=False))  # closed again: no second invitation

    [ann] = survey_mails(sent, ADDRESS)
    [bob] = [m for m in mails_to(sent, "bob@resident.test") if "Votre avis" in m["Subject"]]
    assert not survey_mails(sent, FAY), "followers are not asked"
    for mail, key, lang in ((ann, "ck1", "en"), (bob, "ck2", "fr")):
        [link] = [w for w in text_of(mail).split() if w.startswith(PORTAL + "/survey/")]
        invitation = read_survey_token(SECRET, link.rsplit("/", 1)[1], now=T0)
        assert invitation.service_request_id == first.service_request_id  # the survivor's number
        assert (invitation.jti, invitation.language) == (survey_jti(first.service_request_id, key), lang)
        assert key not in link  # the link holds no contact data
        assert invitation.expires_at == T0 + timedelta(hours=1)
        assert f'href="{link}"' in mail.get_body(("html",)).get_content()
    assert sum(d["kind"] == "survey_invitation" for d in store.repo.deliveries) == 2


@pytest.mark.parametrize("workflow_status", ["duplicate", "cancelled", "referred_out"])
async def test_no_invitation_for_a_case_closed_without_being_worked(store: Any, table: Any, sent: Sent,
                                                                    workflow_status: str) -> None:
    case = opened()
    await handle(store, table, case)
    await handle(store, table, status(case, workflow_status))
    assert not survey_mails(sent) and not any(d["kind"] == "survey_invitation" for d in store.repo.deliveries)


async def test_an_sms_reporter_gets_the_whole_link_by_text(store: Any, table: Any, sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    await handle(store, table, case)
    await handle(store, table, status(case, "resolved"))

    [invite] = [t for t in sent.texts if "/survey/" in t[2]]
    link = invite[2].split()[-1]
    invitation = read_survey_token(SECRET, link.rsplit("/", 1)[1], now=T0)
    assert invitation.jti == survey_jti(case.service_request_id, "ck")
    assert len(link.rsplit("/", 1)[1]) < 100 and sms_segments(invite[2]).count == 1, invite[2]


async def test_an_opted_out_reporter_is_not_invited(store: Any, table: Any, sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    await handle(store, table, case)
    await handle(store, table, opt_out(PHONE))

    await handle(store, table, status(case, "resolved"))

    assert not [t for t in sent.texts if "/survey/" in t[2]]
    invitation = [d for d in store.repo.deliveries if d["kind"] == "survey_invitation"]
    assert [d["status"] for d in invitation] == ["suppressed"]


async def test_a_report_merged_after_its_survivor_was_resolved_is_invited_late_once(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    first, second = opened(contact_key="ck1"), opened(contact_key="ck2", email="bob@resident.test")
    for ev in (first, second):
        await handle(store, table, ev)
    await handle(store, table, status(first, "resolved"))

    await handle(store, table, merge(second, first))
    await handle(store, table, status(first, "closed", notify=False))

    bob = [m for m in mails_to(sent, "bob@resident.test") if "How did we do?" in m["Subject"]]
    assert len(bob) == 1 and first.service_request_id in bob[0]["Subject"]


def test_the_survey_text_keeps_the_link_whole_however_long() -> None:
    link = PORTAL + "/survey/" + "x" * 600
    notice = Notice(kind="survey_invitation", service_request_id="DEMO-26-000001", language="fr", link=link)
    assert short_text(notice).endswith(link)
    mail = compose_email(notice, to_address=ADDRESS, from_address="311@city.test", from_name="City", now=T0,
                         message_id="<m@city.test>")
    assert link in text_of(mail) and "Le dossier DEMO-26-000001 est fermé" in text_of(mail)
