"""deploy/local/bin/jurisdiction-env.sh (sourced by `make run` and `make reset`): the database and topic
prefix are named by the jurisdiction's id, also when OMNI311_JURISDICTION is a path to its file or folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "local" / "bin" / "jurisdiction-env.sh"


def _source(jurisdiction: str) -> tuple[str, str]:
    """(OMNI311_PG_DSN, OMNI311_TOPIC_PREFIX) after sourcing the script as run.sh does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")}
    env |= {"OMNI311_JURISDICTION": jurisdiction, "REPLAY": "requests.json", "ROOT": str(REPO_ROOT),
            "PY": sys.executable}
    out = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{SCRIPT}"; echo "$OMNI311_PG_DSN"; echo "$OMNI311_TOPIC_PREFIX"'],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=30)
    dsn, prefix = out.stdout.splitlines()
    return dsn, prefix


@pytest.mark.parametrize("given", ["file", "folder"])
def test_a_path_names_the_database_and_topics_by_the_yaml_id(tmp_path: Path, given: str) -> None:
    folder = tmp_path / "drafted city"
    folder.mkdir()
    (folder / "jurisdiction.yaml").write_text("id: ville\nname: Ville\ntimezone: Europe/Paris\n", "utf-8")
    path = folder / "jurisdiction.yaml" if given == "file" else folder

    dsn, prefix = _source(str(path))

    assert dsn.endswith("/omni311_ville") and prefix == "ville."


def test_an_id_is_used_as_it_is() -> None:
    assert _source("nyc") == ("postgresql://postgres@127.0.0.1:55432/omni311_nyc", "nyc.")
