"""Scan files and folders: findings and optional risk scores per file; failures are reported per file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedrisk.contracts.classifier import Params, predict_proba
from fedrisk.contracts.detectors import Finding, run_detectors
from fedrisk.contracts.features import function_features
from fedrisk.contracts.parsing import ParseIssue, parse_file_safe
from fedrisk.errors import DataNotFoundError

__all__ = ["FileScan", "FunctionRisk", "collect_sources", "scan_file", "scan_paths"]


@dataclass(frozen=True, slots=True)
class FunctionRisk:
    """The classifier's probability that a function holds a vulnerability."""

    contract: str
    function: str
    start_line: int
    end_line: int
    score: float


@dataclass(frozen=True, slots=True)
class FileScan:
    """Result of scanning one file. ``readable`` is ``False`` when nothing could be parsed."""

    path: str
    readable: bool
    issues: tuple[ParseIssue, ...]
    findings: tuple[Finding, ...]
    risks: tuple[FunctionRisk, ...]

    def risk_at(self, line: int) -> float | None:
        """Risk score of the function containing ``line`` (``None`` without a model or outside functions)."""
        return next((r.score for r in self.risks if r.start_line <= line <= r.end_line), None)


def collect_sources(paths: Sequence[Path]) -> list[Path]:
    """Expand folders to their ``*.sol`` files (recursive, sorted); keep files as given.

    Raises
    ------
    DataNotFoundError
        A path does not exist, or no Solidity file was found at all.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.sol") if p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise DataNotFoundError(f"{path} does not exist: pass Solidity files or folders that hold them.")
    if not found:
        raise DataNotFoundError(f"no .sol files under {', '.join(map(str, paths))}: nothing to scan.")
    return found


def scan_file(path: Path, model: Params | None = None) -> FileScan:
    """Parse, run the detectors and (with ``model``) score every function of one file; never raises."""
    parsed = parse_file_safe(path)
    if parsed.tree is None:
        return FileScan(str(path), False, parsed.issues, (), ())
    risks: tuple[FunctionRisk, ...] = ()
    if model is not None:
        rows = function_features(parsed)
        if rows:
            scores = predict_proba(model, np.asarray([v for _, v in rows], dtype=np.float64))
            risks = tuple(
                FunctionRisk(f.contract, f.name, f.start_line, f.end_line, float(s))
                for (f, _), s in zip(rows, scores, strict=True)
            )
    return FileScan(str(path), True, parsed.issues, tuple(run_detectors(parsed)), risks)


def scan_paths(paths: Sequence[Path], model: Params | None = None) -> list[FileScan]:
    """Scan every Solidity file under ``paths``; a file that fails is reported and the batch goes on."""
    return [scan_file(path, model) for path in collect_sources(paths)]
