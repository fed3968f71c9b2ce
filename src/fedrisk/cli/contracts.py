"""`fedrisk contracts` commands: scan Solidity, evaluate detectors and classifier, train the risk model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from fedrisk.contracts.classifier import (
    TrainConfig,
    cross_validate,
    init_params,
    load_model,
    save_model,
    train_local,
)
from fedrisk.contracts.dataset import build_function_dataset, load_curated
from fedrisk.contracts.evaluation import evaluate_detectors
from fedrisk.contracts.features import FEATURE_NAMES
from fedrisk.contracts.scan import scan_paths
from fedrisk.contracts.summary import cv_summary, detector_summary, scan_summary
from fedrisk.errors import DataNotFoundError

app = typer.Typer(help="Smart-contract risk screening (SmartBugs DASP categories).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder holding smartbugs-curated/ (default: $FEDRISK_DATA_DIR)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the fold and firm splits and of the model init.")]
HiddenOpt = Annotated[int, typer.Option("--hidden", help="Hidden units (0 = logistic regression).")]


def _data_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("FEDRISK_DATA_DIR")
    if not env:
        raise DataNotFoundError(
            "no data directory: pass --data-dir DIR or set FEDRISK_DATA_DIR to the folder that holds "
            "smartbugs-curated/ (`make` sets it to ../shared/data when that folder exists)."
        )
    return Path(env)


def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    typer.echo(json.dumps(payload, indent=2) if as_json else text)


def _scan_text(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    for entry in payload["files"]:
        if not entry["readable"]:
            lines.append(f"{entry['path']}: NOT SCANNED: {entry['parse_issues'][0]['message']}")
            continue
        for issue in entry["parse_issues"]:
            lines.append(f"{entry['path']}:{issue['line']}: parse error: {issue['message']} (scanned what parsed)")
        for f in entry["findings"]:
            risk = f" risk={f['risk']:.2f}" if f["risk"] is not None else ""
            lines.append(f"{entry['path']}:{f['line']}: [{f['severity']}] {f['category']}{risk}: {f['explanation']}")
    lines.append(
        f"{payload['n_files']} files, {payload['n_findings']} findings, "
        f"{payload['n_failed']} with parse errors or unreadable"
    )
    return "\n".join(lines)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Solidity files or folders (searched recursively).")],
    model: Annotated[Path | None, typer.Option("--model", help="Risk model from `contracts train`.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Findings per file (line, category, severity, explanation); failures never stop the batch."""
    params = load_model(model, FEATURE_NAMES) if model is not None else None
    payload = scan_summary(scan_paths(paths, params))
    _emit(payload, as_json, _scan_text(payload))


def _evaluate_text(det: dict[str, Any], cv: dict[str, Any]) -> str:
    out = [
        f"Detectors on {det['files']} files, {det['annotated_lines']} annotated lines "
        f"({det['scan_seconds']:.2f} s, parse failures: {len(det['parse_failures'])})",
        f"{'category':28s} {'line P':>7s} {'line R':>7s} {'tp':>4s} {'fp':>4s} {'fn':>4s}   "
        f"{'contract P':>10s} {'contract R':>10s}",
    ]
    for line, contract in zip(det["line_level"], det["contract_level"], strict=True):
        out.append(
            f"{line['category']:28s} {line['precision']:7.2f} {line['recall']:7.2f} {line['tp']:4d} "
            f"{line['fp']:4d} {line['fn']:4d}   {contract['precision']:10.2f} {contract['recall']:10.2f}"
        )
    if det["icse2020_69_line_level"]:
        icse = det["icse2020_69_line_level"]
        out.append(
            f"ICSE-2020 69-contract subset, line level: recall {icse['recall']:.2f}, precision {icse['precision']:.2f}"
        )
    out.append(
        f"Function classifier, {cv['folds']} folds grouped by clone cluster, {cv['firms']} firms, seed {cv['seed']}:"
    )
    for name in ("central", "local_only", "rules_only"):
        m = cv[name]
        out.append(
            f"  {name:11s} AUPRC {m['auprc']:.3f}±{m['auprc_std']:.3f}  AUROC {m['auroc']:.3f}"
            f"±{m['auroc_std']:.3f}  F1 {m['f1']:.3f}±{m['f1_std']:.3f}"
        )
    return "\n".join(out)


def _federated_text(fed: dict[str, Any]) -> str:
    out = [
        f"Federated classifier (Flower FedAvg over {fed['settings']['n_firms']} audit firms, "
        f"{fed['settings']['n_folds']} folds grouped by clone cluster, {fed['seconds']:.0f} s); mean ± std over folds "
        "(local-only: over folds × firms):",
        f"  {'model':5s} {'scope':10s} {'AUPRC':>13s} {'AUROC':>13s} {'F1':>13s}",
    ]
    for kind, summary in fed["summary"].items():
        for scope in ("local", "federated", "central"):
            cells = [summary[f"{metric}_{scope}"] for metric in ("auprc", "auroc", "f1")]
            text = "  ".join(
                "—".rjust(13) if c["mean"] is None else f"{c['mean']:.3f}±{c['std']:.3f}".rjust(13) for c in cells
            )
            out.append(f"  {kind:5s} {scope:10s} {text}")
    return "\n".join(out)


@app.command()
def evaluate(
    data_dir: DataDirOpt = None,
    folds: Annotated[int, typer.Option("--folds", help="Grouped cross-validation folds.")] = 5,
    firms: Annotated[int, typer.Option("--firms", help="Simulated audit firms per training split.")] = 3,
    seed: SeedOpt = 0,
    hidden: HiddenOpt = 0,
    federated: Annotated[
        bool,
        typer.Option(
            "--federated/--no-federated",
            help="Also train the classifier federated across the firms on Flower (one simulation start; ~1 min).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Detector precision/recall per category and classifier AUPRC/AUROC/F1 (central vs local-only, and
    federated with ``--federated``)."""
    curated = load_curated(_data_dir(data_dir))
    det = detector_summary(evaluate_detectors(curated))
    dataset = build_function_dataset(curated)
    cv = cv_summary(cross_validate(dataset, n_folds=folds, n_firms=firms, config=TrainConfig(hidden=hidden), seed=seed))
    cv["functions"] = len(dataset.y)
    cv["positive_functions"] = int(dataset.y.sum())
    cv["unattributed_annotated_lines"] = dataset.unattributed_lines
    payload: dict[str, Any] = {"detectors": det, "classifier": cv}
    text = _evaluate_text(det, cv)
    if federated:
        from fedrisk.contracts.federated import FederatedCVConfig, federated_cross_validate

        fed = federated_cross_validate(dataset, FederatedCVConfig(n_folds=folds, n_firms=firms, seed=seed))
        payload["federated_classifier"] = fed
        text += "\n" + _federated_text(fed)
    _emit(payload, as_json, text)


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="Where to write the model (.npz).")],
    data_dir: DataDirOpt = None,
    seed: SeedOpt = 0,
    hidden: HiddenOpt = 0,
) -> None:
    """Train the function risk model centrally on the whole curated set (for `contracts scan --model`)."""
    dataset = build_function_dataset(load_curated(_data_dir(data_dir)))
    config = TrainConfig(hidden=hidden)
    start = init_params(dataset.X.shape[1], hidden=hidden, rng=np.random.default_rng(seed))
    params, n = train_local(start, dataset.X, dataset.y, config=config)
    save_model(out, params, FEATURE_NAMES)
    typer.echo(f"trained on {n} functions of {dataset.n_contracts} contracts; saved to {out}")
