"""`omni311-replay FILE`: replay a real 311 export through the Open311 API and report what happened.

Reads any city's export with `shared.records.records_for`: the layout named by ``--layout`` (a built-in
name or a layout YAML), else the jurisdiction's ``export:`` column mapping (the jurisdiction of the
settings, ``OMNI311_JURISDICTION``, or ``--jurisdiction``), else a layout detected from the file (NYC Open
Data 311 CSV, Boston 311 CSV, Open311 JSON/XML). It submits every record with `POST /requests.json`
(structured mode: the record's category as `service_code`; free-text mode: no `service_code`, only what a
resident might write), watches `cases.lifecycle` and `notifications.outcomes` on Kafka until the pipeline
settles, and writes a JSON report (default `var/replay-report.json`).

Free-text mode needs the resident's text: a mapping without a ``description`` column is refused before
anything is sent; records without text are counted (``free_text_missing``) and sent all the same (place
only), and what the API did with them is reported there (`free_text_missing_section`: accepted, or
refused with its reason). The `districts` section compares the district each case was
routed to with the export's own district label, where the export has one. The `sla` section compares each
case's `routing.sla_due_at` with the city's own due time and on-time verdict (`tools.replay.sla`).
The `routing`, `location` and `dedup` sections (`tools.replay.judgement`) say what the pipeline did with
the records (`live`, from `case.routed`, `case.merged` and the `dedup.decisions` events) and, unless
``--no-evaluate``, what the evaluation commands measure on the same file (`held_out`, `labels`).

The jurisdiction and topic prefix are found as `make run` finds them (`tools.replay.stack`): the
``OMNI311_*`` environment wins, else what the running `make run` stack was started with, else the file's
name; a topic it reads that the broker does not have stops it with one line saying what to set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tqdm import tqdm

from shared.events import Envelope
from shared.jurisdiction import Jurisdiction, JurisdictionConfigError, load_jurisdiction
from shared.jurisdiction.config import ExportLayoutSpec
from shared.records import ReplayFormatError, ReplayRecord, load_layout, records_for
from shared.settings import REPO_ROOT, Settings
from tools.replay.judgement import dedup_live, evaluate_file, headlines, location_live, routing_live
from tools.replay.sla import SlaSample, sla_section
from tools.replay.stack import (
    WATCHED_TOPICS,
    StackTarget,
    is_path,
    missing_topics,
    missing_topics_error,
    other_city_error,
    running_stack_env,
    stack_target,
)

MODES = ("structured", "free-text")
_SLA_SUMMARY = ("due_compared", "due_within_tolerance_share", "due_abs_diff_hours_median", "verdict_judged",
                "verdict_agreement")


@dataclass
class Submission:
    record: ReplayRecord
    mode: str
    token: str
    submitted_at: float
    case_id: str | None = None
    routed_agency: str | None = None
    routed_at: float | None = None
    due_at: datetime | None = None
    routed_district: str | None = None
    routing: dict[str, Any] | None = None
    already_present: bool = False
    point_withheld: bool = False

    def sla_sample(self) -> SlaSample:
        """The record's city times next to the due time the router gave its case."""
        r = self.record
        return SlaSample(source_id=r.source_id, service_name=r.service_name, opened_at=r.requested_datetime,
                         our_due_at=self.due_at, city_due_at=r.city_due_at, closed_at=r.closed_at,
                         city_on_time=r.city_on_time)


def _aware(value: str | None) -> datetime | None:
    """An ISO 8601 instant from an event or an Open311 answer; ``None`` when absent or naive."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else None


@dataclass
class Observed:
    """What the replay saw on Kafka. Events are kept even before their token is known: under load a
    case can be opened before the POST that caused it has returned its token to us."""

    by_token: dict[str, Submission] = field(default_factory=dict)
    by_case: dict[str, Submission] = field(default_factory=dict)
    opened_by_token: dict[str, str] = field(default_factory=dict)
    routed_by_case: dict[str, tuple[float, str, datetime | None, str | None, dict[str, Any]]] = field(
        default_factory=dict)
    merged_cases: set[str] = field(default_factory=set)
    #: case id -> the case it was merged into (`case.merged`), matched automatically (`dedup.decided`) or
    #: suggested as a duplicate of (`dedup.suggested`)
    merged_into: dict[str, str] = field(default_factory=dict)
    dedup_decided: dict[str, str] = field(default_factory=dict)
    dedup_suggested: dict[str, str] = field(default_factory=dict)
    acknowledged_cases: set[str] = field(default_factory=set)
    last_event_at: float = field(default_factory=time.monotonic)

    def register(self, sub: Submission) -> None:
        if sub.token not in self.by_token:
            self.by_token[sub.token] = sub
            self._link(sub)

    def _link(self, sub: Submission) -> None:
        if sub.case_id is None and sub.token in self.opened_by_token:
            sub.case_id = self.opened_by_token[sub.token]
            self.by_case[sub.case_id] = sub
        if sub.case_id is not None and sub.routed_at is None and sub.case_id in self.routed_by_case:
            (sub.routed_at, sub.routed_agency, sub.due_at, sub.routed_district,
             sub.routing) = self.routed_by_case[sub.case_id]

    def apply(self, env: Envelope, now: float) -> None:
        data = env.data
        sub = None
        if env.event_type == "case.opened":
            self.opened_by_token.setdefault(data["channel_message_id"], data["case_id"])
            sub = self.by_token.get(data["channel_message_id"])
        elif env.event_type == "case.routed":
            routing = data["routing"]
            self.routed_by_case.setdefault(
                data["case_id"],
                (now, routing["agency_responsible"], _aware(routing.get("sla_due_at")), routing.get("district"),
                 routing),
            )
            sub = self.by_case.get(data["case_id"])
        elif env.event_type == "case.merged":
            self.merged_cases.add(data["case_id"])
            self.merged_into.setdefault(data["case_id"], str(data["merged_into"]))
        elif env.event_type == "dedup.decided":
            self.dedup_decided.setdefault(str(data["case_id"]), str(data["duplicate_of"]))
        elif env.event_type == "dedup.suggested":
            self.dedup_suggested.setdefault(str(data["case_id"]), str(data["duplicate_of"]))
        elif env.event_type == "notification.recorded":
            if data["kind"] == "acknowledgement" and data["outcome"] == "sent":
                self.acknowledged_cases.add(data["case_id"])
        if sub is not None:
            self._link(sub)
        self.last_event_at = time.monotonic()

    def ours(self) -> set[str]:
        """Case ids opened for this replay's tokens."""
        return set(self.by_case)


def form_for(record: ReplayRecord, mode: str, codes: dict[str, str], api_key: str, *,
             address_only: bool = False) -> dict[str, str] | None:
    """The Open311 POST form of a record, or None in structured mode when its category is not offered.

    ``address_only``: a record with a written address is sent without its point (`withholds_point`), as a
    resident who writes only an address would report it.
    """
    form: dict[str, str] = {"api_key": api_key, "requested_datetime": record.requested_datetime.isoformat()}
    if mode == "structured":
        code = codes.get((record.service_name or "").strip().casefold())
        if code is None:
            return None
        form["service_code"] = code
        if record.description:
            form["description"] = record.description
    elif record.free_text:
        form["description"] = record.free_text
    if record.lat is not None and record.long is not None and not withholds_point(record, address_only):
        form["lat"], form["long"] = repr(record.lat), repr(record.long)
    # A record that names only its zip code still gives a place a caller would give.
    address = record.address_string or (f"ZIP {record.zipcode}" if record.zipcode else None)
    if address:
        form["address_string"] = address
    if record.email:
        form["email"] = record.email
    return form


def withholds_point(record: ReplayRecord, address_only: bool) -> bool:
    """Whether the record's point is left out of its form: ``--address-only`` and a written address."""
    return address_only and bool(record.address_string) and record.lat is not None and record.long is not None


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1], 1)


async def _resolve_earlier(http: httpx.AsyncClient, subs: list[Submission]) -> int:
    """Mark submissions whose token already has a case (opened by an earlier run); returns how many."""
    found = 0
    for sub in subs:
        try:
            r = await http.get(f"/tokens/{sub.token}.json")
        except httpx.HTTPError:
            return found  # the API is not answering right now (e.g. a service restarting): ask again later
        sid = r.json()[0].get("service_request_id") if r.status_code == 200 else None
        if not sid:
            continue
        sub.already_present = True
        found += 1
        try:
            req = await http.get(f"/requests/{sid}.json")
        except httpx.HTTPError:
            continue
        if req.status_code == 200:
            answer = req.json()[0]
            sub.routed_agency = answer.get("agency_responsible")
            sub.due_at = _aware(answer.get("expected_datetime"))
    return found


async def _watch(settings: Settings, observed: Observed, ready: asyncio.Event, stop: asyncio.Event) -> None:
    topics = [settings.topic(t) for t in WATCHED_TOPICS]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                group_id=None, client_id="omni311-replay")
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
        if not parts:
            for t in topics:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - first use of a fresh topic
                parts += [TopicPartition(t, p) for p in (consumer.partitions_for_topic(t) or set())]
        if not parts:  # checked before the replay (`topics_missing`); deleted since
            raise RuntimeError(f"no partition of {', '.join(topics)}: set OMNI311_TOPIC_PREFIX to the stack's")
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            now = time.monotonic()
            for records in batch.values():
                for rec in records:
                    try:
                        observed.apply(Envelope.from_bytes(rec.value), now)
                    except ValueError:
                        continue  # not ours to judge; the services dead-letter it
    finally:
        await consumer.stop()


def free_text_missing_section(records: int, refused: Counter[str]) -> dict[str, Any]:
    """The report's `free_text_missing` entry: how many free-text records had no text of their own (no
    description, or one that only names the category), and what the API did with them, sent with their
    place only: `refused` (by the API's reason) and `accepted`; `what_happened` says it in words."""
    n_refused = sum(refused.values())
    accepted = records - n_refused
    if not records:
        words = "every record had a text of its own"
    elif n_refused == records:
        words = (f"all {records} had no description (or one that only names the category); sent with their place "
                 f"only, all were refused: {'; '.join(refused)}")
    else:
        words = (f"{records} had no description (or one that only names the category); sent with their place "
                 f"only: {accepted} accepted, {n_refused} refused" + (f" ({'; '.join(refused)})" if refused else ""))
    return {"records": records, "accepted": accepted, "refused": dict(refused.most_common()), "what_happened": words}


def layout_in_use(layout: str | Path | ExportLayoutSpec | None, jurisdiction: Jurisdiction | None) -> ExportLayoutSpec | None:
    """The column mapping `records_for` reads with (``None``: a layout detected from the file).

    Raises:
        ReplayFormatError: an unknown layout name or a bad layout file.
    """
    if layout is not None:
        return layout if isinstance(layout, ExportLayoutSpec) else load_layout(layout)
    return jurisdiction.export if jurisdiction is not None else None


def check_free_text(layout: ExportLayoutSpec | None, modes: list[str]) -> None:
    """Free-text mode sends only the resident's text: a mapping must name a ``description`` column.

    Raises:
        ReplayFormatError: free-text mode with a mapping that has no ``description`` column.
    """
    if "free-text" in modes and layout is not None and not layout.columns.description:
        raise ReplayFormatError(
            "free-text mode sends only what the resident wrote, and the layout maps no description column: "
            "add `description: <column>` (or a list of columns) under the mapping's `columns:`, "
            "or replay in structured mode"
        )


def district_section(subs: list[Submission], jurisdiction: Jurisdiction | None) -> dict[str, Any]:
    """Routed district against the export's own district label (resolved to a district id by the
    jurisdiction's names and aliases); records without a label or without a routed district are not judged."""
    index = jurisdiction.districts if jurisdiction is not None else None
    labelled = [s for s in subs if s.record.district]
    judged = agree = unknown_label = 0
    for sub in labelled:
        expected = index.resolve(sub.record.district) if index is not None else None
        if expected is None:
            unknown_label += 1
            continue
        if sub.routed_district is None:
            continue
        judged += 1
        agree += sub.routed_district == expected.id
    return {"with_label": len(labelled), "label_not_a_district": unknown_label, "judged": judged,
            "agree": agree, "agreement": round(agree / judged, 4) if judged else None,
            "routed_without_district": sum(1 for s in subs if s.routed_at is not None and s.routed_district is None)}


async def replay(path: Path, *, base_url: str, modes: list[str], api_key: str, settings: Settings,
                 concurrency: int, settle_timeout: float, quiet_s: float, limit: int | None,
                 progress: bool = True, layout: str | Path | ExportLayoutSpec | None = None,
                 jurisdiction: Jurisdiction | None = None, evaluate: bool = False,
                 address_only: bool = False) -> dict[str, Any]:
    """Replay `path` and return the report (see the module docstring).

    ``layout`` and ``jurisdiction`` choose the reader as `shared.records.records_for` does. ``evaluate``:
    also run the offline evaluation of the file (`tools.replay.judgement.evaluate_file`, a few seconds of
    CPU for a thousand records, after the replay has settled); the command line does unless ``--no-evaluate``.
    ``address_only``: records with a written address are sent without their point (``--address-only``), so
    the `location` section's live part measures the geocoder against each record's own point; their
    idempotency keys differ from a normal replay's.

    Raises:
        ReplayFormatError: no reader fits the file, a bad record, or free-text mode without a description column.
    """
    spec = layout_in_use(layout, jurisdiction)
    check_free_text(spec, modes)
    records = list(records_for(path, layout=spec, jurisdiction=jurisdiction))
    if limit:
        records = records[:limit]
    observed = Observed()
    ready, stop = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(_watch(settings, observed, ready, stop))
    await asyncio.wait_for(ready.wait(), 60)
    rejected: dict[str, Counter[str]] = {m: Counter() for m in modes}
    submitted: Counter[str] = Counter()
    free_text_missing: Counter[str] = Counter()
    missing_refused: dict[str, Counter[str]] = {m: Counter() for m in modes}  # reason -> records without text
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        services = (await http.get("/services.json")).json()
        codes = {s["service_name"].strip().casefold(): s["service_code"] for s in services}
        bar = tqdm(total=len(records) * len(modes), desc=f"replay {path.name}", unit="req", disable=not progress)

        async def submit(record: ReplayRecord, mode: str) -> None:
            async with sem:
                form = form_for(record, mode, codes, api_key, address_only=address_only)
                withheld = withholds_point(record, address_only)
                no_text = mode == "free-text" and not record.free_text
                if no_text:
                    free_text_missing[mode] += 1  # sent all the same: the API says what it does with no text
                if form is None:
                    rejected[mode][f"service not offered: {record.service_name}"] += 1
                else:
                    key = f"replay:{mode}:{record.source_format}:{record.source_id}" + (":address" if withheld else "")
                    sent = time.monotonic()
                    r = await http.post("/requests.json", data=form, headers={"Idempotency-Key": key})
                    if r.status_code == 200:
                        token = r.json()[0]["token"]
                        submitted[mode] += 1
                        observed.register(Submission(record, mode, token, sent, point_withheld=withheld))
                    else:
                        try:
                            reason = "; ".join(e["description"] for e in r.json())
                        except (ValueError, KeyError, TypeError):
                            reason = f"HTTP {r.status_code}"
                        rejected[mode][reason] += 1
                        if no_text:
                            missing_refused[mode][reason] += 1
                bar.update(1)

        await asyncio.gather(*(submit(rec, mode) for mode in modes for rec in records))
        bar.close()

        deadline = time.monotonic() + settle_timeout
        already = 0
        while time.monotonic() < deadline:
            quiet = time.monotonic() - observed.last_event_at > quiet_s
            unseen = [sub for sub in observed.by_token.values() if sub.case_id is None and not sub.already_present]
            if quiet and unseen:
                # No event for these tokens: a case may exist from an earlier run of the same replay.
                already += await _resolve_earlier(http, unseen)
            unrouted = sum(1 for sub in observed.by_token.values()
                           if not sub.already_present and sub.routed_at is None)
            if quiet and unrouted == 0:
                break
            await asyncio.sleep(0.5)
    stop.set()
    await watcher

    report: dict[str, Any] = {
        "file": str(path.resolve()),
        "reader": ("mapped" if spec is not None else (records[0].source_format if records else None)),
        "records_read": len(records),
        "modes": modes,
        "submitted": sum(submitted.values()),
        "rejected": sum(sum(c.values()) for c in rejected.values()),
        "rejected_by_reason": {m: dict(c.most_common()) for m, c in rejected.items()},
        "distinct_tokens": len(observed.by_token),
        "cases_opened": len(observed.ours()),
        "cases_already_present": already,
        "routed": sum(1 for s in observed.by_token.values() if s.routed_at is not None),
        "duplicates_merged": len(observed.merged_cases & observed.ours()),
        "acknowledgements_sent": len(observed.acknowledged_cases & observed.ours()),
        "records_with_email": sum(1 for r in records if r.email),
        "free_text_missing": {
            m: free_text_missing_section(free_text_missing[m], missing_refused[m]) for m in modes if m == "free-text"},
        "not_settled": sum(1 for s in observed.by_token.values() if s.routed_at is None and not s.already_present),
        "per_mode": {},
    }
    all_latency: list[float] = []
    for mode in modes:
        subs = [s for s in observed.by_token.values() if s.mode == mode]
        judged = [s for s in subs if s.routed_agency is not None and s.record.expected_agency]
        correct = sum(1 for s in judged if s.routed_agency.casefold() == s.record.expected_agency.casefold())
        lat = [(s.routed_at - s.submitted_at) * 1000 for s in subs if s.routed_at is not None]
        all_latency += lat
        report["per_mode"][mode] = {
            "submitted": submitted[mode],
            "rejected": sum(rejected[mode].values()),
            "free_text_missing": free_text_missing[mode],
            "cases_opened": sum(1 for s in subs if s.case_id),
            "cases_already_present": sum(1 for s in subs if s.already_present),
            "routed": sum(1 for s in subs if s.routed_at is not None),
            "agency_judged": len(judged),
            "agency_correct": correct,
            "agency_accuracy": round(correct / len(judged), 4) if judged else None,
            "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)},
        }
    report["agency_accuracy"] = {m: report["per_mode"][m]["agency_accuracy"] for m in modes}
    report["districts"] = {m: district_section([s for s in observed.by_token.values() if s.mode == m], jurisdiction)
                           for m in modes}
    report["sla"] = {m: sla_section(s.sla_sample() for s in observed.by_token.values() if s.mode == m)
                     for m in modes}
    report["latency_ms"] = {"p50": percentile(all_latency, 50), "p95": percentile(all_latency, 95),
                            "p99": percentile(all_latency, 99)}
    by_mode = {m: [s for s in observed.by_token.values() if s.mode == m] for m in modes}
    zone = jurisdiction.timezone if jurisdiction is not None else "UTC"
    offline = (evaluate_file(path, records, layout=spec, jurisdiction=jurisdiction) if evaluate
               else dict.fromkeys(("routing", "location", "dedup"), {"skipped": "not evaluated (--no-evaluate)"}))
    report["routing"] = {"held_out": offline["routing"],
                         "live": {m: routing_live(by_mode[m], codes) for m in modes}}
    report["location"] = {"held_out": offline["location"],
                          "live": {m: location_live(by_mode[m], jurisdiction) for m in modes}}
    report["dedup"] = {"labels": offline["dedup"],
                       "live": {m: dedup_live(by_mode[m], merged=observed.merged_into, decided=observed.dedup_decided,
                                              suggested=observed.dedup_suggested, timezone=zone, labels=evaluate,
                                              replayed=observed.by_token.values())
                                for m in modes}}
    return report


def _jurisdiction_id(jurisdiction: str) -> str:
    """The id a jurisdiction path names (its YAML's `id:`), as jurisdiction-env.sh names the topic prefix;
    an id is its own, and a path that cannot be loaded is returned as given (loading it later says why)."""
    if not is_path(jurisdiction):
        return jurisdiction
    try:
        return load_jurisdiction(jurisdiction).id
    except (JurisdictionConfigError, OSError):
        return jurisdiction


def find_stack(file: Path, jurisdiction_arg: str | None, env: dict[str, str] | None = None,
               run_dir: Path = REPO_ROOT / "var" / "run") -> tuple[StackTarget, str | None]:
    """The jurisdiction and topic prefix of the stack a replay of `file` talks to (`stack.stack_target`,
    with the environment of a running `make run` stack read from `run_dir`), and the one-line error when
    that stack is another city's than the file's name says (`stack.other_city_error`; None otherwise)."""
    found = running_stack_env(run_dir)
    running, running_from = found if found is not None else ({}, "the running stack")
    target = stack_target(replay_file=file, env=dict(os.environ) if env is None else env, running=running,
                          running_from=running_from, jurisdiction_arg=jurisdiction_arg, id_of=_jurisdiction_id)
    return target, other_city_error(target, file, running_from=running_from, id_of=_jurisdiction_id)


async def topics_missing(settings: Settings, target: StackTarget) -> str | None:
    """The one-line error when a topic the replay reads is missing on `settings.kafka_bootstrap` (asked with
    the admin client before anything is sent or consumed), or when the broker cannot be reached; None when
    every topic is there."""
    # aiokafka logs each failed connection itself: the one line below says it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="omni311-replay",
                                request_timeout_ms=10_000)
    try:
        await admin.start()
        existing = await admin.list_topics()
    except (KafkaError, OSError) as exc:
        return (f"omni311-replay: cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}); "
                "is the stack running (make run)? set OMNI311_KAFKA_BOOTSTRAP to its broker")
    finally:
        await admin.close()
    missing = missing_topics(target, existing)
    return missing_topics_error(target, missing, settings.kafka_bootstrap, existing) if missing else None


def _positive_int(text: str) -> int:
    """A whole number of at least 1 (argparse type): 0 requests at once would never send one, and
    ``--limit 0`` or ``-5`` would not be a limit."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _positive_seconds(text: str) -> float:
    """A finite number of seconds above 0 (argparse type): a negative, NaN or infinite wait never settles."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omni311-replay", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--layout", default=None,
                        help="a built-in layout name or a layout YAML file (default: the jurisdiction's export:, "
                             "else detected from the file)")
    parser.add_argument("--jurisdiction", default=None,
                        help="jurisdiction id or YAML path (default: OMNI311_JURISDICTION, else the running "
                             "make run stack's, else the file's name as make run reads it)")
    parser.add_argument("--base-url", default=None, help="intake_web base URL (default from settings)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="structured")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--concurrency", type=_positive_int, default=8)
    parser.add_argument("--settle-timeout", type=_positive_seconds, default=300.0, help="seconds")
    parser.add_argument("--quiet", type=_positive_seconds, default=3.0,
                        help="seconds without events that mean 'settled'")
    parser.add_argument("--limit", type=_positive_int, default=None, help="replay only the first N records")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "var" / "replay-report.json")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--address-only", action="store_true",
                        help="send records that have a written address without their point, to measure the "
                             "geocoder live against each record's own point (the location section)")
    parser.add_argument("--no-evaluate", action="store_true",
                        help="leave out the offline evaluation of the file in the routing, location and dedup "
                             "sections (the live figures stay)")
    args = parser.parse_args(argv)
    target, other_city = find_stack(args.file, args.jurisdiction)
    if other_city is not None:
        print(other_city, file=sys.stderr)
        return 2
    settings = Settings(jurisdiction=target.jurisdiction, topic_prefix=target.topic_prefix)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    try:
        jurisdiction = load_jurisdiction(target.jurisdiction)
        spec = layout_in_use(args.layout, jurisdiction)
        check_free_text(spec, modes)
        records_for(args.file, layout=spec, jurisdiction=jurisdiction)  # refuse an unreadable file before starting
    except (ReplayFormatError, JurisdictionConfigError, OSError) as exc:
        parser.error(str(exc))
    print(f"jurisdiction {target.jurisdiction} (from {target.jurisdiction_from}), topic prefix "
          f"{target.topic_prefix!r} (from {target.prefix_from})", file=sys.stderr)
    problem = asyncio.run(topics_missing(settings, target))
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    base_url = args.base_url or settings.public_base_url
    try:
        report = asyncio.run(replay(
            args.file, base_url=base_url, modes=modes,
            api_key=args.api_key or settings.open311_api_keys[0], settings=settings, concurrency=args.concurrency,
            settle_timeout=args.settle_timeout, quiet_s=args.quiet, limit=args.limit, progress=not args.no_progress,
            layout=spec, jurisdiction=jurisdiction, evaluate=not args.no_evaluate, address_only=args.address_only,
        ))
    except httpx.TransportError as exc:
        print(f"omni311-replay: cannot reach intake_web at {base_url} ({type(exc).__name__}); is the stack running "
              "(make run)? set --base-url or OMNI311_PUBLIC_BASE_URL to its address", file=sys.stderr)
        return 2
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("records_read", "submitted", "rejected", "cases_opened", "cases_already_present", "routed",
                                             "duplicates_merged", "acknowledgements_sent", "records_with_email",
                                             "agency_accuracy", "rejected_by_reason", "free_text_missing",
                                             "districts", "latency_ms")}, indent=2))
    print(json.dumps({"sla": {m: {k: section[k] for k in _SLA_SUMMARY} for m, section in report["sla"].items()}},
                     indent=2))
    print(json.dumps(headlines(report), indent=2, ensure_ascii=False))
    print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
