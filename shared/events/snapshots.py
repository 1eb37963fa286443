"""JSON Schema snapshots of every event version and the registry file, checked against the declarations.

The versioning rule: adding an optional field keeps an event's version; anything else (removing or
retyping a field, making one required, changing allowed values or bounds) needs a new `schema_version`.
The snapshots in `shared/events/schemas/` (`<event_type>.v<schema_version>.json`, plus `envelope.json`)
are what consumers were built against; `breaking_changes` compares a snapshot with the model's current
schema. `shared/events/registry.json` is the registry the declarations generate, written out for people
and other tools. Usage::

    python -m shared.events.snapshots            # same as --check: exit 1 on any difference
    python -m shared.events.snapshots --write    # write new/changed snapshots and registry.json,
                                                 # refusing breaking snapshot changes
    python -m shared.events.snapshots --write --allow-breaking   # only before a version is published
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.events.catalogue import ALL_EVENTS
from shared.events.envelope import Envelope, EventData
from shared.events.registry import REGISTRY_FILE, build_registry

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ENVELOPE_FILE = "envelope.json"
REGENERATE = "python -m shared.events.snapshots --write"

Schema = dict[str, Any]

_CONSTRAINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                "pattern", "minItems", "maxItems", "uniqueItems")


def snapshot_name(model: type[EventData]) -> str:
    """The file name of a model's snapshot, e.g. ``case.opened.v1.json``."""
    return f"{model.event_type}.v{model.schema_version}.json"


def current_schema(model: type[BaseModel]) -> Schema:
    """The model's JSON Schema (draft 2020-12, pydantic validation mode) as committed in snapshots."""
    return model.model_json_schema()


def expected_snapshots(events: Iterable[type[EventData]] = ALL_EVENTS) -> dict[str, Schema]:
    """File name → current schema, for the envelope and every event in `events` (default: the catalogue)."""
    out = {ENVELOPE_FILE: current_schema(Envelope)}
    out.update({snapshot_name(m): current_schema(m) for m in events})
    return out


def load_snapshot(name: str, folder: Path = SCHEMA_DIR) -> Schema | None:
    """The committed JSON Schema `name` (e.g. ``case.opened.v1.json``) in `folder`; None when absent."""
    path = folder / name
    return json.loads(path.read_text("utf-8")) if path.exists() else None


def render(schema: Schema) -> str:
    """Canonical file text: 2-space JSON, keys in pydantic's order, trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# --- breaking-change detection ---------------------------------------------------------------------


def _resolve(node: Any, root: Schema) -> Any:
    """Follow local `$ref`s (``#/$defs/Name``) and single-member `allOf` wrappers."""
    seen = 0
    while isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $refs are supported, got {ref!r}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
        elif list(node.get("allOf", [])) and len(node["allOf"]) == 1 and "type" not in node:
            node = node["allOf"][0]
        else:
            return node
        seen += 1
        if seen > 50:
            raise ValueError("recursive $ref chain")
    return node


def _variants(node: Any, root: Schema) -> list[Any]:
    node = _resolve(node, root)
    if not isinstance(node, dict):
        return [node]
    for key in ("anyOf", "oneOf"):
        if key in node:
            out: list[Any] = []
            for sub in node[key]:
                out.extend(_variants(sub, root))
            return out
    return [node]


def _type_label(v: Any) -> set[str]:
    if v is True or v == {}:
        return {"any"}
    if not isinstance(v, dict):
        return {repr(v)}
    t = v.get("type")
    if t is None:
        if "properties" in v:
            t = "object"
        elif "const" in v:
            t = type(v["const"]).__name__
        elif "enum" in v:
            t = "enum"
        else:
            return {"any"}
    types = t if isinstance(t, list) else [t]
    fmt = v.get("format")
    return {f"{x}:{fmt}" if fmt and x == "string" else x for x in types}


def _allowed_values(variants: list[Any]) -> set[str] | None:
    """The union of `enum`/`const` values, or None when some variant is not restricted to values."""
    values: set[str] = set()
    for v in variants:
        if not isinstance(v, dict):
            return None
        if "enum" in v:
            values.update(json.dumps(x) for x in v["enum"])
        elif "const" in v:
            values.add(json.dumps(v["const"]))
        elif v.get("type") == "null":
            continue
        else:
            return None
    return values


def _pick(variants: list[Any], kind: str) -> Any:
    for v in variants:
        if isinstance(v, dict) and (v.get("type") == kind or (kind == "object" and "properties" in v)):
            return v
    return None


def _where(path: str) -> str:
    return path or "(root)"


def _compare(old: Any, new: Any, old_root: Schema, new_root: Schema, path: str, out: list[str]) -> None:
    ov, nv = _variants(old, old_root), _variants(new, new_root)

    ot = set().union(*(_type_label(v) for v in ov)) if ov else set()
    nt = set().union(*(_type_label(v) for v in nv)) if nv else set()
    if ot != nt:
        out.append(f"{_where(path)}: type changed from {sorted(ot)} to {sorted(nt)}")
        return

    oa, na = _allowed_values(ov), _allowed_values(nv)
    if oa != na:
        if oa is not None and na is not None:
            if oa - na:
                out.append(f"{_where(path)}: allowed values removed {sorted(oa - na)}")
            if na - oa:
                out.append(f"{_where(path)}: allowed values added {sorted(na - oa)} (old consumers reject them)")
        else:
            out.append(f"{_where(path)}: allowed values changed from {oa and sorted(oa)} to {na and sorted(na)}")

    for kind in ("string", "number", "integer", "array"):
        o, n = _pick(ov, kind), _pick(nv, kind)
        if o is None or n is None:
            continue
        for c in _CONSTRAINTS:
            if o.get(c) != n.get(c):
                out.append(f"{_where(path)}: constraint {c} changed from {o.get(c)!r} to {n.get(c)!r}")
        if kind == "array":
            _compare(o.get("items", {}), n.get("items", {}), old_root, new_root, f"{path}[]", out)

    o, n = _pick(ov, "object"), _pick(nv, "object")
    if o is not None and n is not None:
        _compare_objects(o, n, old_root, new_root, path, out)


def _compare_objects(o: Schema, n: Schema, old_root: Schema, new_root: Schema, path: str, out: list[str]) -> None:
    op, np_ = o.get("properties", {}), n.get("properties", {})
    oreq, nreq = set(o.get("required", [])), set(n.get("required", []))
    prefix = f"{path}." if path else ""
    for name in op:
        where = prefix + name
        if name not in np_:
            out.append(f"{where}: removed")
            continue
        if name in nreq and name not in oreq:
            out.append(f"{where}: became required")
        if name in oreq and name not in nreq:
            out.append(f"{where}: no longer required (old consumers expect it)")
        _compare(op[name], np_[name], old_root, new_root, where, out)
    for name in np_:
        if name not in op and name in nreq:
            out.append(f"{prefix}{name}: added as required")

    oap, nap = o.get("additionalProperties", True), n.get("additionalProperties", True)
    if isinstance(oap, dict) and isinstance(nap, dict):
        _compare(oap, nap, old_root, new_root, f"{prefix}*", out)
    elif oap is not False and nap is False and not op:
        # a free-form map (e.g. `attributes: dict[str, Any]`) that stops accepting keys
        out.append(f"{_where(path)}: no longer accepts arbitrary keys")
    elif isinstance(oap, dict) != isinstance(nap, dict) and oap is not False and nap is not False:
        _compare(oap if isinstance(oap, dict) else {}, nap if isinstance(nap, dict) else {},
                 old_root, new_root, f"{prefix}*", out)


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """What in `new_schema` breaks producers or consumers built against `old_schema`; [] if compatible.

    Both are JSON Schemas as pydantic writes them (local `$defs`, `anyOf` for optionals). Flags, with a
    dotted path (``pii.email``, ``media_url[]``): removed fields, fields added as or made required,
    required fields made optional, changed types or formats, changed allowed values (enum/const) and
    changed constraints (bounds, lengths, pattern). Adding an optional field, and changing titles,
    descriptions or defaults, is not breaking (the versioning rule above).
    """
    out: list[str] = []
    _compare(old_schema, new_schema, old_schema, new_schema, "", out)
    return out


# --- the tool ---------------------------------------------------------------------------------------


def check(folder: Path = SCHEMA_DIR, events: Iterable[type[EventData]] = ALL_EVENTS) -> list[str]:
    """Problems between the committed snapshots in `folder` and the models of `events`; [] when they agree."""
    problems: list[str] = []
    expected = expected_snapshots(events)
    for name, schema in expected.items():
        committed = load_snapshot(name, folder)
        if committed is None:
            problems.append(f"{name}: no committed snapshot (run --write)")
        elif committed != schema:
            breaking = breaking_changes(committed, schema)
            if breaking:
                problems.extend(f"{name}: BREAKING {b}" for b in breaking)
            else:
                problems.append(f"{name}: model changed compatibly; run --write to update the snapshot")
    for path in sorted(folder.glob("*.json")):
        if path.name not in expected:
            problems.append(f"{path.name}: snapshot of a model that is no longer in the catalogue")
    return problems


def write(
    folder: Path = SCHEMA_DIR, *, allow_breaking: bool = False, events: Iterable[type[EventData]] = ALL_EVENTS,
) -> tuple[list[str], list[str]]:
    """Write missing or changed snapshots of `events`; returns (written, refused) file names.

    A breaking change to an existing snapshot is refused unless `allow_breaking` (only acceptable
    before that version was ever published).
    """
    folder.mkdir(parents=True, exist_ok=True)
    written, refused = [], []
    for name, schema in expected_snapshots(events).items():
        committed = load_snapshot(name, folder)
        if committed == schema and (folder / name).read_text("utf-8") == render(schema):
            continue
        if committed is not None and breaking_changes(committed, schema) and not allow_breaking:
            refused.append(name)
            continue
        (folder / name).write_text(render(schema), "utf-8")
        written.append(name)
    return written, refused


def check_registry_file(path: Path = REGISTRY_FILE, events: Iterable[type[EventData]] = ALL_EVENTS) -> list[str]:
    """A problem when the file at `path` is not the registry the declarations of `events` generate; [] if it is."""
    if not path.exists():
        return [f"{path.name}: not written (run `{REGENERATE}`)"]
    if json.loads(path.read_text("utf-8")) != build_registry(events).as_json():
        return [f"{path.name}: differs from the event declarations; regenerate it with `{REGENERATE}`"]
    return []


def write_registry_file(path: Path = REGISTRY_FILE, events: Iterable[type[EventData]] = ALL_EVENTS) -> bool:
    """Write the registry generated from the declarations of `events` to `path`; True when the text changed."""
    text = build_registry(events).render()
    if path.exists() and path.read_text("utf-8") == text:
        return False
    path.write_text(text, "utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.events.snapshots [--check | --write]`: 0 when the snapshots and registry.json match
    the declarations (or were written), 1 with the differences printed otherwise."""
    parser = argparse.ArgumentParser(prog="python -m shared.events.snapshots",
                                     description="Check or write the events' JSON Schema snapshots and registry.json.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a snapshot differs (default)")
    mode.add_argument("--write", action="store_true", help="write new and compatibly changed snapshots")
    parser.add_argument("--allow-breaking", action="store_true",
                        help="with --write: also overwrite snapshots with breaking changes")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--registry", type=Path, default=REGISTRY_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.write:
        written, refused = write(args.dir, allow_breaking=args.allow_breaking)
        if write_registry_file(args.registry):
            written.append(args.registry.name)
        for name in written:
            print(f"wrote {name}")
        for name in refused:
            for b in breaking_changes(load_snapshot(name, args.dir) or {}, expected_snapshots()[name]):
                print(f"REFUSED {name}: {b}", file=sys.stderr)
        if refused:
            print("a published version must not break: add a new schema_version instead", file=sys.stderr)
            return 1
        return 0

    problems = check(args.dir) + check_registry_file(args.registry)
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{len(expected_snapshots())} snapshots and {args.registry.name} match the declarations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
