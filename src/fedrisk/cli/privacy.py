"""`fedrisk privacy` commands: ε for a DP configuration, noise calibration, ledger spend."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fedrisk.privacy.accounting.analysis import calibrate_noise, epsilon
from fedrisk.privacy.ledger import open_ledger

app = typer.Typer(
    help="Differential-privacy accounting: ε, noise calibration, the privacy ledger.", no_args_is_help=True
)

SampleRateOpt = Annotated[
    float, typer.Option("--sample-rate", "-q", help="Poisson sampling rate q in (0, 1] (members per round).")
]
RoundsOpt = Annotated[int, typer.Option("--rounds", "-T", help="Number of rounds (compositions) T.")]
DeltaOpt = Annotated[float, typer.Option("--delta", help="Target δ in (0, 1).")]
AccountantOpt = Annotated[str, typer.Option("--accountant", help="pld (tight, reported) or rdp (cross-check).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    typer.echo(json.dumps(payload, indent=2) if as_json else text)


@app.command(name="epsilon")
def epsilon_cmd(
    noise_multiplier: Annotated[
        float, typer.Option("--noise-multiplier", "-z", help="Noise std / clip norm (z >= 0).")
    ],
    sample_rate: SampleRateOpt,
    rounds: RoundsOpt,
    delta: DeltaOpt,
    accountant: AccountantOpt = "pld",
    as_json: JsonOpt = False,
) -> None:
    """ε spent by T rounds of the subsampled Gaussian mechanism."""
    eps = epsilon(
        noise_multiplier=noise_multiplier,
        sample_rate=sample_rate,
        rounds=rounds,
        delta=delta,
        accountant=accountant,
    )
    payload = {
        "epsilon": eps,
        "noise_multiplier": noise_multiplier,
        "sample_rate": sample_rate,
        "rounds": rounds,
        "delta": delta,
        "accountant": accountant,
    }
    text = f"ε = {eps:.4f}  (z={noise_multiplier:g}, q={sample_rate:g}, T={rounds}, δ={delta:g}, {accountant})"
    _emit(payload, as_json, text)


@app.command()
def calibrate(
    target_epsilon: Annotated[float, typer.Option("--target-epsilon", "-e", help="ε to reach (> 0).")],
    sample_rate: SampleRateOpt,
    rounds: RoundsOpt,
    delta: DeltaOpt,
    accountant: AccountantOpt = "pld",
    as_json: JsonOpt = False,
) -> None:
    """Smallest noise multiplier whose ε after T rounds is at most the target."""
    z = calibrate_noise(
        target_epsilon=target_epsilon,
        sample_rate=sample_rate,
        rounds=rounds,
        delta=delta,
        accountant=accountant,
    )
    eps = epsilon(noise_multiplier=z, sample_rate=sample_rate, rounds=rounds, delta=delta, accountant=accountant)
    payload = {
        "noise_multiplier": z,
        "epsilon": eps,
        "target_epsilon": target_epsilon,
        "sample_rate": sample_rate,
        "rounds": rounds,
        "delta": delta,
        "accountant": accountant,
    }
    text = (
        f"noise multiplier z = {z:.4f}  (ε = {eps:.4f} ≤ {target_epsilon:g} with q={sample_rate:g}, "
        f"T={rounds}, δ={delta:g}, {accountant})"
    )
    _emit(payload, as_json, text)


@app.command()
def ledger(
    path: Annotated[Path, typer.Argument(help="Privacy ledger file (SQLite).")],
    period: Annotated[str | None, typer.Option("--period", help="Only this budget period.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Spent ε per member (per level and period) versus its budget."""
    book = open_ledger(path, must_exist=True)
    rows = book.summary(period=period)
    if as_json:
        payload = {
            "ledger": str(path),
            "accountant": book.accountant,
            "budget": book.policy.to_config(),
            "members": [asdict(r) | {"fraction_used": r.fraction_used} for r in rows],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"privacy ledger {path} ({book.accountant.upper()} ε)")
    for column in ("member", "level", "period", "rounds", "ε spent", "ε max", "δ", "used"):
        table.add_column(column, justify="right" if column.startswith(("ε", "δ", "r", "u")) else "left")
    for r in rows:
        table.add_row(
            r.member,
            r.level,
            r.period,
            str(r.rounds),
            f"{r.epsilon_spent:.4f}",
            f"{r.epsilon_max:g}",
            f"{r.delta:g}",
            f"{100 * r.fraction_used:.1f} %",
        )
    if not rows:
        typer.echo(f"{path}: no rounds recorded")
        return
    Console(width=120).print(table)
