"""The media table comes to a service as a migration file of its own, a verbatim copy of
`shared.media.MEDIA_TABLE_SQL` (`python -m shared.media > services/<service>/migrations/<NNN>_media.sql`):
every copy must match, so no service's table drifts from the store's SQL."""

from __future__ import annotations

from pathlib import Path

from shared.media import MEDIA_TABLE_SQL
from shared.media.__main__ import main

REPO = Path(__file__).resolve().parents[3]
MARKER = MEDIA_TABLE_SQL.splitlines()[0]


def test_the_command_prints_the_migration(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main() == 0
    assert capsys.readouterr().out == MEDIA_TABLE_SQL


def test_the_migration_is_a_template_the_runner_fills() -> None:
    assert MARKER.startswith("-- shared.media.MEDIA_TABLE_SQL")
    assert "CREATE TABLE {schema}.media (" in MEDIA_TABLE_SQL
    assert "{" not in MEDIA_TABLE_SQL.replace("{schema}", "").replace("{media_id}", "")


def test_every_services_copy_of_the_media_migration_is_verbatim() -> None:
    copies = [p for p in sorted(REPO.glob("services/*/migrations/*.sql"))
              if p.read_text("utf-8").startswith(MARKER)]
    drifted = [str(p.relative_to(REPO)) for p in copies if p.read_text("utf-8") != MEDIA_TABLE_SQL]
    assert drifted == [], "rewrite them with: python -m shared.media > <file>"
