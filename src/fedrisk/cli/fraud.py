"""``fedrisk fraud``: train the cross-exchange fraud federation, score accounts with a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, data_dir_option, print_json

app = typer.Typer(help="Cross-exchange fraud federation: train and score.", no_args_is_help=True)


@app.command()
def train(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory; the model goes to OUT/fraud/.")] = Path(
        "runs/fraud"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer rounds and resamples.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 7,
    json_out: Annotated[bool, typer.Option("--json", help="Print the fraud section as JSON.")] = False,
) -> None:
    """Train and evaluate the fraud federation (local vs federated vs centralised); save the model."""
    from fedrisk.jobs.fraud import run_fraud_section

    section = run_fraud_section(data_dir_option(data_dir), out, quick=quick, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fraud_section.json").write_text(json.dumps(section, indent=1, default=str))
    if json_out:
        print_json(section)
        return
    for kind, s in section["summary"]["by_model"].items():
        pct = s["federated_pct_of_central"]
        console.print(f"{kind}: federated F1 {pct['f1']:.1f} % / AUPRC {pct['auprc']:.1f} % of centralised")
    console.print(f"model saved in {out / 'fraud'}; section in {out / 'fraud_section.json'}")


@app.command()
def score(
    model: Annotated[Path, typer.Option("--model", help="Run directory holding fraud/ (or the fraud/ folder).")],
    input_csv: Annotated[Path, typer.Option("--input", help="Accounts CSV in the fraud-accounts format.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write (Address, score, flagged).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Score every account of a CSV with a saved fraud model; write Address, score, flagged."""
    from fedrisk.jobs.fraud import score_csv

    summary = score_csv(model, input_csv, out)
    if json_out:
        print_json(summary)
    else:
        console.print(f"scored {summary['accounts']} accounts, {summary['flagged']} flagged; wrote {out}")
