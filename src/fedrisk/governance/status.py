"""A JSON-ready snapshot of the federation's state, read from the store (``fedrisk status``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime

from fedrisk.governance.constitution import Constitution
from fedrisk.governance.rights import DEFAULT_TIERS, rights
from fedrisk.governance.schedule import budget_period, next_fire
from fedrisk.governance.store import CoordinatorStore, utc


def federation_status(
    store: CoordinatorStore, constitution: Constitution | None, *, now: datetime, last_rounds: int = 10
) -> dict[str, object]:
    """Return members (tier, status, rights, ε spent, rewards), recent rounds and round counts.

    With a constitution, budgets are shown for the current budget period and the next fire time
    is included; without one, rights use the default lite/full tiers and ε is summed over all time.
    """
    tiers = constitution.tiers if constitution else DEFAULT_TIERS
    rounds = store.list_rounds()
    next_id = max((r.round_id for r in rounds), default=0) + 1
    period = None
    if constitution is not None:
        p = constitution.privacy
        period = budget_period(now, p.budget_period, constitution.schedule.timezone, round_id=next_id)
    rewards: dict[str, float] = defaultdict(float)
    for entry in store.reward_entries():
        rewards[entry.member_id] += entry.amount
    members = []
    for m in store.list_members():
        spent = (
            store.privacy_spent(m.id, period)
            if period is not None
            else sum(e.epsilon for e in store.privacy_entries(m.id))
        )
        members.append(
            {
                **asdict(m),
                "joined": m.joined.isoformat(),
                "rights": asdict(rights(m, tiers)) if m.tier in tiers else None,
                "epsilon_spent": spent,
                "epsilon_budget": constitution.privacy.epsilon_budget if constitution else None,
                "rewards_total": rewards.get(m.id, 0.0),
            }
        )
    counts: dict[str, int] = defaultdict(int)
    for r in rounds:
        counts[r.state] += 1
    recent = [
        {
            **asdict(r),
            "scheduled_for": r.scheduled_for.isoformat(),
            "opened_at": r.opened_at.isoformat(),
            "updated_at": r.updated_at.isoformat(),
            "participants": list(r.participants),
        }
        for r in rounds[-last_rounds:]
    ]
    out: dict[str, object] = {
        "federation": constitution.name if constitution else None,
        "now": utc(now).isoformat(),
        "budget_period": period,
        "members": members,
        "round_counts": dict(counts),
        "rounds": recent,
    }
    if constitution is not None:
        out["next_round_at"] = next_fire(constitution.schedule, now).isoformat()
    return out


__all__ = ["federation_status"]
