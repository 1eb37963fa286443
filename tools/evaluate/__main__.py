"""`python -m tools.evaluate {routing,location,dedup,rules} FILE ...`: one evaluation command per judgement.

Each subcommand lives in its own module (`tools.evaluate.<name>`) with `add_arguments(parser)`,
`run(args) -> dict` (the JSON report) and `render(report) -> str` (the table printed without ``--json``).
Exit status 0 on success, 2 on a usage or input error (`ReplayFormatError`, a missing file, a jurisdiction
the loader refuses).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

SUBCOMMANDS = {
    "routing": "free-text classification: held-out top-1/top-3, keyword baseline, triage share, calibration",
    "location": "places from words: share placed, within 50 m / 200 m, asked to confirm, wrong district",
    "dedup": "duplicate detection: precision and recall on labelled pairs, auto-merged versus suggested",
    "rules": "a draft jurisdiction or classifier replayed over the router's logged decisions",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.evaluate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"tools.evaluate.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
        module.add_arguments(p)
        modules[name] = module
    args = parser.parse_args(argv)
    module = modules[args.command]
    from shared.jurisdiction import JurisdictionConfigError  # noqa: PLC0415 - after argparse, so --help stays fast
    from shared.records import ReplayFormatError  # noqa: PLC0415

    try:
        report = module.run(args)
    except (ReplayFormatError, JurisdictionConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str) if args.json else module.render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
