"""`python -m tools.evaluate routing FILE`: the learned free-text classifier measured on a time-ordered split.

What it measures (docs/judgement.md, "Evaluation commands"), on any export that `shared.records.records_for`
reads:

- the records with a label (``service_name``) and a text (``free_text``, what the replay's free-text mode
  sends, else ``description``) are split by time: the model learns from the older 80 % and is measured
  on the newest 20 % only (`shared.records.time_ordered_split`);
- labels with fewer than ``min_examples`` training rows are not learned; their test rows still count
  (as misses), as they would in production;
- top-1 and top-3 accuracy of the model (`shared.judgement.TextModel`), and the same of the **keyword
  baseline**: today's `KeywordClassifier` (services/router) built from the training split alone, one
  service per learned label whose keywords are derived the way `shared.jurisdiction.derive` derives them
  from an export (see `baseline_services`);
- the triage share (test rows whose top-1 probability is below ``min_probability``), and the accuracy of
  the rows routed automatically;
- calibration: expected calibration error of the top-1 probability over 10 equal-width bins, with the bins.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from shared.jurisdiction import DedupPolicy, Keyword, Service, tokens
from shared.jurisdiction.text import fold_label, service_code_for
from tools.evaluate import add_input_arguments, read_input

__all__ = [
    "add_arguments",
    "baseline_services",
    "calibration",
    "evaluate_routing",
    "evaluate_split",
    "record_text",
    "render",
    "run",
]

#: How many distinctive words per label the keyword baseline keeps (as `services_from.max_keywords`).
BASELINE_MAX_KEYWORDS = 20
#: A word is a baseline keyword of a label when at least this share of the training rows that contain it
#: have that label, and it is in at least 2 of them.
BASELINE_MIN_PRECISION = 0.5
_GENERIC = frozenset(
    "request requests complaint issue condition conditions other general new misc unknown problem report "
    "service autre".split()
)
_BINS = 10


def record_text(record: Any) -> str | None:
    """The text a record is classified from: ``free_text`` (what the replay's free-text mode sends),
    else ``description``; ``None`` when neither has a word."""
    text = getattr(record, "free_text", None) or getattr(record, "description", None)
    return text if text and text.strip() else None


def baseline_services(texts: Sequence[str], labels: Sequence[str], *, learned: Iterable[str],
                      phrases: Sequence[tuple[str, str]] = ()) -> list[Service]:
    """The keyword baseline's services, from training rows only: one per label in ``learned``.

    Keywords (EN, as `shared.jurisdiction.derive.derive_services` builds them from an export):

    - the label itself, weight 1;
    - each word of the label (3+ letters, not generic such as "other" or "request"), weight
      0.7 / number of labels using that word in their name;
    - the label's distinctive words in the training texts (stemmed `tokens`, stop words dropped): words in
      at least 2 of its rows of which at least half have this label; weight = that share × n/(n+1)
      (n = its rows with the word), the `BASELINE_MAX_KEYWORDS` with the largest n × share;
    - ``phrases`` (``(label, phrase)``: the catalogue's own phrases when a jurisdiction is given), weight 1.
    """
    learned = sorted(set(learned))
    name_words: dict[str, list[str]] = {
        label: [w for w in dict.fromkeys(tokens(label)) if len(w) >= 3 and w not in _GENERIC] for label in learned
    }
    name_df = Counter(w for words in name_words.values() for w in words)
    per_label: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for text, label in zip(texts, labels, strict=True):
        words = set(tokens(text))
        per_label[label].update(words)
        totals.update(words)
    services = []
    policy = DedupPolicy(radius_m=50, window_hours=72)
    for label in learned:
        keywords = [Keyword(text=label, weight=1.0, origin="name")]
        keywords += [Keyword(text=w, weight=round(0.7 / name_df[w], 4), origin="name") for w in name_words[label]]
        scored = []
        for word, n in per_label[label].items():
            share = n / totals[word]
            if n >= 2 and share >= BASELINE_MIN_PRECISION and word not in name_words[label]:
                scored.append((-(n * share), word, round(share * n / (n + 1), 4)))
        keywords += [Keyword(text=w, weight=wt, origin="data") for _, w, wt in sorted(scored)[:BASELINE_MAX_KEYWORDS]]
        keywords += [Keyword(text=p, weight=1.0) for lab, p in phrases if lab == label and p != label]
        code = _code(label)
        services.append(Service(
            service_code=code, service_name=label, keywords={"en": tuple(keywords)}, department_id="eval",
            queue="eval", agency_responsible="eval", priority=3, sla_hours=72, dedup=policy, origin="derived"))
    return services


def _code(label: str) -> str:
    try:
        return service_code_for(label)
    except ValueError:
        return label


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = _BINS) -> dict[str, Any]:
    """Expected calibration error of top-1 probabilities: ``sum(n_b / N * |accuracy_b - confidence_b|)``
    over ``bins`` equal-width bins of [0, 1] (a probability of exactly 1 falls in the last bin).

    Returns ``{"ece": float, "bins": [{"low", "high", "n", "confidence", "accuracy"}]}`` (empty bins
    have ``None`` confidence and accuracy). ``ece`` is ``None`` when there are no rows.
    """
    sums: list[list[float]] = [[0, 0.0, 0] for _ in range(bins)]
    for p, ok in zip(confidences, correct, strict=True):
        b = min(int(p * bins), bins - 1)
        sums[b][0] += 1
        sums[b][1] += p
        sums[b][2] += 1 if ok else 0
    total = len(confidences)
    ece = 0.0
    rows = []
    for b, (n, psum, hits) in enumerate(sums):
        conf = psum / n if n else None
        acc = hits / n if n else None
        if n:
            ece += n / total * abs(acc - conf)
        rows.append({"low": round(b / bins, 2), "high": round((b + 1) / bins, 2), "n": int(n),
                     "confidence": _r(conf), "accuracy": _r(acc)})
    return {"ece": _r(ece) if total else None, "bins": rows}


def evaluate_split(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    *,
    min_probability: float = 0.5,
    min_examples: int = 3,
    min_score: float = 0.45,
    name: str = "eval",
    catalogue: tuple[Sequence[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Train on one side, measure on the other (in-memory lists; `evaluate_routing` makes them from records).

    ``catalogue``: ``(phrases, labels)`` a jurisdiction's catalogue adds to the training side, as
    `shared.judgement.model_for` does (`shared.judgement.catalogue_rows`); the keyword baseline gets them
    as keywords. They count towards ``min_examples``.

    Returns the report dict: ``n_train``, ``n_test``, ``classes`` (learned labels with their training rows),
    ``unlearned_test_rows`` (test rows whose label was not learned), ``model`` (``top1``, ``top3``,
    ``triage_share``, ``routed_accuracy``, ``calibration``, ``version``, ``train_seconds``), ``baseline``
    (``top1``, ``top3``, ``triage_share`` at ``min_score``) and ``per_class`` (test rows and top-1 of each). ``model.top1_learned`` and ``top3_learned``, and the same of
    the baseline, are measured on the test rows of learned labels only.
    Accuracies are shares in [0, 1] rounded to 4 places.

    Raises:
        ValueError: fewer than two labels have ``min_examples`` training rows, or no test rows.
    """
    from services.router.domain.classify import KeywordClassifier  # noqa: PLC0415 - the baseline only
    from shared.judgement import TextModel  # noqa: PLC0415 - scikit-learn loads in a second

    if not test_texts:
        raise ValueError("no test rows")
    extra_texts, extra_labels = catalogue if catalogue is not None else ((), ())
    all_texts = [*train_texts, *extra_texts]
    all_labels = [*train_labels, *extra_labels]
    counts = Counter(all_labels)
    learned = sorted(label for label, n in counts.items() if n >= min_examples)
    if len(learned) < 2:
        raise ValueError(f"fewer than two labels have {min_examples} training rows ({dict(counts)})")
    learned_set = set(learned)
    keep = [i for i, label in enumerate(all_labels) if label in learned_set]
    texts = [all_texts[i] for i in keep]
    labels = [all_labels[i] for i in keep]
    history = [i for i in range(len(train_texts)) if train_labels[i] in learned_set]
    started = time.perf_counter()
    model = TextModel.train(texts, labels, name=name)
    train_seconds = time.perf_counter() - started
    tops = model.top_many(test_texts, k=3)

    keyword = KeywordClassifier(baseline_services(
        [train_texts[i] for i in history], [train_labels[i] for i in history], learned=learned,
        phrases=list(zip(extra_labels, extra_texts, strict=True))))
    label_of_code = {_code(label): label for label in learned}
    n = len(test_texts)
    n_learned = sum(1 for label in test_labels if label in learned_set)
    m1 = m3 = b1 = b3 = triaged = routed_ok = baseline_triaged = 0
    confidences: list[float] = []
    correct: list[bool] = []
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for text, label, top in zip(test_texts, test_labels, tops, strict=True):
        codes = [s.service_code for s in top]
        p1 = top[0].probability if top else 0.0
        hit = bool(codes) and codes[0] == label
        m1 += hit
        m3 += label in codes
        confidences.append(p1)
        correct.append(hit)
        if p1 < min_probability:
            triaged += 1
        else:
            routed_ok += hit
        candidates = keyword.classify(text)
        guesses = [label_of_code[c.service_code] for c in candidates[:3]]
        b_hit = bool(guesses) and guesses[0] == label
        b1 += b_hit
        b3 += label in guesses
        baseline_triaged += not candidates or candidates[0].score < min_score
        per_class[label][0] += 1
        per_class[label][1] += hit
        per_class[label][2] += b_hit
    routed = n - triaged
    return {
        "n_train": len(history),
        "n_catalogue": len(texts) - len(history),
        "n_train_unlearned": len(train_texts) - len(history),
        "n_test": n,
        "classes": {label: counts[label] for label in learned},
        "unlearned_test_rows": n - n_learned,
        "min_probability": min_probability,
        "model": {
            "version": model.version,
            "calibrated": model.calibrated,
            "train_seconds": round(train_seconds, 2),
            "top1": _r(m1 / n),
            "top3": _r(m3 / n),
            "top1_learned": _r(m1 / n_learned) if n_learned else None,
            "top3_learned": _r(m3 / n_learned) if n_learned else None,
            "triage_share": _r(triaged / n),
            "routed_accuracy": _r(routed_ok / routed) if routed else None,
            "calibration": calibration(confidences, correct),
        },
        "baseline": {
            "method": "keywords derived from the training split (tools/evaluate/routing.py: baseline_services)",
            "min_score": min_score,
            "top1": _r(b1 / n),
            "top3": _r(b3 / n),
            "top1_learned": _r(b1 / n_learned) if n_learned else None,
            "top3_learned": _r(b3 / n_learned) if n_learned else None,
            "triage_share": _r(baseline_triaged / n),
        },
        "per_class": {label: {"n_test": v[0], "model_top1": _r(v[1] / v[0]), "baseline_top1": _r(v[2] / v[0])}
                      for label, v in sorted(per_class.items(), key=lambda kv: (-kv[1][0], kv[0]))},
    }


def evaluate_routing(
    records: Iterable[Any],
    *,
    min_probability: float = 0.5,
    min_examples: int = 3,
    min_score: float = 0.45,
    test_share: float = 0.2,
    name: str = "eval",
    catalogue: tuple[Sequence[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The `routing` section of the replay report and of `make bench`, from `ReplayRecord` s.

    Records with no label (``service_name``) or no text (`record_text`) are left out (``skipped``);
    the rest are split by time (`shared.records.time_ordered_split`, ``test_share`` newest) and measured
    by `evaluate_split` (``catalogue``: see there; its labels are service names, matched to the file's
    labels with case, accents and spacing folded). The report adds ``name``, ``skipped`` and the split's time range (ISO, UTC).

    Raises:
        ValueError: see `evaluate_split`.
    """
    from shared.records import time_ordered_split  # noqa: PLC0415

    usable = []
    skipped = 0
    for record in records:
        text = record_text(record)
        if record.service_name and text:
            usable.append(record)
        else:
            skipped += 1
    train, test = time_ordered_split(usable, test_share=test_share)
    if catalogue is not None:
        spelling = {fold_label(r.service_name): r.service_name for r in usable}
        catalogue = (list(catalogue[0]), [spelling.get(fold_label(label), label) for label in catalogue[1]])
    report = evaluate_split(
        [record_text(r) or "" for r in train], [r.service_name for r in train],
        [record_text(r) or "" for r in test], [r.service_name for r in test],
        min_probability=min_probability, min_examples=min_examples, min_score=min_score, name=name,
        catalogue=catalogue)
    return {
        "name": name,
        "skipped": skipped,
        "train_period": _period(train),
        "test_period": _period(test),
        **report,
    }


def evaluate_routing_for(
    records: Iterable[Any],
    jurisdiction: Any | None,
    *,
    name: str,
    test_share: float = 0.2,
    min_probability: float | None = None,
    min_examples: int | None = None,
    with_catalogue: bool = True,
) -> dict[str, Any]:
    """`evaluate_routing` as a jurisdiction configures it: the one call behind ``python -m tools.evaluate
    routing FILE --jurisdiction ID`` and the replay report's ``routing.held_out``, so both print the same
    figures. From `jurisdiction` (None: the defaults 0.5, 3 and 0.45, no catalogue): ``min_probability`` and
    ``min_examples`` of ``classification.model`` (an explicit argument wins), ``classification.min_score``,
    and, with ``with_catalogue``, the catalogue's phrases (`shared.judgement.catalogue_rows`, labelled by
    service name) as `shared.judgement.model_for` learns them.

    Raises:
        ValueError: see `evaluate_split`.
    """
    spec = jurisdiction.classification if jurisdiction is not None else None
    model_spec = spec.model if spec is not None else None
    if min_probability is None:
        min_probability = model_spec.min_probability if model_spec is not None else 0.5
    if min_examples is None:
        min_examples = model_spec.min_examples if model_spec is not None else 3
    catalogue = None
    if jurisdiction is not None and with_catalogue:
        from shared.judgement import catalogue_rows  # noqa: PLC0415 - scikit-learn loads only when asked

        catalogue = catalogue_rows(jurisdiction, label="service_name")
    return evaluate_routing(records, min_probability=min_probability, min_examples=min_examples,
                            min_score=spec.min_score if spec is not None else 0.45, test_share=test_share,
                            name=name, catalogue=catalogue)


def _period(records: Sequence[Any]) -> list[str] | None:
    if not records:
        return None
    return [records[0].requested_datetime.isoformat(), records[-1].requested_datetime.isoformat()]


def _r(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


# -- command line ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``FILE [--layout NAME|PATH] [--jurisdiction ID|PATH] [--min-probability P] [--min-examples N]
    [--test-share S] [--no-catalogue]``."""
    add_input_arguments(parser, jurisdiction_help="a jurisdiction id or folder: its export: mapping, its "
                        "classification.model thresholds and its time zone")
    parser.add_argument("--min-probability", type=float, default=None,
                        help="triage threshold (default: the jurisdiction's, else 0.5)")
    parser.add_argument("--min-examples", type=int, default=None,
                        help="labels with fewer training rows are not learned (default: the jurisdiction's, else 3)")
    parser.add_argument("--test-share", type=float, default=0.2, help="the newest share of records tested (0.2)")
    parser.add_argument("--no-catalogue", action="store_true",
                        help="with --jurisdiction: learn from the file alone, not also the catalogue's phrases")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Read FILE, split it by time, train, measure; the JSON report (see `evaluate_routing`).

    Raises:
        ReplayFormatError: the file cannot be read in any layout, or has fewer than two labels with
            ``min_examples`` training rows.
        FileNotFoundError: no such file.
    """
    from shared.records import ReplayFormatError  # noqa: PLC0415

    jurisdiction, records = read_input(args)
    try:
        report = evaluate_routing_for(records, jurisdiction, name=args.file.stem, test_share=args.test_share,
                                      min_probability=args.min_probability, min_examples=args.min_examples,
                                      with_catalogue=not args.no_catalogue)
    except ValueError as exc:  # too few labelled rows: an input problem, said as one (exit status 2)
        raise ReplayFormatError(f"{args.file}: cannot measure routing: {exc}") from exc
    return {"file": str(args.file), "layout": args.layout, "jurisdiction": args.jurisdiction, **report}


def render(report: dict[str, Any]) -> str:
    """The report as a text table: the split, model versus keyword baseline, calibration bins, per class."""
    model, base = report["model"], report["baseline"]
    lines = [
        f"routing: {report.get('file', report['name'])}",
        f"  split: {report['n_train']} training rows (older), {report['n_test']} test rows (newest), "
        f"{report['skipped']} without label or text, {report['n_train_unlearned']} training rows of labels "
        f"with too few rows, {report['n_catalogue']} catalogue phrases",
        f"  learned labels: {len(report['classes'])}; test rows of labels never learned: "
        f"{report['unlearned_test_rows']}",
        "",
        f"  {'':28} {'top-1':>7} {'top-3':>7} {'triage':>7}",
        f"  {'model ' + model['version']:28.28} {_pct(model['top1'])} {_pct(model['top3'])} "
        f"{_pct(model['triage_share'])}   (triage: top-1 probability < {report['min_probability']})",
        f"  {'keyword baseline':28} {_pct(base['top1'])} {_pct(base['top3'])} {_pct(base['triage_share'])}"
        f"   (triage: best keyword score < {base['min_score']})",
        f"  on test rows of learned labels only: model top-1 {_pct(model['top1_learned'])}, "
        f"top-3 {_pct(model['top3_learned'])}; baseline top-1 {_pct(base['top1_learned'])}, "
        f"top-3 {_pct(base['top3_learned'])}",
        f"  accuracy of the rows the model routes itself: {_pct(model['routed_accuracy'])}",
        f"  calibration: expected calibration error {model['calibration']['ece']}",
        f"    {'bin':>11} {'rows':>6} {'mean p':>7} {'accuracy':>8}",
    ]
    for b in model["calibration"]["bins"]:
        if b["n"]:
            lines.append(f"    {b['low']:.1f} - {b['high']:.1f} {b['n']:>6} {b['confidence']:>7.3f} {b['accuracy']:>8.3f}")
    lines.append("  per label (test rows, model top-1, baseline top-1):")
    for label, row in list(report["per_class"].items())[:25]:
        lines.append(f"    {label[:40]:40} {row['n_test']:>5} {_pct(row['model_top1'])} {_pct(row['baseline_top1'])}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return f"{'-':>7}" if value is None else f"{value * 100:6.1f}%"
