"""Routing with a learned model and places from words (docs/judgement.md): the order of the category
rules (known code, override keyword, model top 1 above its threshold, triage with suggestions, keywords
without a model), the location bands (point, placed, confirm, not found; a failing geocoder routes without a
place), the handlers that ask the judges and log what they said, and the replies that confirm or correct a
place. Fake model and geocoder; Demoville."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

import router_fakes
from router_fakes import (
    CENTRE,
    CITY_HALL,
    FAR_AWAY,
    NORD,
    Answer,
    FakeGeocoder,
    FakeModel,
    FakeRouterRepository,
    extract_place,
    fake_store,
    judging_demo,
)
from services.router.domain import (
    ModelSuggestions,
    Place,
    PlaceLookup,
    RoutingInput,
    awaits_place,
    is_affirmative,
    route,
)
from services.router.service_layer import handlers as h
from shared.events import CaseMessageAdded, CaseOpened, CaseRecategorised, RoutingDecided, RoutingFields, Suggestion
from shared.jurisdiction import load_jurisdiction
from support.uow import T0, FakeStore, event

VERSION = "demo-0123456789ab"


def model_says(*pairs: tuple[str, float]) -> ModelSuggestions:
    return ModelSuggestions(model_version=VERSION,
                            suggestions=[Suggestion(service_code=c, probability=p) for c, p in pairs])


def looked_up(point: tuple[float, float], confidence: float, matched: str = "1200 MAIN ST", **kw: Any) -> PlaceLookup:
    return PlaceLookup(query="1200 Main St", answer=Place(lat=point[0], long=point[1], confidence=confidence,
                                                          matched=matched, kind="address", source="gazetteer"), **kw)


# -- the category ---------------------------------------------------------------------------------------


def test_a_known_service_code_is_kept_and_the_model_version_is_still_recorded() -> None:
    d = route(RoutingInput(service_code="graffiti", description="pothole everywhere"), judging_demo(), T0,
              suggestions=ModelSuggestions(model_version=VERSION))
    assert (d.service_code, d.category_source, d.classifier) == ("graffiti", "service_code", None)
    assert d.model_version == VERSION


def test_an_override_keyword_chooses_its_service_before_the_model() -> None:
    d = route(RoutingInput(description="the sharps box in the park is overflowing"), judging_demo(), T0,
              suggestions=model_says(("pothole", 0.97)))
    assert (d.service_code, d.category_source, d.matched_keywords) == ("needle", "keywords", ["sharps box"])
    assert d.classifier is not None and d.classifier.method == "keywords" and d.classifier.model_version == VERSION
    assert any("override keyword" in n for n in d.notes)


def test_the_models_top_service_decides_when_it_is_probable_enough() -> None:
    d = route(RoutingInput(description="big hole in the road"), judging_demo(), T0,
              suggestions=model_says(("pothole", 0.61), ("snow", 0.2), ("tree", 0.1)))
    assert (d.service_code, d.category_source, d.queue, d.score) == ("pothole", "keywords", "roads", 0.61)
    assert d.classifier is not None and d.classifier.method == "model" and d.classifier.model_version == VERSION
    assert [s.service_code for s in d.classifier.suggestions] == ["pothole", "snow", "tree"]


def test_below_min_probability_the_case_goes_to_triage_with_the_suggestions() -> None:
    demo = judging_demo()
    d = route(RoutingInput(description="something odd near my house"), demo, T0,
              suggestions=model_says(("pothole", 0.59), ("tree", 0.3)))
    assert (d.service_code, d.category_source) == (demo.unclassified.service_code, "fallback")
    assert d.queue == demo.unclassified.queue
    assert d.classifier is not None and d.classifier.method == "model"
    assert [(s.service_code, s.probability) for s in d.classifier.suggestions] == [("pothole", 0.59), ("tree", 0.3)]


@pytest.mark.parametrize("pairs", [(("no-such-service", 0.99),), ()], ids=["unknown service", "no suggestion"])
def test_a_model_answer_that_names_no_service_goes_to_triage(pairs: tuple[tuple[str, float], ...]) -> None:
    demo = judging_demo()
    d = route(RoutingInput(description="hmm"), demo, T0, suggestions=model_says(*pairs))
    assert (d.service_code, d.category_source) == (demo.unclassified.service_code, "fallback")


def test_without_a_model_the_keywords_decide_and_their_scores_are_the_suggestions() -> None:
    d = route(RoutingInput(description="The street light is out, very dark at night"), load_jurisdiction("demo"), T0)
    assert (d.service_code, d.category_source, d.model_version) == ("streetlight", "keywords", None)
    assert d.classifier is not None and d.classifier.method == "keywords" and d.classifier.model_version is None
    assert d.classifier.suggestions[0].service_code == "streetlight"
    assert d.classifier.suggestions[0].probability == d.score


def test_the_override_keyword_also_beats_the_keyword_matcher_without_a_model() -> None:
    d = route(RoutingInput(description="pothole next to the sharps box"), judging_demo(), T0)
    assert d.service_code == "needle" and d.classifier is not None and d.classifier.method == "keywords"


# -- the place ------------------------------------------------------------------------------------------


def test_a_report_with_its_own_point_is_located_by_it_whatever_the_lookup_says() -> None:
    d = route(RoutingInput(description="pothole", lat=CENTRE[0], long=CENTRE[1]), judging_demo(), T0,
              place=looked_up(NORD, 0.99))
    assert d.location is not None and d.location.status == "point" and d.district_id == "centre"


def test_a_confident_answer_places_the_case_and_decides_its_district() -> None:
    d = route(RoutingInput(description="pothole", address="1200 Main St"), judging_demo(), T0,
              place=looked_up(NORD, 0.8))
    loc = d.location
    assert loc is not None and (loc.status, loc.lat, loc.long, loc.matched, loc.source) == (
        "placed", NORD[0], NORD[1], "1200 MAIN ST", "gazetteer")
    assert (d.district_id, d.location_status, loc.confidence, loc.kind, loc.query) == (
        "nord", "district", 0.8, "address", "1200 Main St")


def test_an_answer_between_the_bands_asks_the_resident_and_keeps_no_point() -> None:
    d = route(RoutingInput(description="pothole"), judging_demo(), T0, place=looked_up(NORD, 0.79))
    loc = d.location
    assert loc is not None and (loc.status, loc.matched, loc.lat, loc.long) == ("confirm", "1200 MAIN ST", None, None)
    assert d.district_id is None and d.location_status == "missing"


def test_a_confirmed_answer_places_the_case_whatever_its_confidence() -> None:
    d = route(RoutingInput(description="pothole"), judging_demo(), T0, place=looked_up(NORD, 0.55, confirmed=True))
    assert d.location is not None and d.location.status == "placed" and d.district_id == "nord"


@pytest.mark.parametrize(("point", "confidence"), [(NORD, 0.49), (CITY_HALL, 0.99), (FAR_AWAY, 0.99)],
                         ids=["weak", "fallback point", "outside"])
def test_weak_fallback_or_outside_answers_are_not_found(point: tuple[float, float], confidence: float) -> None:
    d = route(RoutingInput(description="pothole"), judging_demo(), T0, place=looked_up(point, confidence))
    assert d.location is not None and d.location.status == "not_found"
    assert d.location.lat is None and d.district_id is None


def test_nothing_matched_and_nothing_written_are_not_found() -> None:
    nothing = route(RoutingInput(description="pothole"), judging_demo(), T0, place=PlaceLookup(query="Nowhere Rd"))
    unwritten = route(RoutingInput(description="pothole"), judging_demo(), T0, place=PlaceLookup())
    assert nothing.location is not None and (nothing.location.status, nothing.location.query) == ("not_found",
                                                                                                 "Nowhere Rd")
    assert unwritten.location is not None and unwritten.location.status == "not_found"
    assert "no place written in the text" in unwritten.notes


def test_a_failed_lookup_routes_without_a_place_and_says_so() -> None:
    d = route(RoutingInput(description="pothole"), judging_demo(), T0,
              place=PlaceLookup(query="1200 Main St", error="ConnectionError: down"))
    assert d.location is None and d.service_code == "pothole" and d.district_id is None
    assert any("geocoder failed" in n for n in d.notes)


@pytest.mark.parametrize("reply", ["yes", "Y", "Yes please!", "YES.", "oui", "Oui !", "c'est ça", "C'EST CA",
                                   "ok", "yes, thanks", "exactement"])
def test_short_yeses_in_english_and_french_confirm(reply: str) -> None:
    assert is_affirmative(reply)


@pytest.mark.parametrize("reply", ["no", "non", "yes but it is at 1300 Main St", "", "thanks", "the other corner"])
def test_anything_else_is_no_confirmation(reply: str) -> None:
    assert not is_affirmative(reply)


# -- the handlers ---------------------------------------------------------------------------------------


@pytest.fixture
def store() -> FakeStore[FakeRouterRepository]:
    return fake_store()


def opened(**kw: Any) -> CaseOpened:
    return router_fakes.opened(kw.pop("description", "pothole at 1200 Main St"), **kw)


def added(case: CaseOpened, text: str, **kw: Any) -> CaseMessageAdded:
    fields: dict[str, Any] = {"channel": "sms", "channel_message_id": f"SM{uuid4().hex[:6]}"}
    return CaseMessageAdded(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                            message_id=uuid4(), description=text, **{**fields, **kw})


def table(model: FakeModel | None = None, geocoder: FakeGeocoder | None = None) -> Any:
    return h.handlers(judging_demo(), h.Judges(model=model, geocoder=geocoder, extract_place=extract_place))


def routing(store: FakeStore[FakeRouterRepository], n: int = -1) -> RoutingFields:
    return store.emitted("routing.decided")[n].payload(RoutingDecided).routing


async def test_an_opened_case_is_classified_by_the_model_and_placed_from_its_words(store: Any) -> None:
    model = FakeModel(default=[("pothole", 0.9), ("snow", 0.05)])
    geocoder = FakeGeocoder({"1200 Main St": Answer(NORD, 0.93, "1200 MAIN ST")})
    case = opened()

    assert await store.handle(table(model, geocoder), event(case, subject=case.case_id)) == "keywords"

    r = routing(store)
    assert r.service_code == "pothole" and r.district == "nord"
    assert r.classifier is not None and (r.classifier.method, r.classifier.model_version) == ("model", model.version)
    assert r.location is not None and (r.location.status, r.location.lat) == ("placed", NORD[0])
    assert model.asked == ["pothole at 1200 Main St"] and geocoder.asked == [("1200 Main St", None)]
    logged = store.repo.rows[case.case_id]["logged"]
    assert logged["model_version"] == model.version and logged["suggestions"]["suggestions"][0]["probability"] == 0.9
    assert logged["place"]["answer"]["matched"] == "1200 MAIN ST" and logged["service_request_id"] == "DEMO-26-000001"
    assert logged["department"] == "public-works"


async def test_the_written_address_is_looked_up_before_the_text(store: Any) -> None:
    geocoder = FakeGeocoder({"55 Elm St": Answer(CENTRE, 0.9, "55 ELM ST")})
    case = opened(address="55 Elm St")
    await store.handle(table(FakeModel(), geocoder), event(case, subject=case.case_id))
    assert geocoder.asked == [("55 Elm St", None)] and routing(store).district == "centre"


async def test_a_report_with_a_point_is_not_looked_up(store: Any) -> None:
    geocoder = FakeGeocoder()
    case = opened(lat=CENTRE[0], long=CENTRE[1])
    await store.handle(table(None, geocoder), event(case, subject=case.case_id))
    assert geocoder.asked == [] and routing(store).location is not None and routing(store).location.status == "point"


async def test_a_geocoder_that_is_down_never_loses_the_event(store: Any) -> None:
    case = opened()
    assert await store.handle(table(FakeModel(), FakeGeocoder(down=True)), event(case, subject=case.case_id)) \
        == "keywords"
    r = routing(store)
    assert r.service_code == "pothole" and r.location is None and r.district is None
    logged = store.repo.rows[case.case_id]["logged"]
    assert logged["place"]["error"].startswith("ConnectionError") and any("geocoder failed" in n for n in logged["notes"])


async def test_a_known_service_code_is_not_shown_to_the_model_but_its_version_is_logged(store: Any) -> None:
    model = FakeModel()
    case = opened(service_code="graffiti", lat=CENTRE[0], long=CENTRE[1])
    await store.handle(table(model), event(case, subject=case.case_id))
    assert model.asked == [] and routing(store).classifier is None
    assert store.repo.rows[case.case_id]["logged"]["model_version"] == model.version


async def confirm_pending(store: Any, tbl: Any) -> CaseOpened:
    case = opened()
    await store.handle(tbl, event(case, subject=case.case_id))
    first = routing(store)
    assert first.location is not None and (first.location.status, first.location.matched) == ("confirm", "MAIN ST")
    return case


async def test_a_yes_to_did_you_mean_places_the_case_at_that_answer(store: Any) -> None:
    tbl = table(FakeModel(), FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street")}))
    case = await confirm_pending(store, tbl)

    later = T0 + timedelta(minutes=3)
    assert await store.handle(tbl, event(added(case, "Yes please"), subject=case.case_id), now=later) == "confirmed"

    r = routing(store)
    assert r.location is not None and (r.location.status, r.location.source, r.location.lat) == (
        "placed", "gazetteer", NORD[0])
    assert r.district == "nord" and r.service_code == "pothole"
    row = store.repo.rows[case.case_id]
    assert row["decided_at"] == later and row["logged"]["place"]["confirmed"] is True
    assert row["logged"]["previous"]["district"] is None


async def test_a_reply_with_another_address_is_looked_up_again(store: Any) -> None:
    geocoder = FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street"),
                             "55 Elm St": Answer(CENTRE, 0.95, "55 ELM ST")})
    tbl = table(FakeModel(), geocoder)
    case = await confirm_pending(store, tbl)

    assert await store.handle(tbl, event(added(case, "no, it is at 55 Elm St"), subject=case.case_id)) == "regeocoded"

    r = routing(store)
    assert r.location is not None and (r.location.status, r.location.matched) == ("placed", "55 ELM ST")
    assert r.district == "centre" and geocoder.asked[-1] == ("55 Elm St", None)


@pytest.mark.parametrize("text", ["thanks!", "no"])
async def test_other_replies_change_nothing(store: Any, text: str) -> None:
    tbl = table(FakeModel(), FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street")}))
    case = await confirm_pending(store, tbl)
    assert await store.handle(tbl, event(added(case, text), subject=case.case_id)) == "no_location"
    assert len(store.emitted("routing.decided")) == 1


async def test_a_failed_second_lookup_keeps_the_question_open(store: Any) -> None:
    geocoder = FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street")})
    tbl = table(FakeModel(), geocoder)
    case = await confirm_pending(store, tbl)
    geocoder.down = True
    assert await store.handle(tbl, event(added(case, "it is at 55 Elm St"), subject=case.case_id)) == "geocode_failed"
    assert len(store.emitted("routing.decided")) == 1
    assert store.repo.rows[case.case_id]["logged"]["location"]["status"] == "confirm"


async def test_a_yes_to_a_case_that_was_asked_nothing_changes_nothing(store: Any) -> None:
    tbl = table(FakeModel(), FakeGeocoder({"1200 Main St": Answer(NORD, 0.95, "1200 MAIN ST")}))
    case = opened()
    await store.handle(tbl, event(case, subject=case.case_id))
    assert await store.handle(tbl, event(added(case, "yes"), subject=case.case_id)) == "no_location"
    assert len(store.emitted("routing.decided")) == 1


async def test_a_rerouting_keeps_the_logged_suggestions_when_the_model_changed(store: Any) -> None:
    case = opened(description="deep hole in the road")
    await store.handle(table(FakeModel(version="demo-aaaaaaaaaaaa")), event(case, subject=case.case_id))

    newer = FakeModel(default=[("tree", 0.99)], version="demo-bbbbbbbbbbbb")
    result = await store.handle(table(newer), event(added(case, "here", lat=CENTRE[0], long=CENTRE[1]),
                                                    subject=case.case_id))

    assert result == "rerouted" and newer.asked == []
    r = routing(store)
    assert r.service_code == "pothole" and r.district == "centre"
    assert r.classifier is not None and r.classifier.model_version == "demo-aaaaaaaaaaaa"


async def test_a_recategorised_case_keeps_the_place_it_was_found_at(store: Any) -> None:
    tbl = table(FakeModel(), FakeGeocoder({"1200 Main St": Answer(NORD, 0.95, "1200 MAIN ST")}))
    case = opened()
    await store.handle(tbl, event(case, subject=case.case_id))
    recat = CaseRecategorised(case_id=case.case_id, service_request_id=case.service_request_id,
                              jurisdiction_id="demo", actor="u-1", actor_role="department_staff",
                              service_code="tree", previous_service_code="pothole", reason="photo",
                              description=case.description, requested_datetime=T0)
    assert await store.handle(tbl, event(recat, subject=case.case_id)) == "recategorised"
    r = routing(store)
    assert (r.service_code, r.district, r.source) == ("tree", "nord", "manual")
    assert r.location is not None and r.location.status == "placed"


# -- the real judges' types ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    """A real `shared.judgement.TextModel` learned from a dozen invented Demoville reports (trained once)."""
    from shared.judgement import TextModel

    texts = ["pothole in road", "deep pothole", "hole in the street", "road is broken", "street light out",
             "lamp is dark", "light not working", "dark street lamp", "graffiti on wall", "spray paint tag",
             "vandal painted wall", "tags on the bridge"] * 3
    labels = (["pothole"] * 4 + ["streetlight"] * 4 + ["graffiti"] * 4) * 3
    return TextModel.train(texts, labels, name="demo")


async def test_the_real_model_and_a_real_geocode_answer_route_a_report(store: Any, tiny_model: Any) -> None:
    from shared.geocode import GeocodeAnswer

    answer = GeocodeAnswer(lat=NORD[0], long=NORD[1], confidence=0.9, matched="1200 MAIN ST", kind="address",
                           source="gazetteer", query="1200 Main St")
    geocoder = FakeGeocoder({"1200 Main St": answer})  # type: ignore[dict-item]
    case = opened(description="deep pothole at 1200 Main St")

    await store.handle(table(tiny_model, geocoder), event(case, subject=case.case_id))

    r = routing(store)
    assert r.service_code == "pothole" and r.district == "nord"
    assert r.classifier is not None and r.classifier.model_version == tiny_model.version
    assert r.classifier.suggestions[0].service_code == "pothole" and r.classifier.suggestions[0].probability >= 0.6
    assert r.location is not None and (r.location.status, r.location.matched) == ("placed", "1200 MAIN ST")


async def test_a_second_yes_after_the_case_was_placed_changes_nothing(store: Any) -> None:
    tbl = table(FakeModel(), FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street")}))
    case = await confirm_pending(store, tbl)
    assert await store.handle(tbl, event(added(case, "oui"), subject=case.case_id)) == "confirmed"
    assert await store.handle(tbl, event(added(case, "Oui !"), subject=case.case_id)) == "no_location"
    assert len(store.emitted("routing.decided")) == 2


async def test_a_reply_naming_a_place_outside_the_jurisdiction_places_nothing(store: Any) -> None:
    geocoder = FakeGeocoder({"1200 Main St": Answer(NORD, 0.6, "MAIN ST", kind="street"),
                             "55 Elm St": Answer((48.8566, 2.3522), 0.95, "55 ELM ST")})  # Paris
    tbl = table(FakeModel(), geocoder)
    case = await confirm_pending(store, tbl)

    assert await store.handle(tbl, event(added(case, "no, at 55 Elm St"), subject=case.case_id)) == "regeocoded"

    r = routing(store)
    assert r.location is not None and r.location.status == "not_found" and r.location.lat is None
    assert r.district is None


# -- a place given later, after none was found -----------------------------------------------------------


def chat_report(description: str = "the street light is out, very dark", **kw: Any) -> CaseOpened:
    return opened(description=description, channel="messenger", channel_message_id="m_report", **kw)


def chat_follow_up(case: CaseOpened, text: str, **kw: Any) -> CaseMessageAdded:
    return added(case, text, channel="messenger", channel_message_id=f"m_{uuid4().hex[:6]}", **kw)


async def test_an_address_typed_after_a_chat_report_without_a_place_places_the_case(store: Any) -> None:
    geocoder = FakeGeocoder({"55 Elm St": Answer(CENTRE, 0.95, "55 ELM ST")})
    tbl = table(FakeModel(), geocoder)
    case = chat_report()
    await store.handle(tbl, event(case, subject=case.case_id))
    first = routing(store)
    assert first.location is not None and first.location.status == "not_found" and first.district is None

    later = T0 + timedelta(minutes=2)
    follow_up = chat_follow_up(case, "55 Elm St", address="55 Elm St")
    assert await store.handle(tbl, event(follow_up, subject=case.case_id), now=later) == "located"

    r = routing(store)
    assert r.location is not None and (r.location.status, r.location.matched, r.location.lat) == (
        "placed", "55 ELM ST", CENTRE[0])
    assert r.district == "centre" and r.service_code == first.service_code
    assert geocoder.asked[-1] == ("55 Elm St", None)
    row = store.repo.rows[case.case_id]
    assert row["decided_at"] == later and row["logged"]["input"]["address"] == "55 Elm St"
    assert row["logged"]["previous"]["district"] is None


async def test_a_written_place_not_found_is_looked_up_again_from_a_follow_ups_words(store: Any) -> None:
    geocoder = FakeGeocoder({"55 Elm St": Answer(CENTRE, 0.6, "ELM ST", kind="street")})
    tbl = table(FakeModel(), geocoder)
    case = opened(description="pothole at 99 Nowhere Rd")  # written, but nothing matches
    await store.handle(tbl, event(case, subject=case.case_id))
    assert routing(store).location.status == "not_found"  # type: ignore[union-attr]

    assert await store.handle(tbl, event(added(case, "sorry, it is at 55 Elm St"), subject=case.case_id)) == "located"

    r = routing(store)  # between the bands: the resident is asked "Did you mean ELM ST?" as for a first lookup
    assert r.location is not None and (r.location.status, r.location.matched) == ("confirm", "ELM ST")
    assert store.repo.rows[case.case_id]["logged"]["input"]["address"] is None


async def test_a_follow_up_after_a_failed_lookup_places_the_case(store: Any) -> None:
    geocoder = FakeGeocoder({"55 Elm St": Answer(NORD, 0.9, "55 ELM ST")}, down=True)
    tbl = table(FakeModel(), geocoder)
    case = chat_report(description="pothole at 1200 Main St")
    await store.handle(tbl, event(case, subject=case.case_id))
    assert routing(store).location is None
    geocoder.down = False

    assert await store.handle(tbl, event(chat_follow_up(case, "55 Elm St", address="55 Elm St"),
                                         subject=case.case_id)) == "located"
    assert routing(store).district == "nord"


async def test_a_follow_up_whose_place_is_not_found_either_changes_nothing(store: Any) -> None:
    tbl = table(FakeModel(), FakeGeocoder())
    case = chat_report()
    await store.handle(tbl, event(case, subject=case.case_id))

    result = await store.handle(tbl, event(chat_follow_up(case, "9 Nowhere Rd", address="9 Nowhere Rd"),
                                           subject=case.case_id))

    assert result == "not_found" and len(store.emitted("routing.decided")) == 1


@pytest.mark.parametrize("first", ["point", "placed"])
async def test_a_case_with_a_point_is_not_moved_by_a_follow_ups_words(store: Any, first: str) -> None:
    geocoder = FakeGeocoder({"1200 Main St": Answer(NORD, 0.95, "1200 MAIN ST"),
                             "55 Elm St": Answer(CENTRE, 0.95, "55 ELM ST")})
    tbl = table(FakeModel(), geocoder)
    case = opened(**({"lat": NORD[0], "long": NORD[1]} if first == "point" else {}))
    await store.handle(tbl, event(case, subject=case.case_id))
    asked = len(geocoder.asked)

    follow_up = chat_follow_up(case, "it is really at 55 Elm St", address="55 Elm St")
    assert await store.handle(tbl, event(follow_up, subject=case.case_id)) == "no_location"

    assert len(store.emitted("routing.decided")) == 1 and len(geocoder.asked) == asked
    assert routing(store).district == "nord"


async def test_a_follow_up_naming_no_place_on_a_case_without_one_changes_nothing(store: Any) -> None:
    geocoder = FakeGeocoder()
    tbl = table(FakeModel(), geocoder)
    case = chat_report()
    await store.handle(tbl, event(case, subject=case.case_id))

    assert await store.handle(tbl, event(chat_follow_up(case, "it is getting worse"), subject=case.case_id)) \
        == "no_location"
    assert len(store.emitted("routing.decided")) == 1 and geocoder.asked == []


@pytest.mark.parametrize(("logged", "expected"), [
    ({"input": {"lat": None, "long": None}, "location": {"status": "not_found"}}, True),
    ({"input": {"lat": None, "long": None}}, True),  # the geocoder failed, or logged before locations
    ({"input": {"lat": None, "long": None}, "location": {"status": "confirm"}}, False),  # "Did you mean": its own rule
    ({"input": {"lat": None, "long": None}, "location": {"status": "placed"}}, False),
    ({"input": {"lat": NORD[0], "long": NORD[1]}, "location": {"status": "point"}}, False),
    ({"input": {"lat": NORD[0], "long": NORD[1]}}, False),
    (None, False),
])
def test_only_a_decision_without_a_usable_place_awaits_one(logged: dict[str, Any] | None, expected: bool) -> None:
    assert awaits_place(logged) is expected
