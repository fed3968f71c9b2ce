"""Settings of the liquidity-stress job (the main part of ``fedrisk demo``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from fedrisk.errors import MIN_COHORT, ConfigError
from fedrisk.features.panel import Split
from fedrisk.federation.plan import TrainSettings

ALL_MEMBERS: tuple[str, ...] = ("binance", "bitfinex", "bitstamp", "bittrex", "coinbase", "gemini", "kraken")
QUICK_MEMBERS: tuple[str, ...] = ("bitfinex", "bitstamp", "coinbase", "kraken")


@dataclass(frozen=True, slots=True)
class StressConfig:
    """Everything that decides what the stress job computes. Seeds are fixed: runs are reproducible."""

    members: tuple[str, ...] = ALL_MEMBERS
    split: Split = field(default_factory=Split)
    federated: TrainSettings = field(default_factory=lambda: TrainSettings(rounds=10, local_steps=30))
    fedprox_mu: float = 0.01
    loo_rounds: int = 3
    join_rounds: int = 1
    """A joiner gets the others' model on arrival and takes part in one more round (its k months move the shared
    model little: most of its gain is on arrival, which is what the k = 0 row measures)."""
    onboarding_months: tuple[float, ...] = (0.0, 1.0, 3.0, 6.0)
    local_max_steps: int = 300
    local_eval_every: int = 60
    central_max_steps: int = 2100
    """As many gradient steps as the federation takes in total (10 rounds x 30 local steps x 7 members)."""
    central_eval_every: int = 300
    finetune_steps: int = 40
    finetune_eval_every: int = 20
    finetune_lr: float = 3e-4
    onboarding_local_steps: int = 100
    n_boot: int = 200
    false_alarm_rate: float = 0.05
    seed: int = 7
    quick: bool = False

    def __post_init__(self) -> None:
        if len(self.members) < MIN_COHORT:
            raise ConfigError(f"the stress job needs at least {MIN_COHORT} members, got {list(self.members)}")
        if any(k < 0 for k in self.onboarding_months):
            raise ConfigError(f"onboarding months must be >= 0, got {self.onboarding_months}")
        if self.onboarding_months and len(self.members) - 1 < MIN_COHORT:
            raise ConfigError(
                f"the onboarding curve trains without each member in turn, which needs at least {MIN_COHORT + 1} "
                "members; add members or set onboarding_months=()"
            )

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (goes into results.json)."""
        out = asdict(self)
        out["split"] = self.split.as_dict()
        return out


def quick_config(seed: int = 7) -> StressConfig:
    """Every section on fewer members, hours and rounds: for tests and a first look (a few minutes)."""
    return StressConfig(
        members=QUICK_MEMBERS,
        split=Split(train_start=pd.Timestamp("2018-03-01", tz="UTC")),
        federated=TrainSettings(rounds=3, local_steps=15, seed=seed),
        loo_rounds=2,
        join_rounds=1,
        onboarding_months=(0.0, 1.0, 3.0),
        local_max_steps=60,
        local_eval_every=30,
        central_max_steps=120,
        central_eval_every=60,
        finetune_steps=20,
        finetune_eval_every=10,
        onboarding_local_steps=40,
        n_boot=50,
        seed=seed,
        quick=True,
    )
