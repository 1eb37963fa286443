"""`python -m tools.evaluate rules [--draft FILE.yaml] [--days N] [--model PATH]`: a draft routing
configuration (or another classifier version) replayed over the router's logged decisions before it goes live.
Without `--draft` the live file is the draft: with no `--model` either, a check that replaying the live
configuration changes nothing.

What it does (docs/judgement.md, "Rule changes tried before they go live"): reads the decisions the router
logged in the last N days (its `router` schema, `OMNI311_PG_DSN`; each decision keeps its input, the
learned model's suggestions and the geocoder's lookup), decides each input again as of its decision time
under the draft jurisdiction file (whose ``./`` files are read from the live jurisdiction's folder, as the
staff API `POST /routing/replay` reads them) and, with ``--model``, with that classifier file asked again,
then reports:

- decisions compared, how many change, and how many per kind of change (category, department, queue,
  priority, district, rule, SLA due time, location status); a field a logged decision lacks (location in
  decisions logged before the router recorded it) is not compared, and the report says how many lacked it;
- counts per department and per queue, before and after;
- examples of each kind of change (case id, service request id, before -> after, rule before and after).

Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "render", "run", "run_async"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rules` (none required: the draft defaults to the live jurisdiction file)."""
    parser.add_argument("--draft", type=Path, help="the draft jurisdiction file (YAML); default: the live one "
                                                   "(with no --model either: a check that nothing changes)")
    parser.add_argument("--days", type=float, default=7.0, help="replay the decisions of the last N days (default 7)")
    parser.add_argument("--model", type=Path, help="a classifier file (<version>.joblib) to ask instead of the "
                                                   "logged suggestions")
    parser.add_argument("--jurisdiction", help="the live jurisdiction (id or path; default OMNI311_JURISDICTION)")
    parser.add_argument("--examples", type=int, default=5, help="examples shown per kind of change (default 5)")
    parser.add_argument("--dsn", help="PostgreSQL DSN (default OMNI311_PG_DSN)")
    parser.add_argument("--schema", default="router", help="the router's schema (default router)")


def _fail(message: str) -> SystemExit:
    print(f"error: {message}", file=sys.stderr)
    return SystemExit(2)


async def run_async(args: argparse.Namespace, *, now: datetime | None = None) -> dict[str, Any]:
    """The report (see `services.router.service_layer.replay.replay_rules`) for `args`, as of `now`
    (default: the clock). Without `--draft` the draft is the live jurisdiction. Raises `SystemExit(2)`
    (message on stderr) for a draft the loader refuses, a draft of another jurisdiction or a missing file."""
    from services.router.adapters.drafts import draft_from_text  # noqa: PLC0415 - after argparse: --help stays fast
    from services.router.adapters.repository import RouterReads  # noqa: PLC0415
    from services.router.service_layer.replay import replay_rules  # noqa: PLC0415
    from shared.db.pool import connect  # noqa: PLC0415
    from shared.jurisdiction import JurisdictionConfigError, load_jurisdiction  # noqa: PLC0415
    from shared.settings import Settings  # noqa: PLC0415

    settings = Settings()
    try:
        live = load_jurisdiction(args.jurisdiction or settings.jurisdiction)
        draft = live
        if args.draft is not None:
            text = args.draft.read_text(encoding="utf-8")
            draft = draft_from_text(text, live=live, source=str(args.draft), confined=False)
    except (JurisdictionConfigError, OSError, UnicodeDecodeError) as exc:
        raise _fail(str(exc)) from None
    if draft.id != live.id:
        raise _fail(f"the draft is jurisdiction {draft.id!r}; the live one is {live.id!r}")
    model = None
    if args.model is not None:
        from shared.judgement import TextModel  # noqa: PLC0415 - scikit-learn loads only when asked

        if not args.model.is_file():
            raise _fail(f"no classifier file at {args.model}")
        model = TextModel.load(args.model)
    conn = await connect(args.dsn or settings.pg_dsn, args.schema, application_name="evaluate-rules")
    try:
        return await replay_rules(RouterReads(conn).decisions_since, live=live, draft=draft,
                                  now=now or datetime.now(UTC), days=args.days, model=model,
                                  examples=args.examples)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """`run_async` on a fresh event loop: the JSON report."""
    return asyncio.run(run_async(args))


def _table(rows: list[dict[str, Any]], key: str) -> list[str]:
    width = max([len(key), *(len(str(r[key])) for r in rows)])
    lines = [f"  {key:<{width}}  {'before':>7}  {'after':>7}  {'change':>7}"]
    lines += [f"  {str(r[key]):<{width}}  {r['before']:>7}  {r['after']:>7}  {r['change']:>+7}" for r in rows]
    return lines


def render(report: dict[str, Any]) -> str:
    """The report as text: totals, changes per kind, the department and queue tables, then examples."""
    lines = [
        f"rules replay: {report['jurisdiction']}, live {report['live_config_version']} -> draft "
        f"{report['draft_config_version']}" + (f", model {report['model']}" if report.get("model") else ""),
        f"window: the last {report['days']:g} days ({report['since']} .. {report['until']})",
        f"decisions compared: {report['decisions']}, changed: {report['changed']}, unchanged: {report['unchanged']}"
        f", skipped (no input logged): {report['skipped']}, failed: {report['failed']}",
        *([("compared without (not logged then, so not counted as a change): "
            + ", ".join(f"{k} {n}" for k, n in report["not_logged"].items()))] if report.get("not_logged") else []),
        "",
        "changes per kind: " + (", ".join(f"{k} {n}" for k, n in report["changes"].items() if n) or "none"),
        "",
        "per department:",
        *_table(report["by_department"], "department"),
        "",
        "per queue:",
        *_table(report["by_queue"], "queue"),
    ]
    for kind, shown in report["examples"].items():
        lines += ["", f"examples, {kind}:"]
        lines += [f"  {e['service_request_id'] or e['case_id']}: {e['before']} -> {e['after']} "
                  f"(rule {e['rule_before']} -> {e['rule_after']})" for e in shown]
    for failure in report.get("failures", []):
        lines.append(f"failed: {failure['case_id']}: {failure['error']}")
    return "\n".join(lines)
