"""``fedrisk credit``: train the joint credit-scoring federation (lenders of very different sizes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, data_dir_option, print_json
from fedrisk.cli.fraud import ClipOpt, EpsilonOpt, PrivacyOpt, PrivacyRoundsOpt, print_privacy, privacy_option

app = typer.Typer(help="Joint credit scoring across lenders of very different sizes.", no_args_is_help=True)


@app.command()
def train(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory (credit_section.json, the dp ledger).")] = Path(
        "runs/credit"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer rounds and resamples.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 7,
    privacy: PrivacyOpt = "plain",
    epsilon: EpsilonOpt = 8.0,
    clip_norm: ClipOpt = 0.5,
    privacy_rounds: PrivacyRoundsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the credit section as JSON.")] = False,
) -> None:
    """Train and evaluate the credit federation (local vs federated vs centralised, per lender)."""
    from fedrisk.jobs.credit import run_credit_section

    mode = privacy_option(privacy, epsilon, clip_norm, privacy_rounds)
    section = run_credit_section(data_dir_option(data_dir), out, quick=quick, seed=seed, privacy=mode)
    out.mkdir(parents=True, exist_ok=True)
    (out / "credit_section.json").write_text(json.dumps(section, indent=1, default=str))
    if json_out:
        print_json(section)
        return
    for kind, s in section["summary"]["by_model"].items():
        pct = s["federated_pct_of_central"]
        console.print(f"{kind}: federated F1 {pct['f1']:.1f} % / AUPRC {pct['auprc']:.1f} % of centralised")
    print_privacy(section)
    console.print(f"section in {out / 'credit_section.json'}")
