"""Bring your own city: a jurisdiction is drafted from an export in a layout the code has never seen and a
boundary file, only a column mapping is written by hand, the export is replayed by `make run` itself
(``RUN_FOREGROUND=0 make run REPLAY=<export> OMNI311_JURISDICTION=<drafted jurisdiction.yaml>``: every
service on its usual ports, then the replay), and each case's district is read back from Open311
``GET /requests.json?extensions=true``. The services `make run` started are stopped afterwards
(``deploy/local/bin/services.sh stop``); the infrastructure stays up, as after `make run`. The city's id is
new on every run, so its database and topics are its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from support.infra import check_infra
from support.stack import REPO
from tools.draft.__main__ import main as draft_main

# Three sectors of an invented town (WGS84), squares of 0.02 degrees: (code, label, south, west).
SECTORS = [("N", "Secteur Nord", 44.02, 4.80), ("SO", "Secteur Sud-Ouest", 44.00, 4.80),
           ("SE", "Secteur Sud-Est", 44.00, 4.82)]
# The export: semicolon-separated, French headers no reader knows, one cell with both coordinates
# ("lat long"), times as "15/03/2024 à 08h30" in local time, due times, the export's own sector label.
HEADER = "Réf;Quoi;Équipe;Signalement;Coordonnées;Quand;Pour le;État;Secteur"
RECORDS = [
    # ref, category, team, text, lat, long, opened, due, state, sector
    ("R-101", "Nid de poule", "Voirie", "trou dans la chaussée", 44.031, 4.811, "04/03/2024 à 09h00", "05/03/2024 à 09h00", "Clos", "Secteur Nord"),
    ("R-102", "Nid de poule", "Voirie", "la route est abîmée", 44.012, 4.803, "05/03/2024 à 10h15", "06/03/2024 à 10h15", "Clos", "Secteur Sud-Ouest"),
    ("R-103", "Nid de poule", "Voirie", "gros trou au carrefour", 44.006, 4.835, "06/03/2024 à 11h30", "07/03/2024 à 11h30", "En cours", "Secteur Sud-Est"),
    ("R-104", "Dépôt sauvage", "Propreté", "matelas sur le trottoir", 44.025, 4.815, "07/03/2024 à 14h00", "11/03/2024 à 14h00", "Clos", "Secteur Nord"),
    ("R-105", "Dépôt sauvage", "Propreté", "sacs abandonnés", 44.004, 4.812, "08/03/2024 à 08h45", "12/03/2024 à 08h45", "En cours", "Secteur Sud-Ouest"),
    ("R-106", "Dépôt sauvage", "Propreté", "gravats devant l'école", 44.015, 4.828, "11/03/2024 à 16h20", "13/03/2024 à 16h20", "Clos", "Secteur Sud-Est"),
    ("R-107", "Éclairage", "Voirie", "lampadaire éteint", 44.035, 4.802, "12/03/2024 à 19h05", "", "En cours", "Secteur Nord"),
    ("R-108", "Éclairage", "Voirie", "rue sombre", 44.001, 4.839, "13/03/2024 à 07h50", "", "En cours", "Secteur Sud-Est"),
]
# The only thing written by hand: which column holds what.
MAPPING = """\
format: csv
delimiter: ";"
datetime_format: "%d/%m/%Y à %Hh%M"
closed_statuses: [clos]
columns:
  id: Réf
  service: Quoi
  agency: Équipe
  description: Signalement
  point: Coordonnées
  requested: Quand
  due: Pour le
  status: État
  district: Secteur
"""


def _sector_of(lat: float, long: float) -> str:
    """The sector code by the geometry written above (not by the code under test)."""
    (code,) = [c for c, _, south, west in SECTORS if south <= lat < south + 0.02 and west <= long < west + 0.02]
    return code


PORTAL = "http://127.0.0.1:8080"  # intake_web's port in shared/settings.py SERVICE_PORTS, as `make run` prints


@dataclass
class City:
    folder: Path
    export: Path
    jurisdiction: Path
    id: str


def _write_city(folder: Path) -> tuple[Path, Path]:
    features = [{"type": "Feature", "properties": {"code_secteur": code, "libelle": label, "surface_ha": 40},
                 "geometry": {"type": "Polygon", "coordinates": [[[west, south], [west + 0.02, south],
                                                                  [west + 0.02, south + 0.02], [west, south + 0.02],
                                                                  [west, south]]]}}
                for code, label, south, west in SECTORS]
    boundary = folder / "secteurs.geojson"
    boundary.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    lines = [HEADER] + [";".join([ref, cat, team, text, f"{lat} {long}", opened, due, state, sector])
                        for ref, cat, team, text, lat, long, opened, due, state, sector in RECORDS]
    export = folder / "signalements.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return export, boundary


def _draft(*args: str) -> tuple[int, str, str]:
    """``python -m tools.draft ARGS`` in this process (the command's own ``main``): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = draft_main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """The city drafted as a new user would: the draft refuses the unseen layout and says to write a
    mapping; with the mapping (and nothing else) it drafts a jurisdiction that loads."""
    folder = tmp_path_factory.mktemp("ville")
    export, boundary = _write_city(folder)
    output = folder / "jurisdiction.yaml"
    city_id = f"ville{uuid.uuid4().hex[:8]}"
    common = [str(export), "--boundary", str(boundary), "--id", city_id, "--name", "Ville-sur-Test",
              "--timezone", "Europe/Paris", "--locale", "fr", "--locale", "en", "--country", "FR", "-o", str(output)]

    code, _, err = _draft(*common)
    assert code == 2
    assert "no column looks like the creation time" in err and "--layout FILE.yaml" in err
    assert not output.exists()

    mapping = folder / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    code, out, err = _draft(*common, "--layout", str(mapping))
    assert code == 0, err
    assert json.loads(out)["services"] == 3
    return City(folder, export, output, city_id)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Run:
    output: str
    report: dict


@pytest.fixture(scope="module")
async def make_run(city: City) -> AsyncIterator[Run]:
    """``RUN_FOREGROUND=0 make run`` with the drafted city: it starts every service, replays the export and
    returns; the services are stopped when the module is done. Fails (never skips) when the infrastructure
    is down or a `make run` of this machine already holds the services' ports."""
    await check_infra()
    assert _port_free(8080), "port 8080 is taken: a `make run` is already serving; stop it first"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")} | {
        "OMNI311_JURISDICTION": str(city.jurisdiction), "REPLAY": str(city.export), "RUN_FOREGROUND": "0"}
    if "OMNI311_SHARED_DATA" in os.environ:
        env["OMNI311_SHARED_DATA"] = os.environ["OMNI311_SHARED_DATA"]
    try:
        done = subprocess.run(["make", "--no-print-directory", "run"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
        report = json.loads((REPO / "var" / "replay-report.json").read_text(encoding="utf-8"))
        yield Run(done.stdout, report)
    finally:
        subprocess.run([str(REPO / "deploy/local/bin/services.sh"), "stop"], cwd=REPO, env=env,
                       capture_output=True, timeout=120, check=False)


def test_the_draft_has_services_departments_sectors_observed_sla_and_the_mapping(city: City) -> None:
    document = yaml.safe_load(city.jurisdiction.read_text(encoding="utf-8"))

    assert {s["service_name"]: s.get("sla_hours") for s in document["services"]} == {
        "Nid de poule": 9.0, "Dépôt sauvage": 18.0, "Éclairage": None}  # due times: 1 and 2 business days (9 h a day)
    assert {d["name"] for d in document["departments"]} >= {"Voirie", "Propreté"}
    assert document["districts"] == {"geojson": "./secteurs.geojson", "id_property": "code_secteur",
                                     "name_property": "libelle"}
    assert document["export"] == yaml.safe_load(MAPPING)  # the mapping, as written, is the city's export: block
    assert document["locales"] == ["fr", "en"] and document["holidays"] == {"country": "FR"}


async def test_make_run_replays_the_export_and_open311_tells_each_case_its_sector(city: City,
                                                                                  make_run: Run) -> None:
    assert f"jurisdiction: {city.jurisdiction} (database omni311_{city.id}, topic prefix {city.id}.)" in make_run.output
    report = make_run.report
    assert report["file"] == str(city.export) and report["reader"] == "mapped"
    assert (report["records_read"], report["rejected"], report["cases_opened"], report["routed"]) == (8, 0, 8, 8), report
    assert report["agency_accuracy"]["structured"] == 1.0
    assert report["districts"]["structured"] == {"with_label": 8, "label_not_a_district": 0, "judged": 8,
                                                 "agree": 8, "agreement": 1.0, "routed_without_district": 0}

    async with httpx.AsyncClient(base_url=PORTAL, timeout=10) as http:
        answer = await http.get("/requests.json", params={
            "extensions": "true", "start_date": "2024-03-01T00:00:00Z", "end_date": "2024-03-31T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    requests = answer.json()
    assert len(requests) == len(RECORDS)
    labels = {code: label for code, label, _, _ in SECTORS}
    for request in requests:
        expected = _sector_of(request["lat"], request["long"])
        facts = request["extended_attributes"]
        assert (facts["district"], facts["district_name"]) == (expected, labels[expected]), request
        assert facts["location_status"] == "point"
