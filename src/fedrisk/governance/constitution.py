"""The federation's constitution as frozen, typed objects.

A constitution is a TOML file (see ``examples/constitution.toml`` and ``docs/governance.md``).
:func:`fedrisk.governance.load_constitution` parses and validates it; this module only holds the
types, so that everything downstream (store, scheduler, membership) works on checked values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

MissedRoundPolicy = Literal["skip", "run-once"]
AggregationMode = Literal["plain", "secagg+", "he"]
PrivacyMode = Literal["none", "central-dp", "local-dp"]
BudgetPeriod = Literal["round", "month", "quarter", "year", "lifetime"]
SplitRule = Literal["equal", "contribution"]
PastContributions = Literal["retained", "anonymised", "removed"]

MISSED_ROUND_POLICIES: tuple[MissedRoundPolicy, ...] = ("skip", "run-once")
AGGREGATION_MODES: tuple[AggregationMode, ...] = ("plain", "secagg+", "he")
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("none", "central-dp", "local-dp")
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("round", "month", "quarter", "year", "lifetime")
SPLIT_RULES: tuple[SplitRule, ...] = ("equal", "contribution")
PAST_CONTRIBUTIONS: tuple[PastContributions, ...] = ("retained", "anonymised", "removed")


@dataclass(frozen=True, slots=True)
class ConstitutionIssue:
    """One problem found in a constitution.

    Attributes
    ----------
    key:
        Dotted path of the offending key, e.g. ``"quorum.min_members"`` or ``"members[2].id"``.
    message:
        What is wrong, with the value found.
    fix:
        What to change to make it valid.
    """

    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message} (fix: {self.fix})"


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A founding member as written in the constitution."""

    id: str
    display_name: str
    organisation: str
    public_key: str
    tier: str
    joined: date


@dataclass(frozen=True, slots=True)
class Schedule:
    """When rounds run: a cron expression read in an IANA time zone."""

    cron: str
    timezone: str
    missed_round_policy: MissedRoundPolicy = "skip"
    round_timeout_minutes: int = 120


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One federated learning task and its model settings."""

    name: str
    model: str
    local_epochs: int = 1
    learning_rate: float = 0.01
    batch_size: int = 64


@dataclass(frozen=True, slots=True)
class PrivacyRules:
    """Differential-privacy settings and each member's ε budget per period."""

    mode: PrivacyMode
    epsilon_budget: float
    epsilon_per_round: float
    delta: float
    budget_period: BudgetPeriod = "year"


@dataclass(frozen=True, slots=True)
class QuorumRules:
    """Minimum participation for a round to be committed."""

    min_members: int
    min_cohort: int = 3


@dataclass(frozen=True, slots=True)
class RewardRules:
    """How each round's reward pool is split.

    ``floor`` and ``cap`` are fractions of the round's pool per participating member; ``premium``
    multiplies a member's weight by tier before the split.
    """

    pool_per_round: float
    currency: str
    split_rule: SplitRule
    floor: float
    cap: float
    premium: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TierRights:
    """What a tier's members receive and contribute."""

    name: str
    receives_model: bool
    receives_index: bool
    contributes_updates: bool
    contributes_evaluations: bool


@dataclass(frozen=True, slots=True)
class PromotionRule:
    """Promotion from one tier to another after sustained contribution.

    A member is eligible when it has at least ``over_rounds`` committed rounds in which it took part
    and its contribution score was at least ``contribution_threshold`` in each of the last
    ``over_rounds`` of them.
    """

    from_tier: str
    to_tier: str
    contribution_threshold: float
    over_rounds: int
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class ExitTerms:
    """What happens when a member leaves."""

    notice_rounds: int
    model_access_rounds_after_exit: int
    past_contributions: PastContributions


@dataclass(frozen=True, slots=True)
class AmendmentRules:
    """How the constitution itself is changed."""

    supermajority: float
    notice_days: int


@dataclass(frozen=True, slots=True)
class Constitution:
    """A validated constitution. Build it with :func:`fedrisk.governance.load_constitution`."""

    name: str
    version: int
    members: tuple[MemberSpec, ...]
    schedule: Schedule
    tasks: tuple[TaskSpec, ...]
    privacy: PrivacyRules
    aggregation_mode: AggregationMode
    quorum: QuorumRules
    rewards: RewardRules
    tiers: dict[str, TierRights]
    join_tier: str
    promotion: PromotionRule
    exit: ExitTerms
    amendments: AmendmentRules

    def member(self, member_id: str) -> MemberSpec:
        """Return the founding member ``member_id``; raise ``KeyError`` when absent."""
        for spec in self.members:
            if spec.id == member_id:
                return spec
        raise KeyError(member_id)


__all__ = [
    "AGGREGATION_MODES",
    "BUDGET_PERIODS",
    "MISSED_ROUND_POLICIES",
    "PAST_CONTRIBUTIONS",
    "PRIVACY_MODES",
    "SPLIT_RULES",
    "AggregationMode",
    "AmendmentRules",
    "BudgetPeriod",
    "Constitution",
    "ConstitutionIssue",
    "ExitTerms",
    "MemberSpec",
    "MissedRoundPolicy",
    "PastContributions",
    "PrivacyMode",
    "PrivacyRules",
    "PromotionRule",
    "QuorumRules",
    "RewardRules",
    "Schedule",
    "SplitRule",
    "TaskSpec",
    "TierRights",
]
