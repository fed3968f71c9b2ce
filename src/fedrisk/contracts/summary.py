"""JSON-ready summaries of scans, detector scores and cross-validation (for the CLI and ``results.json``)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from fedrisk.contracts.classifier import CVReport, Metrics
from fedrisk.contracts.evaluation import CategoryScore, DetectorEvaluation
from fedrisk.contracts.scan import FileScan

__all__ = ["cv_summary", "detector_summary", "scan_summary"]


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def _score(s: CategoryScore) -> dict[str, Any]:
    return {
        "category": s.category,
        "tp": s.tp,
        "fp": s.fp,
        "fn": s.fn,
        "precision": _num(s.precision),
        "recall": _num(s.recall),
        "f1": _num(s.f1),
    }


def detector_summary(ev: DetectorEvaluation) -> dict[str, Any]:
    """Per-category line- and contract-level scores, counts and timing."""
    return {
        "files": ev.n_files,
        "annotated_lines": ev.n_annotations,
        "findings": ev.n_findings,
        "parse_failures": list(ev.parse_failures),
        "scan_seconds": round(ev.seconds, 3),
        "line_level": [_score(s) for s in ev.line],
        "contract_level": [_score(s) for s in ev.contract],
        "icse2020_69_line_level": _score(ev.icse69_line) if ev.icse69_line else None,
    }


def _metrics(m: Metrics) -> dict[str, Any]:
    return {
        "auprc": _num(m.auprc),
        "auroc": _num(m.auroc),
        "f1": _num(m.f1),
        "n": m.n,
        "n_positive": m.n_positive,
    }


def _mean(ms: list[Metrics]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("auprc", "auroc", "f1"):
        values = np.array([getattr(m, key) for m in ms], dtype=np.float64)
        out[key] = _num(float(np.nanmean(values)))
        out[f"{key}_std"] = _num(float(np.nanstd(values)))
    return out


def cv_summary(report: CVReport) -> dict[str, Any]:
    """Fold means (± std) of central, local-only (all firms of all folds) and the rule baseline."""
    local = [m for fold in report.local for m in fold]
    return {
        "folds": report.n_folds,
        "firms": report.n_firms,
        "seed": report.seed,
        "config": asdict(report.config),
        "central": _mean(list(report.central)),
        "local_only": _mean(local),
        "rules_only": _mean(list(report.baseline)),
        "pooled_out_of_fold_central": _metrics(report.pooled_central),
        "pooled_rules_only": _metrics(report.pooled_baseline),
        "firm_rows_per_fold": [list(s) for s in report.firm_sizes],
        "per_fold": [
            {"central": _metrics(c), "rules_only": _metrics(b), "local_only": [_metrics(m) for m in loc]}
            for c, b, loc in zip(report.central, report.baseline, report.local, strict=True)
        ],
    }


def scan_summary(scans: list[FileScan]) -> dict[str, Any]:
    """Every file with its parse issues, findings (with the enclosing function's risk) and risks."""
    files = []
    for scan in scans:
        files.append(
            {
                "path": scan.path,
                "readable": scan.readable,
                "parse_issues": [asdict(i) for i in scan.issues],
                "findings": [dict(asdict(f), risk=scan.risk_at(f.line)) for f in scan.findings],
                "function_risks": [asdict(r) for r in scan.risks],
            }
        )
    return {
        "files": files,
        "n_files": len(scans),
        "n_failed": sum(1 for s in scans if not s.readable or s.issues),
        "n_findings": sum(len(s.findings) for s in scans),
    }
