"""`python -m tools.draft EXPORT --boundary FILE.geojson --id ID -o jurisdictions/ID/jurisdiction.yaml`.

Drafts services, departments, districts, SLA hours observed from the city's due times and the column
mapping (``export:``) from a city's export and its district boundaries (`tools.draft.draft`); prints what it
did as JSON. The draft loads with ``load_jurisdiction``; edit it, then replay the export with ``make run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.jurisdiction import JurisdictionConfigError
from shared.records import ReplayFormatError
from tools.draft.draft import draft_jurisdiction, summary, write_draft


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.draft", description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("export", type=Path, help="the city's export (CSV, JSON or JSON lines)")
    parser.add_argument("--boundary", type=Path, required=True, help="district polygons (GeoJSON)")
    parser.add_argument("--id", dest="jurisdiction_id", required=True, help="jurisdiction id, [a-z0-9_-]")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write jurisdiction.yaml")
    parser.add_argument("--layout", default=None,
                        help="a built-in layout name or a layout YAML file (default: guessed from the export)")
    parser.add_argument("--boundary-crs", default=None,
                        help="the boundary file's CRS when it is not WGS84 longitude/latitude (e.g. EPSG:2249)")
    parser.add_argument("--district-property", default=None, help="the boundary property holding district ids")
    parser.add_argument("--name-property", default=None, help="the boundary property holding district names")
    parser.add_argument("--name", default=None, help="the city's display name (default: the id)")
    parser.add_argument("--timezone", default=None, help="IANA time zone (default: the layout's)")
    parser.add_argument("--locale", action="append", dest="locales", default=None,
                        help="a language of the city, first = default (repeat: --locale fr --locale en)")
    parser.add_argument("--country", default=None, help="holidays: ISO country code (e.g. FR, US, CA)")
    parser.add_argument("--subdivision", default=None, help="holidays: ISO subdivision code (e.g. QC, NY)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        parser.error(f"{args.output} exists; pass --force to overwrite it")
    try:
        draft = draft_jurisdiction(
            args.export, boundary=args.boundary, jurisdiction_id=args.jurisdiction_id, output=args.output,
            layout=args.layout, district_property=args.district_property, name_property=args.name_property,
            name=args.name, timezone=args.timezone, locales=args.locales, country=args.country,
            subdivision=args.subdivision, boundary_crs=args.boundary_crs,
        )
        written = write_draft(draft, args.output, export=args.export)
    except (ReplayFormatError, JurisdictionConfigError, ValueError, OSError) as exc:
        parser.error(str(exc))
    print(json.dumps(summary(draft, written), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
