"""Contribution valuation: Shapley estimators, rewards, the contribution ledger and results section.

Pure estimators live in :mod:`fedrisk.contribution.analysis`; they value members through one injected
function ``utility(coalition: frozenset[str]) -> float``, memoised so no coalition is evaluated twice.
"""

from __future__ import annotations

from fedrisk.contribution.analysis import CachedUtility as CachedUtility
from fedrisk.contribution.analysis import ShapleyResult as ShapleyResult
from fedrisk.contribution.analysis import Utility as Utility
from fedrisk.contribution.analysis import exact_shapley as exact_shapley
from fedrisk.contribution.analysis import gtg_shapley as gtg_shapley
from fedrisk.contribution.analysis import leave_one_out as leave_one_out
from fedrisk.contribution.analysis import monte_carlo_shapley as monte_carlo_shapley
from fedrisk.contribution.ledger import ContributionLedger as ContributionLedger
from fedrisk.contribution.ledger import InMemoryContributionLedger as InMemoryContributionLedger
from fedrisk.contribution.ledger import LedgerEntry as LedgerEntry
from fedrisk.contribution.ledger import SqliteContributionLedger as SqliteContributionLedger
from fedrisk.contribution.ledger import create_ledger as create_ledger
from fedrisk.contribution.ledger import entries_for_round as entries_for_round
from fedrisk.contribution.rewards import Reward as Reward
from fedrisk.contribution.rewards import RewardRules as RewardRules
from fedrisk.contribution.rewards import split_rewards as split_rewards
from fedrisk.contribution.section import ContributionSection as ContributionSection
from fedrisk.contribution.section import MemberContribution as MemberContribution
from fedrisk.contribution.section import build_contribution_section as build_contribution_section
from fedrisk.contribution.section import parse_contribution_section as parse_contribution_section
from fedrisk.contribution.section import read_contribution_section as read_contribution_section

__all__ = [
    "CachedUtility",
    "ContributionLedger",
    "ContributionSection",
    "InMemoryContributionLedger",
    "LedgerEntry",
    "MemberContribution",
    "Reward",
    "RewardRules",
    "ShapleyResult",
    "SqliteContributionLedger",
    "Utility",
    "build_contribution_section",
    "create_ledger",
    "entries_for_round",
    "exact_shapley",
    "gtg_shapley",
    "leave_one_out",
    "monte_carlo_shapley",
    "parse_contribution_section",
    "read_contribution_section",
    "split_rewards",
]
