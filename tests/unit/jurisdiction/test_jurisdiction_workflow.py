"""Workflow configuration: default statuses and transitions, outside vocabularies, escalation, retention, canned replies."""

from __future__ import annotations

import csv
import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from shared.jurisdiction import (
    JurisdictionConfigError,
    TransitionNotAllowed,
    UnknownStatus,
    default_workflow,
    load_jurisdiction,
    shared_data_root,
)

needs_data = pytest.mark.usefixtures("require_shared_data")

MINIMAL = """
id: tiny
name: Tiny
timezone: Europe/Paris
locales: [en, fr]
departments:
  - {id: roads, queues: [roads-main, roads-night]}
  - {id: "311"}
services:
  - {service_code: pothole, service_name: Pothole, department: roads}
unclassified: {service_code: unclassified, service_name: Other, department: "311"}
"""


def _load(tmp_path: Path, extra: str = ""):  # noqa: ANN202 - a Jurisdiction
    folder = tmp_path / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jurisdiction.yaml"
    path.write_text(textwrap.dedent(MINIMAL) + textwrap.dedent(extra), encoding="utf-8")
    return load_jurisdiction(path, use_cache=False)


# -- the defaults ------------------------------------------------------------------------------------


def test_default_statuses_map_to_open311_and_mark_pauses_and_notices() -> None:
    wf = default_workflow()
    assert wf.ids == (
        "new", "acknowledged", "assigned", "in_progress", "waiting_on_resident", "on_hold",
        "resolved", "closed", "duplicate", "cancelled", "referred_out",
    )  # fmt: skip
    assert [s for s in wf.ids if wf.open311(s) == "open"] == [
        "new", "acknowledged", "assigned", "in_progress", "waiting_on_resident", "on_hold",
    ]  # fmt: skip
    assert {s.id for s in wf.statuses if s.pauses_sla} == {"waiting_on_resident", "on_hold"}
    assert {s.id for s in wf.statuses if s.resume_on_reply} == {"waiting_on_resident"}
    assert {s.id for s in wf.statuses if s.notify} == {"waiting_on_resident", "resolved", "cancelled", "referred_out"}
    assert {s.id for s in wf.statuses if s.terminal} == {"duplicate", "cancelled", "referred_out"}
    assert (wf.initial, wf.on_routed, wf.on_assigned, wf.resume_to, wf.merged_status) == (
        "new", "acknowledged", "assigned", "in_progress", "duplicate",
    )  # fmt: skip
    for status in wf.statuses:
        assert status.label("en") and status.label("fr") and status.label("fr") != status.id
        if status.notify:
            english, french = status.text("en"), status.text("fr")
            assert english and french and english != french and len(english) > 40
    assert wf.validate_graph() == []


def test_a_case_works_through_the_default_path_and_may_reopen_once_resolved() -> None:
    wf = default_workflow()
    for step in [("new", "acknowledged"), ("acknowledged", "assigned"), ("assigned", "in_progress"),
                 ("in_progress", "waiting_on_resident"), ("waiting_on_resident", "in_progress"),
                 ("in_progress", "on_hold"), ("on_hold", "in_progress"), ("in_progress", "resolved"),
                 ("resolved", "in_progress"), ("resolved", "closed")]:  # fmt: skip
        wf.check(*step)
    assert wf.allowed("closed") == ()
    assert wf.allowed("duplicate") == ()


def test_a_refused_transition_names_the_allowed_ones() -> None:
    wf = default_workflow()
    with pytest.raises(TransitionNotAllowed) as caught:
        wf.check("resolved", "new")
    error = caught.value
    assert (error.from_id, error.to_id, error.allowed) == ("resolved", "new", ("in_progress", "closed"))
    assert str(error) == "A case in status 'resolved' cannot move to 'new'; from 'resolved' it may move to: in_progress, closed."
    with pytest.raises(TransitionNotAllowed, match="'duplicate' is final"):
        wf.check("duplicate", "in_progress")


def test_an_unknown_status_is_a_named_error() -> None:
    wf = default_workflow()
    with pytest.raises(UnknownStatus, match="unknown status 'reopened'; this workflow has: new, acknowledged"):
        wf.status("reopened")
    with pytest.raises(UnknownStatus):
        wf.check("new", "reopened")
    with pytest.raises(UnknownStatus):
        wf.allowed("reopened")
    assert isinstance(UnknownStatus("x", ()), LookupError)


@pytest.mark.parametrize(
    ("vocabulary", "value", "closure_reason", "expected"),
    [
        ("nyc", "Open", None, "acknowledged"),
        ("nyc", "Assigned", None, "assigned"),
        ("nyc", "Pending", None, "on_hold"),
        ("nyc", "Started", None, "in_progress"),
        ("nyc", "STARTED ", None, "in_progress"),
        ("nyc", "Closed", None, "closed"),
        ("boston", "Open", None, "acknowledged"),
        ("boston", "Closed", None, "closed"),
        ("boston", "Closed", "Case Closed. Closed date : 2022-01-03 06:44:23.4 Duplicate of Existing Case", "duplicate"),
        ("boston", "Closed", "Case Closed. Closed date : Sat Jan 01 15:10:16 EST 2022 Resolved Bag removed", "resolved"),
        ("boston", "Closed", "Case Closed. Closed date : 2022-01-03 10:11:24.96 Case Invalid", "cancelled"),
        ("boston", "Closed", "Case Closed. Closed date : Mon Jan 03 13:21:57 EST 2022 Noted", "closed"),
        ("boston", "Open", " ", "acknowledged"),
        ("montreal", "Acceptée", None, "acknowledged"),
        ("montreal", "Prise en charge", None, "assigned"),
        ("montreal", "En traitement", None, "in_progress"),
        ("montreal", "Terminée", None, "resolved"),
        ("montreal", "terminee", None, "resolved"),
        ("montreal", "Annulée", None, "cancelled"),
        ("montreal", "Refusée", None, "cancelled"),
        ("montreal", "Transmise à un partenaire", None, "referred_out"),
        ("montreal", "Started", None, None),
        ("paris", "Open", None, None),
    ],
)
def test_outside_vocabularies_resolve_to_our_statuses(
    vocabulary: str, value: str, closure_reason: str | None, expected: str | None
) -> None:
    assert default_workflow().from_outside(vocabulary, value, closure_reason) == expected


# -- the real vocabularies -----------------------------------------------------------------------------


@needs_data
def test_every_boston_case_status_and_closure_reason_resolves() -> None:
    wf = load_jurisdiction("boston").workflow
    path = shared_data_root() / "311_records" / "qsv_boston311-100.csv"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["case_status"] for r in rows} == {"Open", "Closed"}
    outcomes: Counter[str] = Counter()
    for row in rows:
        plain = wf.from_outside("boston", row["case_status"])
        assert plain is not None, row["case_status"]
        ours = wf.from_outside("boston", row["case_status"], row["closure_reason"])
        assert ours is not None
        assert wf.open311(ours) == row["case_status"].lower(), (row["case_status"], row["closure_reason"][:60])
        outcomes[ours] += 1
    # The sample: 15 open, and among the 85 closed, "Duplicate of Existing Case" x4 and "Case Invalid" x3.
    assert outcomes["acknowledged"] == 15
    assert outcomes["duplicate"] == 4 and outcomes["cancelled"] == 3
    assert outcomes["resolved"] > 30 and outcomes["closed"] > 10


@needs_data
def test_every_nyc_status_resolves() -> None:
    wf = load_jurisdiction("nyc").workflow
    path = shared_data_root() / "311_records" / "nyc311_2011_sample_1000.csv"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        values = Counter(r["Status"] for r in csv.DictReader(handle))
    assert set(values) >= {"Closed", "Assigned", "Pending"}
    for value in values:
        assert wf.from_outside("nyc", value) is not None, value
    assert wf.open311(wf.from_outside("nyc", "Closed")) == "closed"  # type: ignore[arg-type]


@needs_data
def test_every_montreal_dernier_statut_resolves() -> None:
    wf = load_jurisdiction("demo").workflow
    folder = shared_data_root() / "montreal"
    seen: Counter[str] = Counter()
    rows = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if "DERNIER_STATUT" not in row:
                    continue
                rows += 1
                value = (row["DERNIER_STATUT"] or "").strip()
                if not value:
                    # The export leaves the status empty on "Information" records (no place, no status).
                    assert row["NATURE"] == "Information", row["ACTI_NOM"]
                    continue
                seen[value] += 1
                assert wf.from_outside("montreal", value) is not None, value
    for path in sorted(folder.glob("*.json")):
        records = json.loads(path.read_text(encoding="utf-8"))
        for record in records:
            if record.get("DERNIER_STATUT"):
                seen[record["DERNIER_STATUT"]] += 1
                assert wf.from_outside("montreal", record["DERNIER_STATUT"]) is not None
    assert rows > 0, "no Montréal file with a DERNIER_STATUT column"


# -- YAML overrides and their validation -------------------------------------------------------------


def test_a_city_overrides_texts_and_adds_a_status_and_transitions(tmp_path: Path) -> None:
    jur = _load(
        tmp_path,
        """
        workflow:
          statuses:
            - id: resolved
              texts: {fr: "C'est réglé à Tiny."}
            - id: inspection
              open311: open
              labels: {en: Inspection scheduled, fr: Inspection prévue}
              aliases: {nyc: Inspection Scheduled}
          transitions:
            assigned: [inspection, in_progress]
            inspection: [in_progress, resolved]
            closed: [in_progress]
        """,
    )
    wf = jur.workflow
    assert wf.status("resolved").text("fr") == "C'est réglé à Tiny."
    assert wf.status("resolved").text("en") == default_workflow().status("resolved").text("en")
    assert wf.allowed("assigned") == ("inspection", "in_progress")
    assert wf.allowed("closed") == ("in_progress",)
    assert wf.from_outside("nyc", "inspection scheduled") == "inspection"
    assert wf.from_outside("nyc", "Started") == "in_progress"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("workflow: {transitions: {new: [reopened]}}", "workflow.transitions.new: unknown status 'reopened'"),
        ("workflow: {transitions: {ghost: [new]}}", "workflow.transitions.ghost: unknown status 'ghost'"),
        (
            "workflow: {statuses: [{id: limbo, open311: open}]}",
            "workflow.statuses.limbo: unreachable from 'new'",
        ),
        (
            "workflow: {statuses: [{id: limbo, open311: open, notify: true}], transitions: {new: [limbo, acknowledged]}}",
            "notify: true but no texts",
        ),
        (
            "workflow: {statuses: [{id: limbo, open311: open, notify: true, texts: {en: Hello there}}], "
            "transitions: {new: [limbo, acknowledged]}}",
            "workflow.statuses.limbo.texts: notify is on but there is no text for locales ['fr']",
        ),
        ("workflow: {transitions: {duplicate: [in_progress]}}", "'duplicate' is terminal"),
        ("workflow: {initial: closed}", "workflow.initial: status 'closed' must be an open one"),
        (
            "workflow: {statuses: [{id: on_hold, aliases: {nyc: [Started]}}]}",
            "'Started' already means 'in_progress'",
        ),
        ("escalations: [{id: e1, trigger: breach, move_to_queue: ghost}]", "move_to_queue: unknown queue 'ghost'"),
        ("escalations: [{id: e1, trigger: breach, department_ids: [ghost]}]", "unknown departments ['ghost']"),
        ("escalations: [{id: e1, trigger: breach, service_codes: [ghost]}]", "unknown service_codes ['ghost']"),
        ("escalations: [{id: e1, trigger: soon}]", "trigger"),
        ("escalations: [{id: e1, trigger: breach, email: [nobody]}]", "not an email address"),
        (
            "escalations: [{id: e1, trigger: breach}, {id: e1, trigger: warning}]",
            "escalations[1] ('e1'): id given twice",
        ),
        ("sla: {warning_share: 1}", "warning_share"),
        ("retention: {closed_days: 0}", "closed_days"),
        ("retention: {mode: shred}", "mode"),
        (
            "canned_responses: [{id: hi, title: {en: Hi, fr: Salut}, text: {en: Hello}}]",
            "canned_responses[0] ('hi').text: missing for locales ['fr']",
        ),
    ],
)
def test_workflow_and_escalation_mistakes_name_the_yaml_path(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(JurisdictionConfigError, match=_literal(message)):
        _load(tmp_path, extra + "\n")


def test_a_supervisor_queue_must_be_one_of_the_departments_queues(tmp_path: Path) -> None:
    bad = MINIMAL.replace("{id: roads, queues: [roads-main, roads-night]}", "{id: roads, supervisor_queue: \"311\"}")
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "jurisdiction.yaml").write_text(textwrap.dedent(bad), encoding="utf-8")
    with pytest.raises(JurisdictionConfigError, match=_literal("departments.roads.supervisor_queue '311' is not a queue of 'roads'")):
        load_jurisdiction(folder, use_cache=False)


def test_escalations_add_supervisor_queues_and_default_to_the_supervisors_email(tmp_path: Path) -> None:
    jur = _load(
        tmp_path,
        """
        escalations:
          - {id: roads-breach, trigger: breach, department_ids: [roads], raise_priority_to: urgent, move_to_supervisor_queue: true}
          - {id: pothole-warning, trigger: warning, service_codes: [pothole], move_to_queue: roads-night, email: [boss@tiny.example]}
        """,
    ).model_copy()
    roads = jur.department("roads")
    assert roads is not None and roads.supervisor_queue == "roads-supervisors"
    assert jur.queue("roads-supervisors").name == "roads — supervisors"  # type: ignore[union-attr]
    assert jur.department("311").supervisor_queue is None  # type: ignore[union-attr]
    (breach,) = jur.escalations_for("breach", "pothole", "roads")
    assert breach.raise_priority_to == 1 and jur.escalation_queue(breach, "roads") == "roads-supervisors"
    assert jur.escalation_emails(breach, "roads") == ()  # no supervisor_email in this city
    (warning,) = jur.escalations_for("warning", "pothole", "roads")
    assert jur.escalation_queue(warning, "roads") == "roads-night"
    assert jur.escalation_emails(warning, "roads") == ("boss@tiny.example",)
    assert jur.escalations_for("warning", "unclassified", "311") == ()
    assert jur.escalations_for("breach", "unclassified", "311") == ()
    assert jur.sla_warning_share == 0.75 and jur.retention.closed_days == 730 and jur.retention.mode == "erase"


def test_the_demo_city_declares_staff_work() -> None:
    demo = load_jurisdiction("demo")
    works = demo.department("public-works")
    assert works is not None and works.supervisor_email and works.supervisor_queue == "public-works-supervisors"
    assert {t.id for t in works.teams} >= {"roads-north", "electricians"}
    (breach,) = demo.escalations_for("breach", "pothole", "public-works")
    assert breach.raise_priority_to == 1
    assert demo.escalation_queue(breach, "public-works") == "public-works-supervisors"
    assert demo.escalation_emails(breach, "public-works") == (works.supervisor_email,)
    assert demo.workflow.allowed("closed") == ("in_progress",)
    assert 0 < demo.sla_warning_share < 1 and demo.retention.closed_days > 0
    assert len(demo.canned_responses) >= 3
    for canned in demo.canned_responses:
        assert set(canned.title) >= {"en", "fr"} and set(canned.text) >= {"en", "fr"}
    assert demo.canned_response("need-location") is not None and demo.canned_response("nope") is None


@needs_data
@pytest.mark.parametrize(("name", "department"), [("boston", "PWDx"), ("nyc", "NYPD")])
def test_real_cities_escalate_breaches_of_their_main_department(name: str, department: str) -> None:
    jur = load_jurisdiction(name)
    dept = jur.department(department)
    assert dept is not None and dept.supervisor_email and dept.teams
    service = next(s for s in jur.services if s.department_id == department)
    escalations = jur.escalations_for("breach", service.service_code, department)
    assert escalations and escalations[0].raise_priority_to == 1
    queue = jur.escalation_queue(escalations[0], department)
    assert queue is not None and jur.queue(queue).department_id == department  # type: ignore[union-attr]
    assert jur.escalation_emails(escalations[0], department) == (dept.supervisor_email,)
    assert jur.canned_responses


def _literal(text: str) -> str:
    import re

    return re.escape(text)


# -- duplicate thresholds (per category, next to the radius and window) -------------------------------


def test_dedup_thresholds_come_from_the_category_then_the_defaults_then_the_platform(tmp_path: Path) -> None:
    jur = _load(
        tmp_path,
        """
        service_defaults:
          dedup: {radius_m: 50, window_hours: 72, review_threshold: 0.3}
        """,
    )
    pothole = jur.dedup_policy("pothole")
    assert (pothole.merge_threshold, pothole.review_threshold) == (0.6, 0.3)
    demo = load_jurisdiction("demo").dedup_policy("pothole")
    assert (demo.merge_threshold, demo.review_threshold) == (0.6, 0.45)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("service_defaults: {dedup: {merge_threshold: 0.4, review_threshold: 0.5}}", "must not exceed merge_threshold"),
        ("service_defaults: {dedup: {merge_threshold: 0.3}}", "review_threshold 0.45 is above its merge_threshold 0.3"),
        ("service_defaults: {dedup: {review_threshold: 1.5}}", "review_threshold"),
    ],
)
def test_a_review_threshold_above_the_merge_threshold_is_refused(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(JurisdictionConfigError, match=_literal(message)):
        _load(tmp_path, extra + "\n")


@needs_data
@pytest.mark.parametrize("name", ["demo", "boston", "nyc"])
def test_the_development_users_teams_are_teams_of_their_department(name: str) -> None:
    import yaml

    from shared.jurisdiction import repo_root

    users = yaml.safe_load((repo_root() / "deploy" / "local" / "dev-users.yaml").read_text(encoding="utf-8"))
    place = users["jurisdictions"][name]
    department = load_jurisdiction(name).department(place["department"])
    assert department is not None, place
    assert set(place["teams"]) <= {t.id for t in department.teams}, (place["teams"], department.teams)
