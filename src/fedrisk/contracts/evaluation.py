"""Detector precision/recall against the curated set's annotations, at line and contract level.

Line level: a finding matches an annotation when file, line and category are all equal (the
SmartBugs study's criterion). Contract level: a file counts as detected for a category when any
finding of that category is reported anywhere in it. Every curated file is vulnerable, and files are
annotated for one category each, so a true problem of another category counts as a false positive
here: precision is a lower bound.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from fedrisk.contracts.dataset import CuratedSet
from fedrisk.contracts.detectors import CATEGORIES, Finding, run_detectors
from fedrisk.contracts.parsing import parse_file_safe

__all__ = [
    "CategoryScore",
    "DetectorEvaluation",
    "evaluate_detectors",
    "icse2020_subset",
    "score_findings",
]


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """True/false positives and misses of one category (``"all"`` for the micro total)."""

    category: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 0.0 when nothing was reported."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 0.0 when nothing was annotated."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class DetectorEvaluation:
    """Scores of the detectors on a curated set."""

    line: tuple[CategoryScore, ...]
    contract: tuple[CategoryScore, ...]
    n_files: int
    n_annotations: int
    n_findings: int
    parse_failures: tuple[str, ...]
    seconds: float
    icse69_line: CategoryScore | None = None


def _scores(truth: set[tuple[str, int, str]], predicted: set[tuple[str, int, str]]) -> tuple[CategoryScore, ...]:
    scores = []
    for category in CATEGORIES:
        t = {x for x in truth if x[2] == category}
        p = {x for x in predicted if x[2] == category}
        if t or p:
            scores.append(CategoryScore(category, len(t & p), len(p - t), len(t - p)))
    scores.append(CategoryScore("all", len(truth & predicted), len(predicted - truth), len(truth - predicted)))
    return tuple(scores)


def score_findings(
    curated: CuratedSet, findings: dict[str, list[Finding]], files: frozenset[str] | None = None
) -> tuple[tuple[CategoryScore, ...], tuple[CategoryScore, ...]]:
    """(line-level, contract-level) scores of ``findings`` (keyed by relative path) on ``curated``.

    ``files`` restricts the scoring to a subset of relative paths.
    """
    chosen = [f for f in curated.files if files is None or f.path in files]
    truth = {(a.path, a.line, a.category) for f in chosen for a in f.annotations}
    predicted = {(f.path, x.line, x.category) for f in chosen for x in findings.get(f.path, [])}
    truth_c = {(f.path, 0, c) for f in chosen for c in f.categories}
    predicted_c = {(f.path, 0, x.category) for f in chosen for x in findings.get(f.path, [])}
    return _scores(truth, predicted), _scores(truth_c, predicted_c)


def icse2020_subset(root: Path) -> frozenset[str]:
    """Relative paths of the 69 contracts of the ICSE 2020 study (following the file's MOVED notes)."""
    listing = root / "ICSE2020_curated_69.txt"
    if not listing.is_file():
        return frozenset()
    paths: set[str] = set()
    for line in listing.read_text(encoding="utf-8").splitlines():
        moved = re.search(r"\[MOVED TO: \./(\S+?)\]", line)
        if moved:
            paths.add(f"dataset/{moved[1]}")
        elif line.startswith("./dataset/"):
            paths.add(line.split()[0][2:])
    return frozenset(paths)


def evaluate_detectors(curated: CuratedSet) -> DetectorEvaluation:
    """Parse and scan every curated file, then score the findings; the wall time covers parse + scan."""
    start = time.perf_counter()
    findings: dict[str, list[Finding]] = {}
    failures: list[str] = []
    for curated_file in curated.files:
        parsed = parse_file_safe(curated.root / curated_file.path)
        if not parsed.ok:
            failures.append(curated_file.path)
        findings[curated_file.path] = run_detectors(parsed)
    seconds = time.perf_counter() - start
    line, contract = score_findings(curated, findings)
    subset = icse2020_subset(curated.root)
    icse = score_findings(curated, findings, subset)[0][-1] if subset else None
    return DetectorEvaluation(
        line=line,
        contract=contract,
        n_files=len(curated.files),
        n_annotations=len(curated.annotations),
        n_findings=sum(len(v) for v in findings.values()),
        parse_failures=tuple(failures),
        seconds=seconds,
        icse69_line=icse,
    )
