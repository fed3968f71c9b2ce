"""Tier rights: what each member receives and contributes, given its tier and status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fedrisk.errors import GovernanceError
from fedrisk.governance.constitution import TierRights
from fedrisk.governance.store import MemberRecord


@dataclass(frozen=True, slots=True)
class Rights:
    """What a member receives from, and contributes to, a round."""

    receives_model: bool
    receives_index: bool
    contributes_updates: bool
    contributes_evaluations: bool

    @property
    def takes_part(self) -> bool:
        """Whether the member takes part in rounds at all."""
        return self.contributes_updates or self.contributes_evaluations


NO_RIGHTS = Rights(False, False, False, False)
"""Rights of a suspended or exited member."""

DEFAULT_TIERS: dict[str, TierRights] = {
    "lite": TierRights("lite", False, True, False, True),
    "full": TierRights("full", True, True, True, True),
}
"""The two tiers of the issue: lite members get the index, evaluate only; full members get everything."""


def rights(member: MemberRecord, tiers: Mapping[str, TierRights] = DEFAULT_TIERS) -> Rights:
    """Return ``member``'s rights under ``tiers`` (the constitution's ``[tiers]``).

    Active members and members serving their exit notice have their tier's rights; suspended and
    exited members have none.

    >>> from datetime import date
    >>> m = MemberRecord("gemini", "Gemini", "Gemini Trust", "k", "lite", "active", date(2024, 2, 7))
    >>> rights(m)
    Rights(receives_model=False, receives_index=True, contributes_updates=False, contributes_evaluations=True)
    """
    if member.status in ("suspended", "exited"):
        return NO_RIGHTS
    tier = tiers.get(member.tier)
    if tier is None:
        raise GovernanceError(
            f"member '{member.id}' is on unknown tier '{member.tier}': "
            f"use one of {', '.join(tiers)} or add the tier to the constitution"
        )
    return Rights(tier.receives_model, tier.receives_index, tier.contributes_updates, tier.contributes_evaluations)


__all__ = ["DEFAULT_TIERS", "NO_RIGHTS", "Rights", "rights"]
