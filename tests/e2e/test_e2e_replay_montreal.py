"""Montréal through the running stack, French first: a time-spread sample of the City's rats and vermin
records replays with every record a case or a reasoned rejection and the borough of each located case
agreeing with ARRONDISSEMENT_GEO, and a resident whose language is unknown is acknowledged in French."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.settings import Settings
from support.data import shared_data
from support.mail import inbox, text_of
from support.stack import Stack
from support.wait import eventually
from tools.replay.cli import replay

RECORD_FILES = {"feldev-hackqc_rats_data.json": 64, "feldev-hackqc_vermines_data.json": 13}
BOROUGH_OFFICE_ROWS = 3
NO_PLACE = "a location is required: lat and long, address_string or address_id"


@pytest.fixture(scope="module")
def montreal() -> Jurisdiction:
    return load_jurisdiction("montreal")


def _sample(folder: Path) -> list[dict[str, object]]:
    """Records spread evenly over 2016-2019 from each file (Information records without a place among
    them), and the first rows whose point fell back to a borough office (LOC_ERREUR_GDT=1)."""
    picked: list[dict[str, object]] = []
    for name, wanted in RECORD_FILES.items():
        rows = sorted(json.loads((folder / name).read_text(encoding="utf-8")),
                      key=lambda r: str(r["DDS_DATE_CREATION"]))
        step = len(rows) / wanted
        picked += [rows[int(i * step)] for i in range(wanted)]
        if name.startswith("feldev-hackqc_rats"):
            office = [r for r in rows if str(r["LOC_ERREUR_GDT"]) == "1" and r not in picked]
            picked += office[:BOROUGH_OFFICE_ROWS]
    return picked


async def test_rats_and_vermin_records_replay_as_cases_or_reasoned_rejections_in_their_borough(
    montreal_stack: Stack, montreal: Jurisdiction, tmp_path: Path,
) -> None:
    sample = _sample(shared_data() / "montreal")
    path = tmp_path / "montreal-sample.json"
    path.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    without_place = sum(1 for r in sample if r["LOC_LAT"] in ("", None))
    # LOC_ERREUR_GDT=1 rows, and any other row at one of those borough-office points.
    at_office = sum(1 for r in sample if r["LOC_LAT"] not in ("", None)
                    and montreal.fallback_location(float(r["LOC_LAT"]), float(r["LOC_LONG"])) is not None)
    located = len(sample) - without_place - at_office
    assert len(sample) == 80 and without_place >= 10 and at_office >= BOROUGH_OFFICE_ROWS

    report = await replay(
        path, base_url=montreal_stack.url("intake_web"), modes=["structured"], api_key="replay-a",
        settings=Settings(kafka_bootstrap="127.0.0.1:9092", topic_prefix=montreal_stack.topic_prefix),
        concurrency=8, settle_timeout=60, quiet_s=2.0, limit=None, progress=False, jurisdiction=montreal)

    assert report["records_read"] == 80
    assert report["rejected_by_reason"]["structured"] == {NO_PLACE: without_place}, "only records with no place"
    assert report["submitted"] == 80 - without_place
    assert report["cases_opened"] == report["submitted"] and report["routed"] == report["submitted"]
    assert report["not_settled"] == 0
    districts = report["districts"]["structured"]
    print(f"\nMontréal replay sample: {report['submitted']} cases, {report['rejected']} rejected (no place); "
          f"districts {districts}; agency accuracy {report['agency_accuracy']}")
    assert districts["label_not_a_district"] == 0
    assert districts["judged"] == located
    assert districts["agreement"] >= 0.99
    assert districts["routed_without_district"] == at_office, "a borough-office point is no place"
    assert report["agency_accuracy"]["structured"] >= 0.9  # the unit, where the export names one (0.98 on all records)


async def test_a_resident_of_unknown_language_is_acknowledged_in_french(montreal_stack: Stack) -> None:
    address = f"resident-{montreal_stack.run_id}@example.test"
    async with httpx.AsyncClient(base_url=montreal_stack.url("intake_web"), timeout=10) as web:
        r = await web.post("/requests.json", data={
            "api_key": "demo-key", "service_code": "extermination-a-l-exterieur-rats", "email": address,
            "lat": "45.5225", "long": "-73.5800", "description": "Rats près des poubelles de la ruelle"})
        assert r.status_code == 200, r.text
        services = (await web.get("/services.json")).json()
        portal = await web.get("/")
    [mail] = await eventually(lambda: inbox(address), timeout=30, what="acknowledgement delivered")
    assert "Nous avons bien reçu votre signalement" in mail["Subject"]
    assert "Rats près des poubelles de la ruelle" in text_of(mail)
    assert any(s["service_name"] == "Extermination à l'extérieur - Rats" for s in services)
    assert portal.status_code == 200 and '<html lang="fr"' in portal.text
