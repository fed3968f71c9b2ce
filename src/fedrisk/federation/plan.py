"""What a federated run does, as plain records that travel in Flower ConfigRecords.

A :class:`FederationPlan` is a list of :class:`Job` s run one after the other by the coordinator (ServerApp) over
the same connected member nodes, so one start of the simulation engine serves many experiments (the main model,
FedProx, the onboarding curve). Everything a member needs to act is in the job's config: no second code path
between the simulation engine and the deployment engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from fedrisk.errors import MIN_COHORT, ConfigError
from fedrisk.features.panel import Split

if TYPE_CHECKING:
    from fedrisk.federation.record_dp import RecordDP

StrategyName = Literal["fedavg", "fedprox"]
AggregationName = Literal["plain", "he"]
"""How updates reach the coordinator: in clear, or CKKS-encrypted (``fedrisk.federation.he_aggregation``)."""


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Local training settings sent to members each round."""

    rounds: int = 12
    local_steps: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    proximal_mu: float = 0.0
    window: int = 24
    hidden: int = 32
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("rounds", "local_steps", "batch_size", "window", "hidden"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.proximal_mu < 0:
            raise ConfigError(f"proximal_mu must be >= 0, got {self.proximal_mu}")


@dataclass(frozen=True, slots=True)
class Job:
    """One federated training: a cohort, a strategy, and optional history limits per member."""

    name: str
    cohort: tuple[str, ...]
    strategy: StrategyName = "fedavg"
    settings: TrainSettings = field(default_factory=TrainSettings)
    months: tuple[tuple[str, float], ...] = ()
    """Members restricted to their last k months of training history (onboarding)."""
    init_from: str | None = None
    """Start from the chosen model of an earlier job (a member joining a running federation)."""
    select_by_validation: bool = True
    """Evaluate every round on members' validation data and keep the best round; else keep the last round."""
    drill_drop: tuple[str, ...] = ()
    """Fault drill: these members fail their training from ``drill_from_round`` on (rehearses dropouts)."""
    drill_from_round: int = 1
    aggregation: AggregationName = "plain"
    """``"he"``: members send CKKS-encrypted weighted updates; the coordinator adds ciphertexts only."""
    record_dp: RecordDP | None = None
    """Record-level DP-SGD inside every member (``dp-level = "record"``, :mod:`fedrisk.federation.record_dp`)."""

    def __post_init__(self) -> None:
        if self.aggregation not in ("plain", "he"):
            raise ConfigError(f"job '{self.name}': unknown aggregation {self.aggregation!r} (plain | he)")
        if len(set(self.cohort)) < MIN_COHORT:
            raise ConfigError(
                f"job '{self.name}' has {len(set(self.cohort))} members; a federation needs at least {MIN_COHORT} "
                "so that no aggregate reveals one member's update."
            )
        if self.strategy not in ("fedavg", "fedprox"):
            raise ConfigError(f"job '{self.name}': unknown strategy {self.strategy!r} (fedavg | fedprox)")

    def months_for(self, member: str) -> float | None:
        """History limit of a member in this job, if any."""
        return dict(self.months).get(member)

    def with_settings(self, **changes: object) -> Job:
        """A copy with some settings changed."""
        return replace(self, settings=replace(self.settings, **changes))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FederationPlan:
    """The members, the data-dir hint for simulation, the split and the jobs."""

    members: tuple[str, ...]
    jobs: tuple[Job, ...]
    split: Split = field(default_factory=Split)
    sim_data_dir: str = ""
    """Only for the simulation engine; a deployed member node reads its own ``data-dir`` node config."""
    outbound_dir: str = ""
    """Where simulated members keep their outbound logs (a deployed node keeps its own); empty: none."""
    he_keys_dir: str = ""
    """``aggregation = "he"`` jobs: the key ceremony's directory (``fedrisk he keygen --scheme ckks``); the
    coordinator reads ``public.json`` only, each simulated member its own ``members/<id>.key.json``."""
    he_clip_norm: float = 0.0
    """``aggregation = "he"``: members clip their update to this L2 norm before encrypting (0: no clipping)."""

    def __post_init__(self) -> None:
        if any(j.aggregation == "he" for j in self.jobs) and not self.he_keys_dir:
            raise ConfigError("a job with aggregation 'he' needs he_keys_dir (run `fedrisk he keygen --scheme ckks`)")
        if self.he_clip_norm < 0:
            raise ConfigError(f"he_clip_norm must be >= 0, got {self.he_clip_norm}")
        unknown = {m for job in self.jobs for m in job.cohort} - set(self.members)
        if unknown:
            raise ConfigError(f"jobs name members not in the federation: {sorted(unknown)}")
        names = [j.name for j in self.jobs]
        if len(names) != len(set(names)):
            raise ConfigError(f"job names must be unique, got {names}")
        for i, job in enumerate(self.jobs):
            if job.init_from is not None and job.init_from not in names[:i]:
                raise ConfigError(f"job '{job.name}' starts from '{job.init_from}', which is not an earlier job")


def job_config(plan: FederationPlan, job: Job) -> dict[str, str | int | float | bool | list[str] | list[float]]:
    """The flat config a member receives for a job (ConfigRecord-compatible values only)."""
    s = job.settings
    limited = [m for m, _ in job.months]
    return {
        "job": job.name,
        "members": list(plan.members),
        "sim-data-dir": plan.sim_data_dir,
        "outbound-dir": plan.outbound_dir,
        "privacy-mode": "plain",
        "aggregation": job.aggregation,
        "he-keys-dir": plan.he_keys_dir,
        "he-clip-norm": plan.he_clip_norm,
        "train-start": plan.split.train_start.isoformat(),
        "val-start": plan.split.val_start.isoformat(),
        "test-start": plan.split.test_start.isoformat(),
        "test-end": plan.split.test_end.isoformat(),
        "horizon": plan.split.horizon,
        "local-steps": s.local_steps,
        "batch-size": s.batch_size,
        "lr": s.lr,
        "weight-decay": s.weight_decay,
        "proximal-mu": s.proximal_mu,
        "window": s.window,
        "hidden": s.hidden,
        "seed": s.seed,
        "limited-members": limited,
        "limited-months": [float(k) for _, k in job.months],
        "drill-drop": list(job.drill_drop),
        "drill-from-round": job.drill_from_round,
        **(job.record_dp.to_config() if job.record_dp is not None else {}),
    }
