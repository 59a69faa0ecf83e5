"""``hub bench routing``: how often keyword routing names the right organisation.

Reads a taxonomy in the CPGRAMS export format and grievances labelled with the
organisation they were filed with (``id, org_code, org_name, category_path,
text``). Reports organisation-level top-1 and top-3, ``coverage_at_90`` (the
share of grievances routed automatically with the threshold set so that at
least 90% of those are right), suggestion latency, and how long the index
takes to build: for the tree alone and, with ``--train``, with a model
trained on labelled grievances.

Honesty: when the eval file shares grievances with the training file, the
figures come from K-fold cross-validation over the eval file: each fold is
scored by a model that never saw it. Which grievances share a fold moves a
figure by up to 0.02 (coverage by 0.04): ``--shuffles N`` runs N shuffles of
the folds (seeds ``--seed`` to ``--seed`` + N - 1, each model trained with its
shuffle's seed) and reports their mean, the figure to judge a change by.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Any

from routing_rules.cpgrams import read_cpgrams
from routing_rules.overlays import (
    CPGRAMS_EXAMPLES,
    CPGRAMS_KEYWORDS,
    apply_overlay,
    read_examples,
    read_overlay,
)
from routing_rules.ranker import (
    Example,
    HistoryModel,
    NodeInfo,
    Router,
    TaxonomyIndex,
    field_labels,
    seed_examples,
)
from routing_rules.rules import RuleError, RuleSet

_COLUMNS = ("id", "org_code", "text")


@dataclass(frozen=True)
class RoutingOptions:
    taxonomy_dir: Path
    eval_csv: Path
    train_csv: Path | None = None
    keywords: Path | None = CPGRAMS_KEYWORDS
    examples: Path | None = CPGRAMS_EXAMPLES  # seed examples, learned from with --train
    folds: int = 5
    seed: int = 7  # of the first shuffle of the folds, and of its models' training
    shuffles: int = 1


@dataclass(frozen=True)
class Row:
    id: str
    org: str
    category_path: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.text)


@dataclass
class Scores:
    top1: float
    top3: float
    coverage_at_90: float
    p50_ms: float
    p99_ms: float
    coverage_at_85: float = 0.0
    coverage_at_80: float = 0.0
    # among grievances whose path names a leaf: that leaf first, in the first three
    category_top1: float = 0.0
    category_top3: float = 0.0
    categorised: int = 0
    # per HUB_ROUTING_AUTO_THRESHOLD tried: the share routed without a GRO, and of those the
    # share that went to the department the grievance was filed with
    auto_routing: tuple[tuple[float, float, float | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "top1": round(self.top1, 4),
            "top3": round(self.top3, 4),
            "coverage_at_90": round(self.coverage_at_90, 4),
            "coverage_at_85": round(self.coverage_at_85, 4),
            "coverage_at_80": round(self.coverage_at_80, 4),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "category_top1": round(self.category_top1, 4),
            "category_top3": round(self.category_top3, 4),
            "categorised": self.categorised,
            "auto_routing": [
                {
                    "threshold": t,
                    "routed": round(share, 4),
                    "right": None if right is None else round(right, 4),
                }
                for t, share, right in self.auto_routing
            ],
        }


@dataclass(frozen=True)
class Outcome:
    """How one grievance was routed."""

    org_rank: int | None  # where its organisation came among the departments (0: first)
    confidence: float  # of the first department
    latency_ms: float
    category: str | None  # the leaf it was filed under, when its path names one
    category_rank: int | None  # where that leaf came among the suggestions' categories
    # the first department's best suggestion names a category: the hub may route it without a
    # GRO (``routing.decide``), given the confidence
    routable: bool = True


_SHOWN = 20  # bad rows listed one by one; the rest are counted


def read_rows(path: Path, skipped: list[str] | None = None) -> list[Row]:
    """The labelled grievances in ``path``; RuleError naming the problem (``PATH:
    problem``) when the file cannot be read or has no row to score. A row that cannot be
    scored as it stands (no text or organisation, a cell too few or too many) would
    count as a wrong answer and distort the figures: it is left out, and ``skipped``
    gets a line naming it (the first few; then how many in all)."""
    csv.field_size_limit(10_000_000)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _rows(path, csv.reader(handle), [] if skipped is None else skipped)
    except UnicodeDecodeError:
        raise RuleError([f"{path}: {_not_utf8(path)}"]) from None
    except csv.Error as exc:  # a cell past the size limit; a NUL byte on older Pythons
        raise RuleError([f"{path}: not a readable CSV file ({exc})"]) from None
    except OSError as exc:
        raise RuleError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None


def _rows(path: Path, reader: Any, skipped: list[str]) -> list[Row]:
    header = next(reader, None)
    if header is None:
        raise RuleError([f"{path}: is empty; expected a header naming {', '.join(_COLUMNS)}"])
    _text_only(path, 1, header)
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise RuleError([f"{path}: missing column(s) {', '.join(missing)}"])
    at = {name: header.index(name) for name in (*_COLUMNS, "category_path") if name in header}
    rows: list[Row] = []
    bad: list[str] = []
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num  # a quoted cell may span lines
        if not cells:  # a blank line
            continue
        _text_only(path, start, cells)
        wrong = []
        if len(cells) != len(header):
            wrong.append(f"{len(cells)} cell(s) where the header names {len(header)}")
        value = {name: cells[i] if i < len(cells) else "" for name, i in at.items()}
        wrong += [f"no {name}" for name in ("org_code", "text") if not value[name].strip()]
        if wrong:
            bad.append(f"{path}: line {start}: {', '.join(wrong)}")
            continue
        org, category = value["org_code"].strip(), value.get("category_path", "")
        rows.append(Row(value["id"], org, category, value["text"]))
    if bad:
        shown = bad[:_SHOWN]
        if len(bad) > _SHOWN:
            shown.append(f"{path}: ... and {len(bad) - _SHOWN} more bad row(s)")
        shown.append(
            f"{path}: {len(bad)} of {len(bad) + len(rows)} grievance(s) cannot be scored "
            "and are left out; fix the export"
        )
        if not rows:
            raise RuleError(shown)
        skipped += shown
    if not rows:
        raise RuleError([f"{path}: has no grievances, only a header"])
    return rows


def _text_only(path: Path, line: int, cells: list[str]) -> None:
    """Refuses NUL characters: a binary file, or UTF-16 without its byte-order mark,
    can decode as UTF-8 and would be scored as gibberish."""
    if any("\x00" in cell for cell in cells):
        raise RuleError(
            [
                f"{path}: line {line}: NUL bytes, so not a text file (binary, or UTF-16?); "
                "save it as UTF-8 CSV"
            ]
        )


def _not_utf8(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text, not UTF-8; save it as UTF-8 CSV"
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # where in the whole file, not in the decoder's chunk
        line = raw[: exc.start].count(b"\n") + 1
        return f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8 CSV"
    return "not UTF-8 text; save it as UTF-8 CSV"


def node_infos(rules: RuleSet) -> list[NodeInfo]:
    return [
        NodeInfo(
            code=n.code,
            department=n.department,
            parent=n.parent,
            names=n.names,
            keywords=n.keywords,
            synonyms=n.synonyms,
            destination=n.destination,
            fields=field_labels(n.input_fields),
        )
        for n in rules.nodes
        if n.active
    ]


def category_paths(index: TaxonomyIndex) -> dict[str, dict[str, str]]:
    """Per department: its categories' paths below the department's own node, in lower
    case ('miscellaneous >> others'), to their codes. Grievance exports name the
    department's node differently from the tree ('Atomic Energy' against 'Department
    of Atomic Energy'), so a grievance's path is matched below it, within the
    department it was filed with."""
    out: dict[str, dict[str, str]] = {}
    for code, node in index.nodes.items():
        names = [_plain(index.nodes[c].names.get("en", "")) for c in reversed(index.path(code))]
        out.setdefault(node.department, {})[" >> ".join(names[1:])] = code
    return out


def category_of(row: Row, paths: dict[str, dict[str, str]], leaves: set[str]) -> str | None:
    """The leaf a grievance was filed under, if its path names one (exports cut long
    paths short: a cut path names the one leaf it begins)."""
    below = " >> ".join(_plain(p) for p in row.category_path.split(">>")[1:])
    if not below:
        return None
    known = paths.get(row.org, {})
    code = known.get(below)
    if code is None:
        begun = [c for path, c in known.items() if path.startswith(below)]
        code = begun[0] if len(begun) == 1 else None
    return code if code in leaves else None


def _plain(name: str) -> str:
    return " ".join(name.lower().split())


def examples(rows: list[Row], filed: dict[tuple[str, str], str]) -> list[Example]:
    """``filed``: the leaf each row was filed under, by ``Row.key``, where known."""
    return [Example(row.text, row.org, filed.get(row.key), reference=f"#{row.id}") for row in rows]


def score(router: Router, rows: list[Row], categories: dict[tuple[str, str], str]) -> list[Outcome]:
    """Route each row as the hub would (five suggestions); ``categories``: the leaf each
    row was filed under, by ``Row.key``, where known."""
    out = []
    for row in rows:
        started = time.perf_counter()
        routing = router.suggest(row.text, limit=5)
        latency = (time.perf_counter() - started) * 1000
        orgs = [code for code, _ in routing.departments]
        best = next((s for s in routing.suggestions if orgs and s.department == orgs[0]), None)
        suggested = list(dict.fromkeys(s.category for s in routing.suggestions if s.category))
        category = categories.get(row.key)
        out.append(
            Outcome(
                org_rank=orgs.index(row.org) if row.org in orgs else None,
                confidence=routing.departments[0][1] if routing.departments else 0.0,
                latency_ms=latency,
                category=category,
                category_rank=suggested.index(category) if category in suggested else None,
                routable=best is not None and best.category is not None,
            )
        )
    return out


def coverage_at(precision: float, confidence: list[float], right: list[bool]) -> float:
    """The largest share auto-routed by some threshold with at least ``precision`` right."""
    if not right:
        return 0.0
    pairs = sorted(zip(confidence, right, strict=True), key=lambda p: -p[0])
    best = taken = correct = 0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:  # one threshold takes all ties
            correct += pairs[j][1]
            j += 1
        taken = j
        if correct / taken >= precision:
            best = taken
        i = j
    return best / len(pairs)


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # HUB_ROUTING_AUTO_THRESHOLD values to report


def auto_routing(
    confidence: list[float], right: list[bool], routable: list[bool] | None = None
) -> tuple[tuple[float, float, float | None], ...]:
    """Per threshold: the share of grievances whose best department reaches it with a
    category to route to (routed without a GRO, as ``routing.decide`` does), and the share
    of those that are right (None: none routed)."""
    can = routable if routable is not None else [True] * len(right)
    out = []
    for threshold in THRESHOLDS:
        taken = [
            ok for c, ok, r in zip(confidence, right, can, strict=True) if r and c >= threshold
        ]
        out.append((threshold, len(taken) / max(len(right), 1), _share(taken)))
    return tuple(out)


def _share(taken: list[bool]) -> float | None:
    return sum(taken) / len(taken) if taken else None


def summarise(outcomes: list[Outcome]) -> Scores:
    n = max(len(outcomes), 1)
    ranks = [o.org_rank for o in outcomes]
    first = [rank == 0 for rank in ranks]
    labelled = [o.category_rank for o in outcomes if o.category is not None]
    ordered = sorted(o.latency_ms for o in outcomes) or [0.0]
    confidence = [o.confidence for o in outcomes]
    return Scores(
        top1=sum(first) / n,
        top3=sum(rank is not None and rank < 3 for rank in ranks) / n,
        coverage_at_90=coverage_at(0.9, confidence, first),
        coverage_at_85=coverage_at(0.85, confidence, first),
        coverage_at_80=coverage_at(0.8, confidence, first),
        p50_ms=ordered[len(ordered) // 2],
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        category_top1=sum(rank == 0 for rank in labelled) / max(len(labelled), 1),
        category_top3=sum(rank is not None and rank < 3 for rank in labelled)
        / max(len(labelled), 1),
        categorised=len(labelled),
        auto_routing=auto_routing(confidence, first, [o.routable for o in outcomes]),
    )


def mean_of(shuffles: list[list[Outcome]]) -> Scores:
    """Several shuffles' figures as one: every grievance is scored once per shuffle, so
    the rates over all outcomes together are the shuffles' means; coverage is each
    shuffle's own (a threshold is set per run) and then their mean; ``categorised``
    counts grievances, not their scorings."""
    pooled = summarise([o for outcomes in shuffles for o in outcomes])
    each = [summarise(outcomes) for outcomes in shuffles]
    return replace(
        pooled,
        categorised=pooled.categorised // max(len(shuffles), 1),
        coverage_at_90=fmean(s.coverage_at_90 for s in each),
        coverage_at_85=fmean(s.coverage_at_85 for s in each),
        coverage_at_80=fmean(s.coverage_at_80 for s in each),
    )


def run_routing(options: RoutingOptions) -> int:
    out = sys.stdout
    try:
        started = time.perf_counter()
        rules = read_cpgrams(options.taxonomy_dir, detach_orphans=True)
        if options.keywords is not None:
            apply_overlay(rules, read_overlay(options.keywords), str(options.keywords))
        seeds = (
            read_examples(options.examples)
            if options.examples is not None and options.train_csv is not None
            else {}
        )
        read_s = time.perf_counter() - started
    except RuleError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    problems: list[str] = []  # both files' problems at once: one round of fixing the export
    skipped: list[str] = []
    eval_rows = _read(options.eval_csv, problems, skipped)
    train_rows = _read(options.train_csv, problems, skipped) if options.train_csv else []
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    if skipped:
        print("\n".join(skipped), file=sys.stderr)
    nodes = node_infos(rules)
    started = time.perf_counter()
    # departments that exist without categories (labels of training grievances) can be named
    known = {d.code for d in rules.departments if d.active} | {r.org for r in train_rows}
    index = TaxonomyIndex(nodes, sorted(known), {d.code: d.names for d in rules.departments})
    build_s = time.perf_counter() - started
    print(
        f"taxonomy: {len(nodes)} active nodes, {len(index.leaves)} leaves, "
        f"{len(index.departments)} departments; read {read_s:.2f}s, index built {build_s:.2f}s",
        file=out,
    )
    paths, leaves = category_paths(index), set(index.leaves)
    filed = {
        row.key: code
        for row in (*eval_rows, *train_rows)
        if (code := category_of(row, paths, leaves)) is not None
    }
    print(
        f"eval: {len(eval_rows)} grievances from {options.eval_csv}, "
        f"{sum(row.key in filed for row in eval_rows)} of them filed under a known category",
        file=out,
    )

    tree = summarise(score(Router(index), eval_rows, filed))
    _line("tree only", tree)
    result: dict[str, Any] = {"model": "tree", **tree.as_dict()}
    if train_rows:
        seeded = seed_examples(seeds, index.departments)
        if seeded:
            print(
                f"seed examples: {len(seeded)} for "
                f"{len({e.department for e in seeded})} departments, from {options.examples}",
                file=out,
            )
        trained, detail = _trained(index, train_rows, eval_rows, filed, seeded, options)
        _line(f"trained ({detail['method']})", trained)
        result = {"model": "trained", **trained.as_dict(), **detail}
    result |= {
        "index_build_s": round(build_s, 3),
        "eval_rows": len(eval_rows),
        "train_rows": len(train_rows),
        "tree_only": tree.as_dict(),
    }
    print(json.dumps(result, sort_keys=True), file=out)
    return 0


def _read(path: Path, problems: list[str], skipped: list[str]) -> list[Row]:
    try:
        return read_rows(path, skipped)
    except RuleError as exc:
        problems += exc.problems
        return []


def _trained(
    index: TaxonomyIndex,
    train_rows: list[Row],
    eval_rows: list[Row],
    filed: dict[tuple[str, str], str],
    seeded: list[Example],
    options: RoutingOptions,
) -> tuple[Scores, dict[str, Any]]:
    taught = examples(train_rows, filed)
    eval_keys = {row.key for row in eval_rows}
    overlap = any(row.key in eval_keys for row in train_rows)
    method = f"{options.folds}-fold cross-validation" if overlap else "held-out eval file"
    shuffles: list[list[Outcome]] = []
    each: list[dict[str, Any]] = []
    train_s = 0.0
    trained = 0
    for seed in range(options.seed, options.seed + options.shuffles):
        folds: list[list[Row]] = [eval_rows]
        if overlap:
            order = list(eval_rows)
            random.Random(seed).shuffle(order)
            folds = [order[k :: options.folds] for k in range(options.folds)]
        outcomes: list[Outcome] = []
        for fold in folds:
            held = {row.key for row in fold}
            learn = [e for row, e in zip(train_rows, taught, strict=True) if row.key not in held]
            learn += seeded
            started = time.perf_counter()
            model = HistoryModel.train(index, learn, seed=seed)
            train_s += time.perf_counter() - started
            trained += 1
            outcomes += score(Router(index, model), fold, filed)
        shuffles.append(outcomes)
        scores = summarise(outcomes)
        each.append({"seed": seed, **{k: round(getattr(scores, k), 4) for k in _PER_SHUFFLE}})
        if options.shuffles > 1:
            print(
                f"  shuffle {seed}: "
                + ", ".join(f"{k} {getattr(scores, k):.3f}" for k in _PER_SHUFFLE)
            )
    if options.shuffles > 1:
        last = options.seed + options.shuffles - 1
        method += f", mean of {options.shuffles} shuffles (seeds {options.seed}-{last})"
    return mean_of(shuffles), {
        "method": method,
        "train_s": round(train_s / trained, 3),
        "seed_examples": len(seeded),
        "shuffles": each,
    }


_PER_SHUFFLE = ("top1", "top3", "coverage_at_90", "coverage_at_85", "coverage_at_80")


def _line(label: str, s: Scores) -> None:
    print(
        f"{label}: top-1 {s.top1:.3f}, top-3 {s.top3:.3f}, coverage@90 {s.coverage_at_90:.3f} "
        f"(@85 {s.coverage_at_85:.3f}, @80 {s.coverage_at_80:.3f}), "
        f"p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms; category top-1 {s.category_top1:.3f}, "
        f"top-3 {s.category_top3:.3f} (of {s.categorised})"
    )
    print(
        "  HUB_ROUTING_AUTO_THRESHOLD: "
        + "; ".join(
            f"{t:g} routes {share:.0%}, {right:.0%} of them right"
            if right is not None
            else f"{t:g} routes none"
            for t, share, right in s.auto_routing
        )
    )
