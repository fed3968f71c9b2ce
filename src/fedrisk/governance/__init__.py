"""fedrisk.governance: constitution, schedule, membership and the coordinator's state.

See ``docs/governance.md``. The real federated round is
:class:`fedrisk.governance.stress_runner.StressRoundRunner` (not re-exported here: it imports Flower and torch,
which the lightweight parts of this package do not need); :func:`builtin_runner` is a synthetic stand-in for tests.
"""

from __future__ import annotations

from fedrisk.governance.constitution import Constitution as Constitution
from fedrisk.governance.constitution import ConstitutionIssue as ConstitutionIssue
from fedrisk.governance.constitution import TierRights as TierRights
from fedrisk.governance.constitution_loader import check_constitution as check_constitution
from fedrisk.governance.constitution_loader import load_constitution as load_constitution
from fedrisk.governance.constitution_loader import parse_constitution as parse_constitution
from fedrisk.governance.coordinator import Coordinator as Coordinator
from fedrisk.governance.coordinator import Participant as Participant
from fedrisk.governance.coordinator import RecoveryReport as RecoveryReport
from fedrisk.governance.coordinator import RoundContext as RoundContext
from fedrisk.governance.coordinator import RoundOutcome as RoundOutcome
from fedrisk.governance.coordinator import RoundRunner as RoundRunner
from fedrisk.governance.coordinator import builtin_runner as builtin_runner
from fedrisk.governance.in_memory_store import InMemoryStore as InMemoryStore
from fedrisk.governance.membership import check_promotion as check_promotion
from fedrisk.governance.membership import exit_member as exit_member
from fedrisk.governance.membership import join_member as join_member
from fedrisk.governance.membership import promote_member as promote_member
from fedrisk.governance.membership import reinstate_member as reinstate_member
from fedrisk.governance.membership import suspend_member as suspend_member
from fedrisk.governance.rewards import split_rewards as split_rewards
from fedrisk.governance.rights import Rights as Rights
from fedrisk.governance.rights import rights as rights
from fedrisk.governance.schedule import next_fire as next_fire
from fedrisk.governance.sql_store import SqlStore as SqlStore
from fedrisk.governance.status import federation_status as federation_status
from fedrisk.governance.store import CoordinatorStore as CoordinatorStore
from fedrisk.governance.store import MemberRecord as MemberRecord
from fedrisk.governance.store import RoundRecord as RoundRecord
from fedrisk.governance.store_factory import create_store as create_store

__all__ = [
    "Constitution",
    "ConstitutionIssue",
    "Coordinator",
    "CoordinatorStore",
    "InMemoryStore",
    "MemberRecord",
    "Participant",
    "RecoveryReport",
    "Rights",
    "RoundContext",
    "RoundOutcome",
    "RoundRecord",
    "RoundRunner",
    "SqlStore",
    "TierRights",
    "builtin_runner",
    "check_constitution",
    "check_promotion",
    "create_store",
    "exit_member",
    "federation_status",
    "join_member",
    "load_constitution",
    "next_fire",
    "parse_constitution",
    "promote_member",
    "reinstate_member",
    "rights",
    "split_rewards",
    "suspend_member",
]
