"""``fedrisk fraud``: train the cross-exchange fraud federation, score accounts with a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fedrisk.cli._common import console, data_dir_option, print_json

if TYPE_CHECKING:
    from fedrisk.jobs.tabular import TabularPrivacy

app = typer.Typer(help="Cross-exchange fraud federation: train and score.", no_args_is_help=True)

PrivacyOpt = Annotated[
    str,
    typer.Option(
        "--privacy",
        help="Privacy mode of the MLP: plain | secagg (Flower SecAgg+) | dp (member-level DP-FedAvg under SecAgg+, "
        "ε in the privacy ledger). Trees always run plain.",
    ),
]
EpsilonOpt = Annotated[float, typer.Option("--epsilon", help="dp: target ε per member (also the ledger's budget).")]
ClipOpt = Annotated[float, typer.Option("--clip-norm", help="dp: L2 clip norm of each member's update.")]
PrivacyRoundsOpt = Annotated[
    int | None, typer.Option("--privacy-rounds", help="Rounds of the secure job (default: the MLP's rounds).")
]


def privacy_option(mode: str, epsilon: float, clip_norm: float, rounds: int | None) -> TabularPrivacy:
    """The privacy settings of ``--privacy/--epsilon/--clip-norm/--privacy-rounds`` (a bad value is a ConfigError)."""
    from fedrisk.jobs.tabular import TabularPrivacy

    return TabularPrivacy(mode=mode, target_epsilon=epsilon, clip_norm=clip_norm, rounds=rounds)  # type: ignore[arg-type]


def print_privacy(section: dict[str, Any]) -> None:
    """One line on the privacy block of a fraud or credit section."""
    p = section["privacy"]
    if p["mode"] == "plain":
        return
    pct = p["private_pct_of_plain_same_rounds"]
    eps = p["epsilon_spent_max"]
    console.print(
        f"MLP under {p['mode']}: F1 {pct['f1']:.1f} % / AUPRC {pct['auprc']:.1f} % of plain FedAvg with the same "
        f"rounds; ε spent (max over members) {'-' if eps is None else f'{eps:.3f}'}; round time "
        f"{p['cost']['round_time_ratio']}x plain"
    )


@app.command()
def train(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else FEDRISK_DATA_DIR).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory; the model goes to OUT/fraud/.")] = Path(
        "runs/fraud"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer rounds and resamples.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 7,
    privacy: PrivacyOpt = "plain",
    epsilon: EpsilonOpt = 8.0,
    clip_norm: ClipOpt = 0.5,
    privacy_rounds: PrivacyRoundsOpt = None,
    indicator: Annotated[
        bool, typer.Option("--indicator/--no-indicator", help="Also federate with the missingness indicator.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the fraud section as JSON.")] = False,
) -> None:
    """Train and evaluate the fraud federation (local vs federated vs centralised); save the model."""
    from dataclasses import replace

    from fedrisk.jobs.fraud import FraudConfig, quick_fraud_config, run_fraud_section

    mode = privacy_option(privacy, epsilon, clip_norm, privacy_rounds)
    config = replace(quick_fraud_config(seed) if quick else FraudConfig(seed=seed), indicator_table=indicator)
    section = run_fraud_section(data_dir_option(data_dir), out, config=config, privacy=mode)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fraud_section.json").write_text(json.dumps(section, indent=1, default=str))
    if json_out:
        print_json(section)
        return
    for kind, s in section["summary"]["by_model"].items():
        pct = s["federated_pct_of_central"]
        console.print(f"{kind}: federated F1 {pct['f1']:.1f} % / AUPRC {pct['auprc']:.1f} % of centralised")
    print_privacy(section)
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
